"""The package's layers: each folder of ``finance`` has one job and imports only from the layers below it.

The order, lowest first, is ``LAYERS``. A module may import from its own layer and any layer below;
importing upwards is a leak. Only the app layer imports Streamlit, only the presentation and app
layers import Plotly, and only the store imports DuckDB. Imports inside functions count too: a
deferred import is still a dependency. Only the store writes SQL: no other module (nor the pages) holds
a statement or reaches for the store's DuckDB connection. The README's architecture section is this
folder tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "finance"

LAYERS = ("domain", "ingest", "store", "ltv", "metrics", "planning", "present", "demo", "app", "cli")
"""Lowest first: money, periods and rules; reading files; the database; LTV; the metric table;
budget planning; what people read; the demo company; the dashboard and the command line."""

ONLY_IN = {"streamlit": {"app"}, "plotly": {"present", "app"}, "duckdb": {"store"}}
"""Third-party packages that only some layers may import."""

SQL = re.compile(r"\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|ALTER|DROP|CHECKPOINT)\b")
"""How a string that is an SQL statement starts (keywords in capitals, as the store writes them)."""


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "domain"  # the package's own __init__: a docstring
    return "cli" if parts[1] == "__main__" else parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in it, with the line: ``from a.b import c`` gives a.b and a.b.c."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _sql(path: Path) -> list[str]:
    """Where ``path`` holds SQL: a string (or an f-string's opening text) that starts with a statement,
    or a use of a store's DuckDB connection (``.con``)."""
    found: list[str] = []
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    pieces = {id(part) for node in nodes if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in nodes:
        text = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else node
        if id(node) in pieces:
            continue  # seen as part of its f-string
        if isinstance(text, ast.Constant) and isinstance(text.value, str) and SQL.match(text.value):
            found.append(f"{where}:{node.lineno}: {text.value.split()[0]} ...")
        elif isinstance(node, ast.Attribute) and node.attr == "con":
            found.append(f"{where}:{node.lineno}: .con")
    return found


def _violations() -> list[str]:
    out: list[str] = []
    for path in _modules():
        module = _module(path)
        layer = _layer(module)
        for line, name in _imports(path):
            top = name.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if top in ONLY_IN and layer not in ONLY_IN[top]:
                out.append(f"{where}: the {layer} layer imports {top} (only {', '.join(sorted(ONLY_IN[top]))} may)")
            if top == "finance" and "." in name:
                target = _layer(name)
                if target in LAYERS and LAYERS.index(target) > LAYERS.index(layer):
                    out.append(f"{where}: {module} ({layer}) imports {name} ({target}), a higher layer")
    return out


def test_every_module_belongs_to_a_layer() -> None:
    strays = [str(p.relative_to(ROOT)) for p in _modules() if _layer(_module(p)) not in LAYERS]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert not strays, f"modules outside every layer: {strays}"
    assert folders <= set(LAYERS), f"folders that are not layers: {sorted(folders - set(LAYERS))}"


def test_no_layer_imports_a_higher_one_or_a_package_it_must_not() -> None:
    assert _violations() == []


def test_only_the_store_writes_sql() -> None:
    """The schema and every statement on it live in ``finance/store``; the rest asks the store."""
    outside = [*(p for p in _modules() if _layer(_module(p)) != "store"), ROOT / "app.py",
               *sorted((ROOT / "pages").glob("*.py"))]
    assert [hit for path in outside for hit in _sql(path)] == []


def test_the_sql_check_sees_a_statement(tmp_path: Path) -> None:
    """A statement in an f-string and a reach for the connection are found; prose is not SQL."""
    leaky = tmp_path / "leak.py"
    leaky.write_text('def f(store, t):\n    store.rows(f"SELECT * FROM {t}")\n    store.con.execute("x")\n'
                     '    return "Select a channel"\n')
    assert sorted(hit.split(": ", 1)[1] for hit in _sql(leaky)) == [".con", "SELECT ..."]


def test_no_import_cycles_between_modules() -> None:
    """Modules of one layer may import each other one way only (deferred imports count)."""
    names = {_module(p): p for p in _modules()}
    graph = {m: {n for _, n in _imports(p) if n in names and n != m} for m, p in names.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checker_sees_a_leak(tmp_path: Path) -> None:
    """The walk finds an upward import even inside a function, and a forbidden package."""
    leaky = tmp_path / "leak.py"
    leaky.write_text("def f():\n    from finance.present import charts\n    import streamlit\n")
    found = [name for _, name in _imports(leaky)]
    assert "finance.present.charts" in found and "streamlit" in found
    assert LAYERS.index(_layer("finance.present.charts")) > LAYERS.index(_layer("finance.metrics.table"))


@pytest.mark.parametrize("layer", [name for name in LAYERS if name != "demo"])
def test_the_readme_architecture_is_the_folder_tree(layer: str) -> None:
    """The README's architecture section names every layer folder and every module in it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\s*[│├└─ ]*{layer}/", section, re.M), f"{layer}/ missing from the README's tree"
    for path in sorted((PACKAGE / layer).glob("*.py")):
        if path.name != "__init__.py":
            assert path.name in section, f"finance/{layer}/{path.name} missing from the README's tree"


@pytest.mark.parametrize("page", [*sorted(p.name for p in (ROOT / "pages").glob("*.py")), "../app.py"])
def test_pages_show_no_stray_text(page: str) -> None:
    """Streamlit draws a bare expression of a page script ("magic"): a string meant as a note would
    appear on screen. Only the module's docstring may be one."""
    tree = ast.parse((ROOT / "pages" / page).read_text(encoding="utf-8"))
    stray = [node.lineno for node in tree.body[1:]
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert stray == [], f"pages/{page}: bare strings on lines {stray} would be drawn on the page"
