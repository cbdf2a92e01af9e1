"""Kept so that code written against ``smspresto_pipeline.resource`` still runs: the module is now
``smspresto_pipeline.resources``, and every name of it is importable from here too."""

import warnings

from smspresto_pipeline.resources import *  # noqa: F403
from smspresto_pipeline.resources import __all__ as __all__

warnings.warn(
    "smspresto_pipeline.resource moved to smspresto_pipeline.resources; import from there",
    DeprecationWarning,
    stacklevel=2,
)
