"""Every figure is written by finance.present.formats: no other module keeps a money, ratio or
percentage rule of its own, so "3.04x" cannot be "3.0x" somewhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import ROOT

FORMATS = ROOT / "finance" / "present" / "formats.py"
SOURCES = sorted([*(ROOT / "finance").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"])

PERCENT = re.compile(r"\.\d*%$")
"""``{share:.1%}``: a percentage (formats.percent)."""
MONEY_LIKE = re.compile(r"^[+]?,\.\d+f$")
"""``{amount:,.2f}``: fixed decimals with thousands separators, the shape of money."""
RATIO_LIKE = re.compile(r"^\.\d+f$")
"""``{ratio:.2f}`` followed by ``x``: a ratio."""
D3_CURRENCY = re.compile(r"%\{[a-z]+:\$")
"""``%{y:$,.2f}``: Plotly's own dollar, blind to the database's currency (formats.d3_money)."""

ALLOWED: dict[str, set[str]] = {
    # Sentences written below the present layer, which they may not import (tests/test_layers.py):
    # the model's reasons and check, the chance wording and a plan's input errors quote a rounded
    # share or amount in words; no tile, chart, table or pack cell is written here.
    "finance/ltv/base.py": {".0%"},
    "finance/domain/assumptions.py": {".0%"},
    "finance/metrics/table.py": {".0%", ".1%", "+.1%"},
    "finance/planning/curves.py": {",.2f", ",.1f"},
    "finance/planning/plans.py": {",.0f", ".1f"},
}


def _spec(node: ast.FormattedValue) -> str:
    if node.format_spec is None:
        return ""
    assert isinstance(node.format_spec, ast.JoinedStr)
    return "".join(v.value for v in node.format_spec.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def own_formatting(path: Path) -> list[str]:
    """Where a module writes money, a ratio or a percentage by a rule of its own."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and D3_CURRENCY.search(node.value):
            found.append(f"{node.lineno}: d3 currency {node.value!r}")
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        for index, part in enumerate(parts):
            if not isinstance(part, ast.FormattedValue):
                continue
            spec = _spec(part)
            before = parts[index - 1] if index else None
            after = parts[index + 1] if index + 1 < len(parts) else None
            # "$" before a value is a dollar amount, unless it names an environment variable ("${ENV_DB}")
            if isinstance(before, ast.Constant) and str(before.value).endswith("$") \
                    and "ENV" not in ast.unparse(part.value):
                found.append(f"{part.lineno}: '$' written before a value")
            if PERCENT.search(spec):
                found.append(f"{part.lineno}: percentage {spec!r}")
            elif MONEY_LIKE.match(spec):
                found.append(f"{part.lineno}: fixed decimals {spec!r}")
            elif RATIO_LIKE.match(spec) and isinstance(after, ast.Constant) and str(after.value).startswith("x"):
                found.append(f"{part.lineno}: ratio {spec!r}")
    return found


def test_no_module_but_formats_writes_money_ratios_or_percentages() -> None:
    offenders = {}
    for path in SOURCES:
        if path == FORMATS:
            continue
        name = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED.get(name, set())
        found = [f for f in own_formatting(path) if f.rsplit(" ", 1)[-1].strip("'") not in allowed]
        if found:
            offenders[name] = found
    assert not offenders, offenders


def test_the_check_finds_each_kind_of_rule(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('a = f"${x:,.2f}"\nb = f"{r:.1f}x"\nc = f"{p:.0%}"\nd = "%{y:$,.2f}"\ne = f"{n}"\n')
    found = own_formatting(sample)
    assert sorted(f.split(":")[0] for f in found) == ["1", "1", "2", "3", "4"], found
