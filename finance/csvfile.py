"""Read an export file into a table of strings: encoding, delimiter and structure.

Nothing is interpreted here beyond the CSV grammar: every cell stays the exact text the
file holds, so the validator can quote it back. Row numbers are the ones a spreadsheet
shows (header = row 1), counting records, so a quoted line break stays in its row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from finance.problems import Problem, problem

MAX_FIELD_CHARS = 1_000_000
PREAMBLE_LIMIT = 30
"""Report titles and date-range lines above the header are skipped up to this many records."""
DELIMITERS = (",", ";", "\t", "|")
_BINARY_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32)) - {26}


@dataclass
class RawTable:
    """The cells of a CSV file as strings, with what was learned reading it."""

    file_name: str
    sha256: str
    size: int
    encoding: str
    delimiter: str
    headers: list[str]
    cells: pl.DataFrame
    """One Utf8 column per header (named c0, c1, ...), plus ``row`` (spreadsheet row number)."""
    problems: list[Problem] = field(default_factory=list)
    ragged_rows: set[int] = field(default_factory=set)
    header_row: int = 1
    """The spreadsheet row of the header (below any report title lines)."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _decode(data: bytes) -> tuple[str, str] | Problem:
    """Decode the file's bytes: BOMs first, then UTF-8, then Windows-1252."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
    for bom, name in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(name), "utf-16"
            except UnicodeDecodeError:
                return problem("not_text", "the file starts like UTF-16 but does not decode")
    if b"\x00" in data[:65536]:
        # UTF-16 without a BOM still shows NUL in every other byte of ASCII text.
        for name in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            if text[:1000].isprintable() or "\n" in text[:4096]:
                if not any(ord(ch) in _BINARY_CONTROL for ch in text[:4096]):
                    return text, "utf-16"
        return problem("not_text", "the file contains NUL bytes: it looks binary, not CSV")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        return problem("not_text", f"byte 0x{data[exc.start]:02x} at offset {exc.start} is "
                       "not UTF-8, UTF-16 or Windows-1252 text")


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) in _BINARY_CONTROL)
    return controls > max(3, len(sample) // 1000)


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the opening lines into the most fields, consistently.

    Looking at several lines, not just the first, lets a report title or date-range line
    above the header (as ad platforms export) not decide the delimiter.
    """
    lines = [line for line in text[:65536].splitlines()[:30] if line.strip()]
    best, best_score = ",", 0
    for delim in DELIMITERS:
        try:
            counts = [len(fields) for fields in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        wide = sorted(c for c in counts if c > 1)
        score = wide[len(wide) // 2] * len(wide) if wide else 0
        if score > best_score:
            best, best_score = delim, score
    return best


def _find_header(text: str, delimiter: str, is_header: Callable[[list[str]], bool] | None) -> int:
    """Index of the header record: the first of the opening records the contract recognises."""
    if is_header is None:
        return 0
    reader = csv.reader(io.StringIO(text[:262144], newline=""), delimiter=delimiter)
    try:
        for index, record in enumerate(reader):
            if index >= PREAMBLE_LIMIT:
                break
            if is_header([cell.strip() for cell in record]):
                return index
    except csv.Error:
        pass
    return 0


def _read_cells(utf8: bytes, delimiter: str, names: list[str], header_index: int) -> pl.DataFrame:
    """The cells of every record below the header, as strings (names are positional)."""
    return pl.read_csv(
        io.BytesIO(utf8[3:] if utf8.startswith(codecs.BOM_UTF8) else utf8),
        has_header=False,
        skip_rows=header_index,
        separator=delimiter,
        infer_schema=False,
        empty_string_is_null=False,
        truncate_ragged_lines=True,
        schema={n: pl.String for n in names},
        raise_if_empty=False,
    ).slice(1)


def _plain_structure(utf8: bytes, delimiter: str, header_index: int) -> tuple[list[str], pl.Series] | None:
    """Header and field count per record, vectorised, for a file with no quote characters and
    no empty lines; None for any other file (the csv module's record-by-record path).

    Without quotes a record is exactly one line split at the delimiter, so counting delimiters
    per line gives what the csv module would. The same second look applies: an odd record whose
    cells are all blank is a blank row (0), and one whose extra fields are all blank has the
    header's width.
    """
    body = utf8[3:] if utf8.startswith(codecs.BOM_UTF8) else utf8
    try:
        # NUL never occurs in a text file (read_raw refuses control characters), so each line is one cell.
        lines = pl.read_csv(io.BytesIO(body), has_header=False, separator="\x00", quote_char=None,
                            schema={"line": pl.String}, infer_schema=False, empty_string_is_null=False,
                            raise_if_empty=False).get_column("line")
    except pl.exceptions.PolarsError:
        return None
    expected = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if (lines.len() != expected or lines.len() <= header_index
            or lines.str.contains(r'["\r]').any() or (lines.str.len_bytes() == 0).any()):
        return None  # quotes, a lone carriage return or an empty line: the csv module decides
    headers = [h.strip() for h in str(lines[header_index]).split(delimiter)]
    while headers and headers[-1] == "":
        headers.pop()
    width = len(headers)
    records = lines.slice(header_index + 1)
    fields = records.str.count_matches(delimiter, literal=True) + 1
    odd = (fields != width).arg_true()
    if odd.len():  # the second look, on the few odd records only
        line = pl.col("line")
        count = line.str.count_matches(delimiter, literal=True) + 1
        looked = records.gather(odd).to_frame().select(
            pl.when(line.str.replace_all(delimiter, "", literal=True).str.strip_chars() == "").then(0)
            .when((count > width)
                  & (line.str.split(delimiter).list.slice(width).list.join("").str.strip_chars() == "")).then(width)
            .otherwise(count).alias("w")).get_column("w")
        fields = fields.scatter(odd, looked)
    return headers, fields.cast(pl.Int64)


def _first_long_field(cells: pl.DataFrame) -> int | None:
    """Index of the first record with a field longer than MAX_FIELD_CHARS, or None."""
    longest = cells.select(pl.max_horizontal(pl.all().str.len_chars()).alias("n")).get_column("n")
    over = (longest > MAX_FIELD_CHARS).arg_true()
    return int(over[0]) if over.len() else None


def _cells_from_records(text: str, delimiter: str, names: list[str], header_index: int) -> pl.DataFrame:
    """The slow, always-agreeing path: cells from the csv module's own records."""
    width = len(names)
    columns: list[list[str]] = [[] for _ in names]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    for index, record in enumerate(reader):
        if index <= header_index:
            continue
        padded = (record + [""] * width)[:width]
        for column, cell in zip(columns, padded, strict=True):
            column.append(cell)
    return pl.DataFrame(dict(zip(names, columns, strict=True)), schema={n: pl.String for n in names})


def read_raw(path: Path, display_name: str | None = None,
             is_header: Callable[[list[str]], bool] | None = None) -> RawTable | list[Problem]:
    """Read ``path`` into strings, or return the problems that make it unreadable.

    ``is_header`` recognises the header record; records above it (a report title, a
    date range) are skipped with a warning. Without it the first record is the header.
    """
    name = display_name or path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [problem("file_not_found", f"cannot read the file: {exc.strerror}")]
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip(b" \t\r\n\x00") or data in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return [problem("empty_file", "the file is empty")]
    decoded = _decode(data)
    if isinstance(decoded, Problem):
        return [decoded]
    text, encoding = decoded
    if "\r" in text and "\n" not in text:
        text = text.replace("\r", "\n")  # classic Mac line endings
        data = text.encode("utf-8")
    if _looks_binary(text):
        return [problem("not_text", "the file holds control characters: it looks binary, not CSV")]
    if not text.strip():
        return [problem("empty_file", "the file holds only blank lines")]
    problems: list[Problem] = []
    if encoding == "cp1252":
        problems.append(problem("encoding", "the file is not UTF-8; it was read as Windows-1252"))
    delimiter = _sniff_delimiter(text)
    csv.field_size_limit(MAX_FIELD_CHARS + 1)
    header_index = _find_header(text, delimiter, is_header)
    if header_index:
        problems.append(problem("preamble_skipped", f"{header_index} line(s) above the header were "
                                "skipped (a report title or date range)", row=1, count=header_index))
    fast = _plain_structure(text.encode("utf-8") if encoding != "utf-8" else data, delimiter, header_index)
    if fast is not None:
        if not fast[0]:
            return [problem("empty_file", "the header row is blank")]
        return _finish(name, digest, data, text, encoding, delimiter, *fast, header_index, problems, check_long=True)
    # The csv module checks the structure record by record: how many fields each has.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    headers: list[str] = []
    widths: list[int] = []
    try:
        for _ in range(header_index):
            next(reader, None)
        headers = [h.strip() for h in next(reader, [])]
        while headers and headers[-1] == "":
            headers.pop()  # a trailing delimiter on the header line names nothing
        append = widths.append
        for record in reader:
            append(len(record))
    except csv.Error as exc:
        row = header_index + len(widths) + 2
        if "field larger" in str(exc):
            return [problem("value_too_long", f"a field is longer than {MAX_FIELD_CHARS:,} characters",
                            row=row)]
        detail = ("a quoted field is never closed" if "end of data" in str(exc)
                  else f"the quoting is broken ({exc})")
        return [problem("malformed_csv", f"{detail}; it starts in this row", row=row)]
    if not headers:
        return [problem("empty_file", "the header row is blank")]
    width = len(headers)
    odd = [i for i, w in enumerate(widths) if w != width and w != 0]
    if odd:
        # Second look at the few odd records: all-empty is a blank row, and trailing empty
        # fields (a trailing delimiter) are not a fault.
        wanted = set(odd)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        for index, record in enumerate(reader):
            data_index = index - header_index - 1
            if data_index in wanted:
                if not any(cell.strip() for cell in record):
                    widths[data_index] = 0
                elif len(record) > width and not any(c.strip() for c in record[width:]):
                    widths[data_index] = width
    return _finish(name, digest, data, text, encoding, delimiter, headers, widths, header_index, problems)


def _finish(name: str, digest: str, data: bytes, text: str, encoding: str, delimiter: str, headers: list[str],
            widths: list[int] | pl.Series, header_index: int, problems: list[Problem], *,
            check_long: bool = False) -> RawTable | list[Problem]:
    """From each record's field count (0: blank) to the table and its ragged-row problems."""
    widths = pl.Series("w", widths, dtype=pl.Int64)
    if widths.is_empty() or (widths == 0).all():
        return [problem("no_data_rows", "the file has a header but no data rows", row=header_index + 2)]
    odd = ((widths != 0) & (widths != len(headers))).arg_true()
    ragged = {header_index + int(i) + 2 for i in odd.to_list()}
    utf8 = text.encode("utf-8") if encoding != "utf-8" else data
    names = [f"c{i}" for i in range(len(headers))]
    cells: pl.DataFrame | None
    try:
        cells = _read_cells(utf8, delimiter, names, header_index)
    except pl.exceptions.PolarsError:
        cells = None
    if cells is not None and check_long:
        # The csv module's field-size limit, for the path that did not run it.
        too_long = _first_long_field(cells)
        if too_long is not None:
            return [problem("value_too_long", f"a field is longer than {MAX_FIELD_CHARS:,} characters",
                            row=header_index + too_long + 2)]
    if cells is None or cells.height != len(widths):
        # Quoting the fast reader refuses but the csv module reads (an inch mark: 5" screen):
        # take the records the structure check saw, so both agree by construction.
        cells = _cells_from_records(text, delimiter, names, header_index)
    cells = cells.with_row_index("row", offset=header_index + 2).with_columns(pl.col("row").cast(pl.Int64))
    for index in sorted(ragged)[:1000]:
        width = int(widths[index - header_index - 2])
        problems.append(problem(
            "ragged_row",
            f"this row has {width} fields, the header has {len(headers)}",
            row=index, value=str(width)))
    if len(ragged) > 1000:
        problems.append(problem("ragged_row", f"{len(ragged) - 1000} more rows have the wrong "
                                "number of fields", count=len(ragged) - 1000))
    return RawTable(name, digest, len(data), encoding, delimiter, headers,
                    cells.select(["row", *names]), problems, ragged, header_index + 1)
