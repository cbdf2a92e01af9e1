"""What the Dagster UI shows as descriptions: Markdown that renders, no reStructuredText.

The UI renders a description as Markdown. A resource's description is its class docstring,
shown with four leading spaces removed from each line: a fence indented further becomes an
indented code block that shows the fence itself, and Sphinx markup shows as typed.
"""

import re

import dagster as dg
import pytest

from smspresto_pipeline.ingest.assets import build_smspresto_assets
from smspresto_pipeline.ingest.schedules import build_ingest_schedule, build_snapshot_schedule
from smspresto_pipeline.resources import SMSPrestoResource, WarehouseResource

# Sphinx directives and roles, and reST's double-backtick literals: none renders in Markdown.
RST = re.compile(
    r"^\s*\.\. [\w-]+::|:(?:func|class|meth|mod|attr|data):`|(?<!`)``(?!`)", re.MULTILINE
)


def as_the_ui_shows(description: str) -> str:
    """The resource page's treatment (ResourceRoot.tsx): one 4-space indent removed per line."""
    return "\n".join(re.sub(r"^ {4}", "", line) for line in description.split("\n"))


def descriptions() -> dict[str, str]:
    archive, snapshot, views = build_smspresto_assets(start_date="2025-01-01")
    schedules = [build_ingest_schedule(asset=archive), build_snapshot_schedule(asset=snapshot)]
    found: dict[str, str] = {
        f"asset {asset.key.to_user_string()}": asset.descriptions_by_key[asset.key]
        for asset in (archive, snapshot, views)
    }
    for schedule in schedules:
        found[f"schedule {schedule.name}"] = schedule.description or ""
        found[f"job {schedule.job.name}"] = schedule.job.description or ""
    resource_classes: list[type[dg.ConfigurableResource]] = [  # type: ignore[type-arg]
        SMSPrestoResource,
        WarehouseResource,
    ]
    for cls in resource_classes:
        found[f"resource {cls.__name__}"] = as_the_ui_shows(cls.__doc__ or "")
    return found


@pytest.mark.parametrize(("name", "text"), sorted(descriptions().items()))
def test_descriptions_are_markdown(name: str, text: str) -> None:
    assert text.strip(), f"{name} has no description"
    assert not RST.search(text), f"{name} shows reStructuredText: {RST.search(text)}"
    for line in text.split("\n"):
        if "```" in line:
            assert line.startswith("```"), f"{name}: a fence the UI shows as text: {line!r}"


@pytest.mark.parametrize("cls", [SMSPrestoResource, WarehouseResource])
def test_resource_descriptions_keep_a_usage_block(cls: type) -> None:
    shown = as_the_ui_shows(cls.__doc__ or "")
    assert "\n```python\n" in shown
    assert shown.count("```") == 2
