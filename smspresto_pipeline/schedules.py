"""Kept so that code written against ``smspresto_pipeline.schedules`` still runs: the module is now
``smspresto_pipeline.ingest.schedules``, and every name of it is importable from here too."""

import warnings

from smspresto_pipeline.ingest.schedules import *  # noqa: F403
from smspresto_pipeline.ingest.schedules import __all__ as __all__

warnings.warn(
    "smspresto_pipeline.schedules moved to smspresto_pipeline.ingest.schedules; import from there",
    DeprecationWarning,
    stacklevel=2,
)
