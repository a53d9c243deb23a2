"""The docs name everything the code knows: columns, categories, problem codes, commands."""

from __future__ import annotations

from finance.cli.commands import build_parser
from finance.domain.problems import CODES
from finance.domain.schema import COST_CATEGORIES, FILE_KINDS

from .conftest import ROOT

DATA_FORMATS = (ROOT / "docs" / "data-formats.md").read_text(encoding="utf-8")


def test_every_column_of_every_kind_is_documented() -> None:
    for kind, contract in FILE_KINDS.items():
        assert f"## {kind}" in DATA_FORMATS
        for column in contract.columns:
            assert f"`{column.name}`" in DATA_FORMATS, (kind, column.name)


def test_every_cost_category_is_documented_with_its_label() -> None:
    for category in COST_CATEGORIES:
        assert f"| `{category.key}` | {category.label} |" in DATA_FORMATS


def test_every_problem_code_is_documented_with_its_severity() -> None:
    for code, (severity, _) in CODES.items():
        assert f"| `{code}` | {severity} |" in DATA_FORMATS, code


def test_every_import_option_is_documented() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for action in subparsers["import"]._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in DATA_FORMATS, flag
