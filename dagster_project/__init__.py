"""The deployable Dagster code location for SMS Presto: ``dagster dev -m dagster_project``.

``dg`` loads ``dagster_project.definitions``; here the same definitions are named
``code_location``, not ``defs``: ``dagster_project.defs`` is the ``defs/`` folder's package.
"""

from dagster_project.definitions import defs as code_location

__all__ = ["code_location"]
