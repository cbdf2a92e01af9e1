"""Dagster's conventions for the project's assets: group, kinds, tables, owners and tags.

Every asset the project defines is in group ``smspresto`` (unless a component's ``translation:``
moves it) with kinds ``smspresto`` and the warehouse's engine (``duckdb`` or ``postgres``: the UI
shows both as icons and filters on them). An asset that writes a table says which in the
metadata Dagster's catalog reads, ``dagster/table_name`` (``smspresto.<table>``, as every
statement names it on either engine) and ``dagster/column_schema`` (its columns with their
descriptions, from :mod:`smspresto_pipeline.storage.table_docs`), and in the tag
``smspresto/table``: ``dg list defs`` lists tags but no metadata, and the tag lets an asset
selection find the asset of a table (``tag:smspresto/table=smspresto.messages``).

:class:`AssetAttributes` gives a component the attributes ``owners:`` and ``tags:``, merged into
every asset it defines.

:func:`quiet_dagster_internal_warnings` stops two warnings Dagster 1.13 raises about parameters
our code never passes, which every load of a code location using the components printed, in every
process (the webserver, each run, ``dagster job launch``). A code location calls it where its
module is imported (``dagster_project/definitions.py``): Dagster loads the components with its
own warnings suppressed and restores the filters afterwards, so a filter set while they load
would be gone by the time Dagster copies the definitions.
"""

import warnings
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import dagster as dg

from smspresto_pipeline.storage.table_docs import TABLE_DOCS, qualified_name
from smspresto_pipeline.storage.urls import Engine

__all__ = [
    "GROUP_NAME",
    "KIND",
    "TABLE_TAG",
    "AssetAttributes",
    "asset_kinds",
    "quiet_dagster_internal_warnings",
    "table_metadata",
    "table_tags",
]

#: The group of every asset the project defines.
GROUP_NAME = "smspresto"
#: The kind every asset carries beside its engine's.
KIND = "smspresto"
#: The tag naming the table an asset writes.
TABLE_TAG = "smspresto/table"


def asset_kinds(engine: Engine) -> set[str]:
    """An asset's kinds on a warehouse of ``engine``: ``{"smspresto", engine}``."""
    return {KIND, engine}


def table_metadata(table: str) -> dict[str, Any]:
    """The definition metadata of an asset writing ``table`` (a table of schema ``smspresto``):
    its name and its columns with their descriptions.

    Raises:
        KeyError: ``table`` is not described in :data:`~smspresto_pipeline.storage.table_docs.
            TABLE_DOCS`.
    """
    doc = TABLE_DOCS[table]
    return {
        "dagster/table_name": qualified_name(table),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(column.name, column.type, description=column.description)
                for column in doc.columns
            ]
        ),
    }


def table_tags(table: str) -> dict[str, str]:
    """The tags of an asset writing ``table``: ``smspresto/table`` = ``smspresto.<table>``."""
    return {TABLE_TAG: qualified_name(table)}


class AssetAttributes(dg.Resolvable, dg.Model):
    """The attributes ``owners:`` and ``tags:`` of a component, for every asset it defines::

    owners: [team:marketing, ops@example.com]
    tags: {domain: messaging}
    """

    owners: Annotated[
        Sequence[str],
        dg.Resolver.default(
            description="Owners of every asset of this component: an email address or a team "
            "as team:<name> (the UI shows them and filters on them).",
            examples=[["team:marketing", "ops@example.com"]],
        ),
    ] = []
    tags: Annotated[
        Mapping[str, str],
        dg.Resolver.default(
            description="Tags added to every asset of this component (key: value; letters, "
            "digits, - _ . and / in keys).",
            examples=[{"domain": "messaging"}],
        ),
    ] = {}

    def with_asset_attributes(self, defs: dg.Definitions) -> dg.Definitions:
        """``defs`` with ``owners`` and ``tags`` merged into each of its assets."""
        if not self.owners and not self.tags:
            return defs
        return defs.map_asset_specs(
            func=lambda spec: spec.merge_attributes(owners=list(self.owners), tags=dict(self.tags))
        )


#: Dagster's own copies of our definitions, made with every attribute passed on: a sensor that
#: targets a job bound to resources later (``SensorDefinition.with_attributes``, passing its
#: ``owners=[]``) and a component's asset checks turned back into ``AssetChecksDefinition``
#: (passing their ``execution_type``). Each warns that a beta parameter was given, from Dagster's
#: own module: the filters name that module, so a user's own use of either parameter still warns.
_DAGSTER_INTERNAL_BETA_WARNINGS = (
    (
        r"Parameter `owners` of initializer `SensorDefinition\.__init__` is currently in beta",
        r"dagster\._core\.definitions\.sensor_definition",
    ),
    (
        r"Parameter `execution_type` of function `AssetsDefinition\.__init__` is currently in beta",
        r"dagster\._core\.definitions\.repository_definition\.repository_data",
    ),
)


def quiet_dagster_internal_warnings() -> None:
    """Ignore the beta warnings Dagster raises when it copies our definitions itself (above):
    only those messages, from those modules of Dagster."""
    for message, module in _DAGSTER_INTERNAL_BETA_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=dg.BetaWarning, module=module)
