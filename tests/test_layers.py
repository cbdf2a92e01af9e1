"""Imports flow one way (docs/architecture.md §1): errors, wording, timezones, accounts <- sms <-
api <- storage <- warehouse, sending <- resources <- ingest, campaigns, checks <- demo, cli;
nothing below ``resources`` knows Dagster; parts of one layer do not import each other
(``warehouse`` and ``sending`` stand side by side, as do ``ingest``, ``campaigns`` and
``checks``); only ``storage`` knows an engine (imports ``duckdb``); the simulator stays an
independent witness and imports nothing else of the library. The campaign engine (its decision
and its execution, and what they use) imports no Dagster: only the campaigns' Dagster face does.
No module of the library takes part in an import cycle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "smspresto_pipeline"

# A module may import from its own layer and the layers below it.
LAYERS = {
    "errors": 0,
    "wording": 0,
    "timezones": 0,
    "accounts": 0,
    "sms": 1,
    "api": 2,
    "storage": 3,
    "warehouse": 4,
    "sending": 4,
    "resources": 5,
    "resource": 5,
    "conventions": 5,
    "ingest": 6,
    "campaigns": 6,
    "checks": 6,
    "assets": 6,
    "schedules": 6,
    "alerts": 7,
    "demo": 7,
    "demo_tick": 7,
    "cli": 8,
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
# The campaign engine and the parts it uses: no Dagster (their Dagster face is definitions,
# component, reconcile_defs, breaker_defs, shared_defs, run_status).
CAMPAIGN_ENGINE = (
    "decision",
    "engine",
    "guards",
    "model",
    "prepare",
    "reconcile",
    "render",
    "send",
    "settle",
    "timing",
)


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
    beside = {module for module in imported if _part(module) in SIDE_BY_SIDE.get(part, set())}
    assert not beside, f"{path.relative_to(PACKAGE)} imports from its own layer: {beside}"
    if part in DAGSTER_FREE:
        assert not {m for m in imported if m.split(".")[0] == "dagster"}, "no Dagster below"


def test_the_layers_cover_the_package() -> None:
    parts = {part for part, _ in _modules()}
    assert parts - {"simulator"} <= set(LAYERS), parts - set(LAYERS)


def _engines(path: Path) -> set[str]:
    """The engines ``path`` imports: ``duckdb`` itself, or the storage's DuckDB engine."""
    return {
        m
        for m in _imports(path)
        if m.split(".")[0] == "duckdb" or m.startswith("smspresto_pipeline.storage.duckdb")
    }


@pytest.mark.parametrize(("part", "path"), _modules(), ids=lambda v: str(v))
def test_only_storage_imports_an_engine(part: str, path: Path) -> None:
    relative = path.relative_to(PACKAGE).as_posix()
    if part in {"storage", "simulator"}:
        return  # the simulator is no part of the library's layers: it has its own store
    engines = _engines(path)
    assert not engines, f"{relative} imports {engines}: go through smspresto_pipeline.storage"


@pytest.mark.parametrize("name", CAMPAIGN_ENGINE)
def test_the_campaign_engine_imports_no_dagster(name: str) -> None:
    imported = _imports(PACKAGE / "campaigns" / f"{name}.py")
    assert not {m for m in imported if m.split(".")[0] == "dagster"}, f"campaigns/{name}.py"
    faces = {
        "definitions",
        "component",
        "reconcile_defs",
        "breaker_defs",
        "shared_defs",
        "run_status",
    }
    assert not {m for m in imported if m.rsplit(".", 1)[-1] in faces}, f"campaigns/{name}.py"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _loaded_on_import(path: Path, known: set[str]) -> set[str]:
    """The library's modules that importing ``path`` imports at once: the imports of its body
    (``if TYPE_CHECKING:`` blocks and function bodies, which run later or never, left out),
    ``from package import module`` counted as importing that module."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            for block in ("body", "orelse", "finalbody"):
                visit(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found & known


def test_no_import_cycle() -> None:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: _loaded_on_import(path, set(paths)) - {name} for name, path in paths.items()}
    done: set[str] = set()

    def walk(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name) :], name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            walk(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        walk(name, [])


#: The alerts without their Dagster face (definitions.py): told and tested without Dagster.
ALERTS_ENGINE = ("model", "events", "ledger", "channels", "delivery", "breaker_view")


@pytest.mark.parametrize("name", ALERTS_ENGINE)
def test_the_alerts_import_no_dagster(name: str) -> None:
    imported = _imports(PACKAGE / "alerts" / f"{name}.py")
    assert not {m for m in imported if m.split(".")[0] == "dagster"}, f"alerts/{name}.py"
    assert not {m for m in imported if m.endswith(("definitions", "_defs"))}, f"alerts/{name}.py"
