"""Opening an export: a workbook's sheet as CSV text (``workbook``), any other file as text (``csvfile``).

Either way the validator gets one ``CsvSource``: the cells as strings, numbered as the spreadsheet
numbers its rows. A workbook's source carries its sheets and the SHA-256 of the workbook's own
bytes, so importing the same workbook again is found unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from finance.domain.problems import Problem, problem
from finance.ingest.csvfile import CsvSource, first_rows, open_csv, open_regular
from finance.ingest.workbook import Unreadable, is_workbook, read_sheet

_WORKBOOK_PROBLEM = {"empty": "empty_file", "unknown_sheet": "unknown_sheet", "encrypted": "unreadable_workbook",
                     "unreadable": "unreadable_workbook"}


def open_export(path: Path, display_name: str | None = None,
                is_header: Callable[[list[str]], bool] | None = None, *, text: bool = False,
                encoding: str | None = None, sheet: str | None = None) -> CsvSource | list[Problem]:
    """Open an export for reading in blocks, or return the problems that make it unreadable.

    A workbook (by its name: ``workbook.WORKBOOK_SUFFIXES``) is read at ``sheet`` (None: its first
    visible sheet); any other file as text, in ``encoding`` (None: detected). See ``open_csv``.
    """
    name = display_name or path.name
    if not is_workbook(path):
        return open_csv(path, name, is_header, text=text, encoding=encoding)
    handle = open_regular(path)
    if isinstance(handle, Problem):
        return [handle]
    try:
        with handle:
            data = handle.read()
    except OSError as exc:
        return [problem("file_not_found", f"cannot read the file: {exc.strerror}")]
    read = read_sheet(data, sheet)
    if isinstance(read, Unreadable):
        return [problem(_WORKBOOK_PROBLEM[read.reason], read.message)]
    source = open_csv(path, name, is_header, text=True, data=read.csv)
    if isinstance(source, list):
        return source
    source.sha256, source.encoding, source.sheet, source.sheets = read.sha256, "", read.name, read.sheets
    return source


def preview(path: Path, display_name: str | None = None,
            is_header: Callable[[list[str]], bool] | None = None, rows: int = 20, *,
            encoding: str | None = None, sheet: str | None = None) -> tuple[CsvSource, pl.DataFrame] | list[Problem]:
    """The headers and first ``rows`` records of an export, reading only its opening block.

    For showing a file before it is checked: the whole file is read once, by ``prepare``.
    """
    return first_rows(lambda text: open_export(path, display_name, is_header, text=text, encoding=encoding,
                                               sheet=sheet), rows)
