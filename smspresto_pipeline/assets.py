"""Kept so that code written against ``smspresto_pipeline.assets`` still runs: the module is now
``smspresto_pipeline.ingest.assets``, and every name of it is importable from here too."""

import warnings

from smspresto_pipeline.ingest.assets import *  # noqa: F403
from smspresto_pipeline.ingest.assets import __all__ as __all__

warnings.warn(
    "smspresto_pipeline.assets moved to smspresto_pipeline.ingest.assets; import from there",
    DeprecationWarning,
    stacklevel=2,
)
