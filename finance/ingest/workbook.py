"""A workbook's sheet (.xlsx, .xlsm, .xls, .xlsb, .ods) as CSV text: the same table of strings a CSV gives.

The sheet is read by calamine (python-calamine), a native reader of every spreadsheet format, in a
child process: calamine holds a sheet's whole used range, so a workbook whose cells lie far apart
(A1 and XFD1048576) would take more memory than any machine has, and a failed allocation there ends
the process. The child runs under a memory limit; if it dies the workbook is refused and the
dashboard goes on.

Each row of the sheet becomes one CSV record, from row 1, so the row numbers the validator gives are
the ones the spreadsheet shows, and a report title above the header, a blank row or a total line is
met exactly as in a CSV. Cells become text as ``cell_text`` says: formulas are their cached values,
a date its ISO day, a number its shortest decimal at Excel's 15 significant digits (never a float's
binary noise: 0.1 + 0.2 is 0.3).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
SIGNIFICANT_DIGITS = 15
"""A number cell is read to this many significant digits, Excel's own precision."""
CHILD_MEMORY = 4 << 30
"""The most memory (address space) the child reading a workbook may take."""
CHILD_SECONDS = 600
"""The longest a workbook may take to read."""
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
"""An encrypted .xlsx is an OLE container holding this stream (a legacy .xls holds a Workbook stream)."""
_CACHED = 2
"""Sheets kept read, by the workbook's SHA-256 and sheet (the Data page previews, then checks)."""


def is_workbook(path: Path) -> bool:
    """Whether the file is read as a workbook: by its name, as the person saving it chose."""
    return path.suffix.lower() in WORKBOOK_SUFFIXES


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook as CSV text, with the workbook's sheets and its bytes' SHA-256."""

    name: str
    sheets: list[str]
    """The workbook's sheets: the one read when none is named first, then the others in its order."""
    csv: bytes
    sha256: str


@dataclass(frozen=True)
class Unreadable:
    """Why a workbook cannot be read, in words: encrypted, damaged, no such sheet, an empty sheet."""

    reason: str
    """``unreadable``, ``encrypted``, ``unknown_sheet`` or ``empty``."""
    message: str
    sheets: list[str] = field(default_factory=list)


_cache: OrderedDict[tuple[str, str | None], Sheet] = OrderedDict()
_cache_lock = threading.Lock()


def read_sheet(data: bytes, sheet: str | None = None) -> Sheet | Unreadable:
    """The sheet named ``sheet`` (None: the first visible one) of the workbook ``data`` as CSV text."""
    digest = hashlib.sha256(data).hexdigest()
    with _cache_lock:
        if (known := _cache.get((digest, sheet))) is not None:
            _cache.move_to_end((digest, sheet))
            return known
    if data.startswith(_OLE_MAGIC) and _ENCRYPTED in data:
        return Unreadable("encrypted", "the workbook is encrypted (protected by a password); save a copy "
                          "without the password and import that")
    outcome = _read_in_child(data, sheet)
    if isinstance(outcome, Unreadable):
        return outcome
    read = Sheet(outcome[0], outcome[1], outcome[2], digest)
    with _cache_lock:
        _cache[(digest, sheet)] = read
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return read


def _read_in_child(data: bytes, sheet: str | None) -> tuple[str, list[str], bytes] | Unreadable:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "finance.ingest.workbook", json.dumps(sheet)], input=data,
                              capture_output=True, env=env, timeout=CHILD_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return Unreadable("unreadable", f"the workbook took longer than {CHILD_SECONDS // 60} minutes to read")
    head, _, table = done.stdout.partition(b"\n")
    try:
        told: dict[str, Any] = json.loads(head) if done.returncode == 0 else {}
    except ValueError:
        told = {}
    if not told and done.returncode < 0:  # ended by a signal: calamine aborts when an allocation fails
        return Unreadable("unreadable", "the workbook cannot be read: it needs more memory than a sheet may "
                          f"take ({CHILD_MEMORY >> 30} GB; a cell far beyond the others makes a sheet that "
                          "large), or it is damaged")
    if not told:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no reason given"]
        return Unreadable("unreadable", f"the workbook reader failed ({said[-1][:200]})")
    if "error" in told:
        return Unreadable(told["error"], told["message"], told.get("sheets", []))
    return told["sheet"], told["sheets"], table


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV export of it would hold, for the validator to read.

    Text is kept exactly; a number is written in plain digits to ``SIGNIFICANT_DIGITS`` significant
    digits (what Excel stores and shows: 1234567.8900000001 is 1234567.89), a whole number without a
    decimal point; a date as ``2025-03-31`` (with its time of day, if it has one, which the date
    reader drops); TRUE and FALSE as Excel writes them. A cell holding an error (#N/A) reads as blank.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def number_text(value: float) -> str:
    """A number cell in plain decimal digits, to ``SIGNIFICANT_DIGITS`` significant digits."""
    if not math.isfinite(value):
        return repr(value)
    if value.is_integer() and abs(value) < 10 ** SIGNIFICANT_DIGITS:
        return str(int(value))
    return format(Decimal(f"{value:.{SIGNIFICANT_DIGITS}g}").normalize(), "f")


def _child(sheet: str | None) -> int:
    """In the child: read the workbook from standard input, write the sheet to standard output.

    The first line is JSON (the sheet read and the workbook's sheets, or the error); the sheet's
    rows follow as CSV, from row 1, trailing blank rows left out.
    """
    import resource

    import python_calamine

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    out = sys.stdout.buffer

    def tell(**told: Any) -> int:
        out.write(json.dumps(told).encode() + b"\n")
        return 0

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(sys.stdin.buffer.read()))
    except python_calamine.PasswordError:
        return tell(error="encrypted", message="the workbook is encrypted (protected by a password); save a "
                    "copy without the password and import that")
    except Exception as exc:  # calamine's errors for a damaged file are of many kinds; each is this answer
        return tell(error="unreadable", message=f"the file cannot be read as a workbook ({_first_line(exc)}); "
                    "it may be damaged, or not a workbook")
    names = list(book.sheet_names)
    visible, worksheet = python_calamine.SheetVisibleEnum.Visible, python_calamine.SheetTypeEnum.WorkSheet
    shown = [m.name for m in book.sheets_metadata if m.visible == visible and m.typ == worksheet]
    if not names:
        return tell(error="empty", message="the workbook has no sheets")
    first = (shown or names)[0]
    sheet = first if sheet is None else sheet
    if sheet not in names:
        return tell(error="unknown_sheet", sheets=names, message=f"the workbook has no sheet named {sheet!r}; its "
                    f"sheets are {', '.join(repr(n) for n in names)}")
    names = [first, *(n for n in names if n != first)]
    try:
        rows = book.get_sheet_by_name(sheet).iter_rows()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        blank = 0
        seen = False
        for row in rows:
            cells = [cell_text(value) for value in row]
            if not any(cells):
                blank += 1
                continue
            writer.writerows([[""] * len(cells)] * blank)
            writer.writerow(cells)
            blank = 0
            seen = True
    except Exception as exc:
        return tell(error="unreadable", message=f"the sheet {sheet!r} cannot be read ({_first_line(exc)}); "
                    "the workbook may be damaged")
    if not seen:
        return tell(error="empty", message=f"the sheet {sheet!r} is empty", sheets=names)
    tell(sheet=sheet, sheets=names)
    out.write(text.getvalue().encode("utf-8"))
    return 0


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
