"""What every command shares: the database argument, number checks, failure output, terminal-safe text."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from finance.domain import literal
from finance.domain.schema import check_band_edges
from finance.store.database import ENV_DB, default_db_path

EXIT_OK, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None,
                        help=f"DuckDB file (default: ${ENV_DB} or {default_db_path()})")


def bounded_number(low: float, high: float, *, kind: Callable[[str], Any] = float, above: bool = False,
            below: bool = False) -> Callable[[str], Any]:
    """An argument type: a finite number of ``kind`` from ``low`` to ``high`` (``above``/``below``: excluded),
    else a usage error that quotes the value and says what was expected."""
    expected = (f"{'a whole number' if kind is int else 'a number'} {'above' if above else 'from'} {low:g} "
                f"{'and below' if below else 'to'} {high:g}")

    def parse(text: str) -> Any:
        try:
            value = kind(text.strip())
        except (ValueError, ArithmeticError):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}") from None
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = math.nan
        inside = (number > low if above else number >= low) and (number < high if below else number <= high)
        if not (math.isfinite(number) and inside):  # NaN fails every comparison, so it lands here too
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
        return value

    return parse


def band_edges(text: str) -> tuple[float, ...]:
    """``--bands``: four finite, positive, increasing LTV:CAC edges."""
    try:
        return check_band_edges(tuple(float(part) for part in text.split(",")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}; expected four increasing numbers above 0, "
                                         "e.g. 1,2,3,5") from None


def fail(message: str, fmt: str, code: int) -> int:
    if fmt == "json":
        print(json.dumps({"status": "error", "message": message}))
    print(f"error: {message}", file=sys.stderr)
    return code


class TerminalText(io.TextIOBase):
    """A text stream for a person's terminal: every character from the data printed as text, never
    obeyed (escape sequences, right-to-left overrides and other control characters are written as
    their escapes; line breaks and tabs the command itself prints pass through)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write("\n".join("\t".join(literal.terminal(part) for part in line.split("\t"))
                                    for line in text.split("\n")))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def existing_db(args: argparse.Namespace) -> Path | None:
    """The database the command names (or the default), if the file exists: planning never creates one."""
    path = Path(args.db or default_db_path())
    return path if path.exists() else None
