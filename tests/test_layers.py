"""Imports flow one way (docs/architecture.md §1): errors <- sms <- api <- warehouse, sending
<- resources <- ingest, campaigns, checks <- demo, cli; nothing below ``resources`` knows
Dagster; parts of one layer do not import each other (``warehouse`` and ``sending`` stand side
by side, as do ``ingest``, ``campaigns`` and ``checks``); the simulator stays an independent
witness and imports nothing else of the library."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "smspresto_pipeline"

# A module may import from its own layer and the layers below it.
LAYERS = {
    "errors": 0,
    "wording": 0,
    "sms": 1,
    "api": 2,
    "warehouse": 3,
    "sending": 3,
    "resources": 4,
    "resource": 4,
    "ingest": 5,
    "campaigns": 5,
    "checks": 5,
    "assets": 5,
    "schedules": 5,
    "demo": 6,
    "cli": 7,
}
DAGSTER_FREE = {name for name, rank in LAYERS.items() if rank < LAYERS["resources"]}
# Parts that share a layer but must not import each other.
SIDE_BY_SIDE = {
    "warehouse": {"sending"},
    "sending": {"warehouse"},
    "ingest": {"campaigns"},
    "campaigns": {"ingest", "assets", "schedules"},
    "checks": {"ingest", "campaigns", "assets", "schedules"},
}

# What a part takes from a neighbour for now, by module. The sending state reaches its file
# through the warehouse's handle on it (store.Warehouse: transaction(), reading(), path, the
# lock waits, the schema), its SQL loader (queries) and its naive-UTC helper (timestamps):
# storage's work, not the history's (staging, writer, replace, stats, enrich). Issue 18's
# storage/ port takes them below both parts; then this empties.
BORROWED = {
    "sending": {
        "smspresto_pipeline.warehouse.queries",
        "smspresto_pipeline.warehouse.store",
        "smspresto_pipeline.warehouse.timestamps",
    },
}


def _part(module: str) -> str | None:
    """The top-level part of the library a module belongs to (``None`` outside it)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "smspresto_pipeline" and len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.name == "__init__.py" and len(relative.parts) == 1:
            continue  # the package's front door re-exports from every layer
        modules.append((relative.parts[0].removesuffix(".py"), path))
    return modules


@pytest.mark.parametrize(("part", "path"), _modules(), ids=lambda v: str(v))
def test_imports_flow_one_way(part: str, path: Path) -> None:
    imported = _imports(path)
    parts = {p for p in map(_part, imported) if p is not None and p != part}
    if part == "simulator":
        assert not parts, f"the simulator imports {parts}: it must stay an independent witness"
        return
    assert part in LAYERS, f"{part} has no layer: add it to LAYERS"
    above = {p for p in parts if p != "simulator" and LAYERS[p] > LAYERS[part]}
    assert not above, f"{path.relative_to(PACKAGE)} imports from a higher layer: {above}"
    beside = {
        module
        for module in imported - BORROWED.get(part, set())
        if _part(module) in SIDE_BY_SIDE.get(part, set())
    }
    assert not beside, f"{path.relative_to(PACKAGE)} imports from its own layer: {beside}"
    if part in DAGSTER_FREE:
        assert not {m for m in imported if m.split(".")[0] == "dagster"}, "no Dagster below"


def test_the_layers_cover_the_package() -> None:
    parts = {part for part, _ in _modules()}
    assert parts - {"simulator"} <= set(LAYERS), parts - set(LAYERS)
