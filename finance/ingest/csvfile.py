"""Read an export file as strings, in blocks: encoding, delimiter and structure.

Nothing is interpreted here beyond the CSV grammar: every cell stays the exact text the
file holds, so the validator can quote it back. Row numbers are the ones a spreadsheet
shows (header = row 1), counting records, so a quoted line break stays in its row.

A file is read in blocks of about ``BLOCK_BYTES`` that end on a record boundary, so a
ledger of any size is checked with memory for one block at a time. Each block takes the
vectorised path when it holds no quote character (a record is then exactly one line, and
counting delimiters per line gives what the csv module would); a block with quotes is
checked record by record by the csv module, which decides in every doubtful case.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import queue
import re
import stat
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

from finance.domain.problems import Problem, problem
from finance.domain.schema import MAX_COLUMNS, MAX_FIELD_CHARS
from finance.ingest.encodings import Reading, as_written, decode_as, detect_legacy

PREAMBLE_LIMIT = 30
"""Report titles and date-range lines above the header are skipped up to this many records."""
DELIMITERS = (",", ";", "\t", "|")
BLOCK_BYTES = 32 << 20
"""About how much of the file is read, checked and parsed at a time."""
MAX_RECORD_BYTES = 64 << 20
"""The longest row read: a longer one (a file of one endless line) is refused in bounded memory."""
HEAD_BYTES = 1 << 20
"""The opening of the file that decides encoding, delimiter and header: the header row ends in it."""
HEADER_SCAN_CHARS = 262144
"""The opening lines searched for the header (title lines above it), extended to the end of a line."""
RAGGED_LISTED = 1000
_BINARY_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32)) - {26}
_LINE_END = re.compile(r"\r\n|\r|\n")
_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[*range(0, 9), 11, 12, *range(14, 32), 127, 0xC2]] = True
"""Bytes of a control character in UTF-8 (0xC2 leads U+0080-U+009F, and other characters too)."""


class ReadFailure(Exception):
    """The file cannot be read as CSV past some point (broken quoting, a huge field)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "unreadable")
        self.problems = problems


class _RecordTooLong(Exception):
    """A record runs past ``MAX_RECORD_BYTES``: the reader stops before holding it all."""


class NotUtf8(Exception):
    """A block past the opening is not UTF-8: the whole file is read again as text."""


@dataclass
class Batch:
    """The cells of consecutive records, as strings."""

    cells: pl.DataFrame
    """``row`` (spreadsheet row number) and one String column per header (c0, c1, ...)."""
    ragged: list[tuple[int, int]]
    """(row, fields) of each record whose field count is not the header's (blank rows excluded)."""
    size: int = 0
    """Bytes of the file this block took."""
    trimmed: bool = False
    """No cell starts or ends with white space (the block's bytes show none), so none needs stripping."""
    controls: bool = True
    """A cell may hold a control character other than tab and line breaks (False: the bytes show none)."""
    longest: int | None = None
    """The longest cell's length in bytes, when known."""


def _decode(data: bytes, encoding: str | None = None) -> Reading | Problem:
    """Decode the file's bytes: in the encoding chosen; else BOMs first, then UTF-16, UTF-8, the rest.

    The legacy encodings (Japanese, Chinese, Western European) are told apart in ``encodings``.
    """
    if encoding is not None:
        return decode_as(data, encoding)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return Reading(data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8")
        except UnicodeDecodeError as exc:
            return problem("not_text", f"the file starts like UTF-8 but byte 0x{data[exc.start + 3]:02x} at offset "
                           f"{exc.start + 3} is not UTF-8; choose the encoding it is written in")
    for bom, name in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return Reading(data[len(bom):].decode(name), "utf-16")
            except UnicodeDecodeError:
                return problem("not_text", "the file starts like UTF-16 but does not decode")
    if b"\x00" in data[:65536] and _utf16_without_bom(data[:65536]):
        for name in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            if text[:1000].isprintable() or "\n" in text[:4096]:
                if not any(ord(ch) in _BINARY_CONTROL for ch in text[:4096]):
                    return Reading(text, "utf-16")
        return problem("not_text", "the file contains NUL bytes: it looks binary, not CSV")
    # A NUL byte here and there is no sign of UTF-16: the text is read, ``_looks_binary`` decides
    # whether it is text at all, and a NUL left in a cell is that cell's problem (named by row).
    try:
        return Reading(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    return detect_legacy(data)


def _utf16_without_bom(sample: bytes) -> bool:
    """NUL bytes mostly at every other offset: UTF-16 without a BOM (ASCII is half NULs there).

    NULs spread over both offsets (a binary file), or only a few (a NUL typed into a cell), are not.
    """
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    return max(even, odd) >= 8 and min(even, odd) * 8 <= max(even, odd)


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


def _header_records(text: str, delimiter: str, is_header: Callable[[list[str]], bool] | None
                    ) -> tuple[int, list[str], int] | None:
    """(index of the header record, its cells, characters up to the end of its line).

    The header is the first of the opening records the contract recognises (the first record
    without a recogniser). None when the opening holds no complete record.
    """
    lines = _LINE_END.split(text)
    ends = [m.end() for m in _LINE_END.finditer(text)]
    consumed = 0

    def numbered() -> Iterator[str]:
        nonlocal consumed
        for index, line in enumerate(lines[:-1]):  # the last piece may be cut mid-line
            consumed = index + 1
            yield line + "\n"

    reader = csv.reader(numbered(), delimiter=delimiter)
    first: tuple[int, list[str], int] | None = None
    try:
        for index, record in enumerate(reader):
            found = (index, record, ends[consumed - 1])
            if len(record) > MAX_COLUMNS:
                return found  # too wide to be anything but the header (and refused for it)
            if first is None:
                first = found
            if is_header is None or index >= PREAMBLE_LIMIT:
                break
            if is_header([cell.strip() for cell in record]):
                return found
    except csv.Error:
        pass
    return first


@dataclass
class CsvSource:
    """An opened export: what its opening told, and its records in blocks (``batches``)."""

    file_name: str
    path: Path
    size: int
    encoding: str
    delimiter: str
    headers: list[str]
    header_row: int
    """The spreadsheet row of the header (below any report title lines)."""
    problems: list[Problem] = field(default_factory=list)
    body: bytes | None = None
    """The whole file as UTF-8 when it had to be decoded in one piece (not UTF-8, CR line ends)."""
    offset: int = 0
    """Where the records below the header start, in the file (or in ``body``)."""
    sha256: str = ""
    """The file's SHA-256, known once ``batches`` has run to the end (at once for ``body``)."""
    records: int = 0
    """Records below the header seen so far, blank ones included."""
    vectorised: bool = True
    sheet: str | None = None
    """The sheet read, when the export is a workbook (``encoding`` is then empty)."""
    sheets: list[str] = field(default_factory=list)
    """The workbook's sheets: the one read when none is named first, then the others in its order."""

    @property
    def names(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.headers))]

    def batches(self) -> Generator[Batch, None, None]:
        """The records below the header, block by block.

        The next block is read and parsed in a second thread while the caller checks this one.
        Raises ``ReadFailure`` at broken quoting or an over-long field, and ``NotUtf8`` when a
        block past the opening is not UTF-8 (the caller opens the file again with ``text=True``).
        """
        ready: queue.Queue[Batch | BaseException | None] = queue.Queue()
        slots = threading.Semaphore(2)  # the batch being checked and the one read ahead: no more in memory
        stop = threading.Event()

        def produce() -> None:
            try:
                parsed = self._parsed()
                while not stop.is_set():
                    if not slots.acquire(timeout=0.05):
                        continue
                    batch = next(parsed, None)
                    ready.put(batch)
                    if batch is None:
                        return
            except BaseException as exc:  # handed to the caller's thread, raised there
                ready.put(exc)

        worker = threading.Thread(target=produce, name=f"read {self.file_name}", daemon=True)
        worker.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
                slots.release()  # the caller is done with it
        finally:
            stop.set()
            worker.join()

    def _parsed(self) -> Iterator[Batch]:
        row = self.header_row + 1
        self.records = 0
        try:
            for block in self._blocks():
                batch = self._parse(block, row)
                batch.size = len(block)
                count = batch.cells.height
                row += count
                self.records += count
                yield batch
        except _RecordTooLong:
            raise ReadFailure([problem("row_too_long", f"this row is longer than {_size(MAX_RECORD_BYTES)} "
                                       "(or a quote opened in it is never closed)", row=row)]) from None

    def _blocks(self) -> Iterator[bytes]:
        """Blocks of whole records: each ends at a line end outside any quoted field.

        The last record of a block is read to its end, up to ``MAX_RECORD_BYTES``: past that, the
        whole records before it are the last block, and ``_RecordTooLong`` is raised.
        """
        opened = io.BytesIO(self.body) if self.body is not None else open_regular(self.path)
        if isinstance(opened, Problem):
            raise ReadFailure([opened])
        handle: BinaryIO = opened
        digest = hashlib.sha256()
        with handle:
            digest.update(handle.read(self.offset))
            while chunk := handle.read(BLOCK_BYTES):
                pieces = [chunk]
                rest = 0  # bytes read past the chunk, to end its last record
                if not chunk.endswith(b"\n"):
                    pieces.append(handle.readline(MAX_RECORD_BYTES + 1))
                    rest = len(pieces[-1])
                if any(b'"' in piece for piece in pieces):
                    # Read on, line by line, until no quoted field is open at the block's end.
                    quotes = sum(piece.count(b'"') for piece in pieces)
                    while quotes % 2 and rest <= MAX_RECORD_BYTES and (line := handle.readline(MAX_RECORD_BYTES + 1)):
                        pieces.append(line)
                        rest += len(line)
                        quotes += line.count(b'"')
                if rest > MAX_RECORD_BYTES:
                    pieces.clear()
                    if whole := chunk[:chunk.rfind(b"\n") + 1]:
                        yield whole
                    raise _RecordTooLong
                for piece in pieces:
                    digest.update(piece)
                yield chunk if len(pieces) == 1 else b"".join(pieces)
        if self.body is None:
            self.sha256 = digest.hexdigest()

    def _parse(self, block: bytes, first_row: int) -> Batch:
        if self.vectorised and b'"' not in block:
            fast = _plain_block(block, self.delimiter, len(self.headers), self.names, first_row)
            if fast is not None:
                return fast
        return _quoted_block(block, self.delimiter, len(self.headers), self.names, first_row,
                             utf8_checked=self.body is not None)


def _cell_frame(block: bytes, delimiter: str, names: list[str], *, truncate: bool = True) -> pl.DataFrame:
    """The block's records as String cells, by the native reader (short records padded with "").

    With ``truncate=False`` a record with more fields than ``names`` raises ``ComputeError``.
    """
    return pl.read_csv(
        block, has_header=False, new_columns=names, separator=delimiter, infer_schema=False,
        schema_overrides={n: pl.String for n in names}, empty_string_is_null=False,
        truncate_ragged_lines=truncate, missing_columns="insert", raise_if_empty=False,
    ).select(names)


def _numbered(cells: pl.DataFrame, first_row: int) -> pl.DataFrame:
    return cells.with_row_index("row", offset=first_row).select(pl.col("row").cast(pl.Int64), pl.exclude("row"))


def _second_look(cells: list[str], width: int) -> int:
    """A record of the wrong width: all-blank is a blank row (0); blank extra fields are no fault."""
    if not any(cell.strip() for cell in cells):
        return 0
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        return width
    return len(cells)


def _plain_block(block: bytes, delimiter: str, width: int, names: list[str], first_row: int) -> Batch | None:
    """A quote-free block: one record per line, its fields counted from the delimiters.

    None sends the block to the csv module (a lone carriage return, an over-long field, or
    anything the native reader does differently).
    """
    array = np.frombuffer(block, dtype=np.uint8)
    if b"\r" in block:
        returns = np.flatnonzero(array == 13)
        if returns[-1] + 1 >= len(array) or not bool(np.all(array[returns + 1] == 10)):
            return None  # a carriage return that does not end a line
    lines = int(np.count_nonzero(array == 10)) + (0 if block.endswith(b"\n") else 1)
    try:
        try:
            cells = _cell_frame(block, delimiter, names, truncate=False)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                raise
            cells = _cell_frame(block, delimiter, names)
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                raise NotUtf8 from None
        return None
    except pl.exceptions.PolarsError:
        return None
    if cells.height != lines:
        return None
    longest = cells.select(pl.max_horizontal(pl.all().str.len_bytes().max())).item()
    if longest is not None and longest > MAX_FIELD_CHARS:
        return None  # the csv module names the over-long field
    # Fields are counted line by line (vectorised): a total of (width - 1) delimiters per line is no
    # proof of a regular block, since one short line and one with a blank extra field (which the
    # reader pads or drops without a word) balance out.
    newlines = np.flatnonzero(array == 10)
    ends = newlines if block.endswith(b"\n") else np.append(newlines, len(block))
    starts = np.concatenate(([0], ends[:-1] + 1))
    before_end = np.searchsorted(np.flatnonzero(array == ord(delimiter)), ends)
    fields = np.diff(before_end, prepend=0) + 1
    ragged: list[tuple[int, int]] = []
    for index in np.flatnonzero(fields != width).tolist():
        line = block[starts[index]:ends[index]].decode("utf-8", errors="replace").removesuffix("\r")
        looked = _second_look(line.split(delimiter) if line else [], width)
        if looked not in (0, width):
            ragged.append((first_row + index, looked))
    trimmed = block.isascii() and not any(space in block for space in (b" ", b"\t", b"\x0b", b"\x0c"))
    controls = bool(_CONTROL_BYTES[array].any())
    return Batch(_numbered(cells, first_row), ragged, trimmed=trimmed, controls=controls, longest=longest or 0)


def _quoted_block(block: bytes, delimiter: str, width: int, names: list[str], first_row: int, *,
                  utf8_checked: bool) -> Batch:
    """A block the csv module reads record by record: its word on the structure is final."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        if utf8_checked:
            raise
        raise NotUtf8 from None
    csv.field_size_limit(MAX_FIELD_CHARS)
    widths: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        append = widths.append
        for record in reader:
            append(len(record))
    except csv.Error as exc:
        row = first_row + len(widths)
        if "field larger" in str(exc):
            raise ReadFailure([problem("value_too_long", f"a field is longer than {MAX_FIELD_CHARS:,} characters",
                                       row=row)]) from None
        detail = ("a quoted field is never closed" if "end of data" in str(exc)
                  else f"the quoting is broken ({exc})")
        raise ReadFailure([problem("malformed_csv", f"{detail}; it starts in this row", row=row)]) from None
    odd = {i for i, w in enumerate(widths) if w != width and w != 0}
    if odd:
        # Second look at the few odd records: all-empty is a blank row, and trailing empty
        # fields (a trailing delimiter) are not a fault.
        for index, record in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)):
            if index in odd:
                widths[index] = _second_look(record, width)
    cells: pl.DataFrame | None
    try:
        cells = _cell_frame(block, delimiter, names)
    except pl.exceptions.PolarsError:
        cells = None
    if cells is None or cells.height != len(widths):
        # Quoting the native reader refuses but the csv module reads (an inch mark: 5" screen):
        # take the records the structure check saw, so both agree by construction.
        cells = _cells_from_records(text, delimiter, names)
    ragged = [(first_row + i, w) for i, w in enumerate(widths) if w not in (0, width)]
    return Batch(_numbered(cells, first_row), ragged)


def _cells_from_records(text: str, delimiter: str, names: list[str]) -> pl.DataFrame:
    """The slow, always-agreeing path: cells from the csv module's own records."""
    width = len(names)
    columns: list[list[str]] = [[] for _ in names]
    for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
        padded = (record + [""] * width)[:width]
        for column, cell in zip(columns, padded, strict=True):
            column.append(cell)
    return pl.DataFrame(dict(zip(names, columns, strict=True)), schema={n: pl.String for n in names})


def _size(count: int) -> str:
    """A byte count as a person reads it: ``64 MB``, or ``4,096 bytes``."""
    return f"{count >> 20} MB" if count >= 1 << 20 and not count % (1 << 20) else f"{count:,} bytes"


def open_regular(path: Path) -> BinaryIO | Problem:
    """``path`` opened for reading, or why not: a named pipe, device or folder is refused at once.

    The file is opened without waiting and checked before anything is read: opening a named pipe
    waits for a writer, and reading a device (``/dev/zero``) never ends.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        return problem("file_not_found", f"cannot read the file: {exc.strerror}")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")
        return problem("not_a_regular_file", f"this is {what}, not a regular file; only files are read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_csv(path: Path, display_name: str | None = None,
             is_header: Callable[[list[str]], bool] | None = None, *, text: bool = False,
             vectorised: bool = True, encoding: str | None = None,
             data: bytes | None = None) -> CsvSource | list[Problem]:
    """Open ``path`` for reading in blocks, or return the problems that make it unreadable.

    ``is_header`` recognises the header record; records above it (a report title, a
    date range) are skipped with a warning. Without it the first record is the header.
    ``text=True`` decodes the whole file first (a file found not to be UTF-8 part way through).
    ``encoding`` (a name of ``encodings.ENCODINGS``) is the one chosen by the person importing:
    the whole file is decoded in it, strictly; None detects it. ``data`` is the file's text
    already in hand (a workbook's sheet as CSV), read instead of ``path``.
    """
    chosen = encoding
    name = display_name or path.name
    handle = open_regular(path) if data is None else io.BytesIO(data)
    if isinstance(handle, Problem):
        return [handle]
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size if data is None else len(data)
            head = handle.read(HEAD_BYTES if not text else -1)
        except OSError as exc:
            return [problem("file_not_found", f"cannot read the file: {exc.strerror}")]
        whole = len(head) >= size
        if whole and (not head.strip(b" \t\r\n\x00")
                      or head in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return [problem("empty_file", "the file is empty")]
        if len(head) >= HEAD_BYTES and not any(end in head[:HEAD_BYTES] for end in (b"\n", b"\r")):
            # Without this, the whole file would be read as one line to find that out.
            return [problem("no_line_break", f"no line break in the first {_size(HEAD_BYTES)} of the file: "
                            f"it is not a CSV file, or its header row is longer than {_size(HEAD_BYTES)}")]
        body: bytes | None = None
        bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        opening = head[bom:]
        if not whole:
            opening = opening[:opening.rfind(b"\n") + 1]  # whole lines only
        encoding = "utf-8"
        reading: Reading | None = None
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
            b"\x00" in head[:65536] and _utf16_without_bom(head[:65536]))
        try:
            head_text = opening.decode("utf-8")
            streamable = not text and not utf16 and chosen is None
        except UnicodeDecodeError:
            streamable = False
        if streamable and (("\r" in head_text and "\n" not in head_text) or not head_text):
            streamable = False  # classic Mac line endings, or no line end in the opening
        if not streamable:
            try:
                content = head if whole else head + handle.read()
            except OSError as exc:
                return [problem("file_not_found", f"cannot read the file: {exc.strerror}")]
            decoded = _decode(content, chosen)
            if isinstance(decoded, Problem):
                return [decoded]
            reading = as_written(decoded)
            head_text, encoding = reading.text, reading.encoding
            if "\r" in head_text and "\n" not in head_text:
                head_text = head_text.replace("\r", "\n")
            body = head_text.encode("utf-8")
            bom = 0
    if _looks_binary(head_text):
        return [problem("not_text", "the file holds control characters: it looks binary, not CSV")]
    if not head_text.strip():
        return [problem("empty_file", "the file holds only blank lines")]
    problems: list[Problem] = [] if reading is None else reading.problems
    delimiter = _sniff_delimiter(head_text)
    csv.field_size_limit(MAX_FIELD_CHARS)
    # The opening holds whole lines; at the end of the file the last line may lack its line end.
    opening_text = head_text if head_text.endswith(("\n", "\r")) else head_text + "\n"
    scan_end = opening_text.find("\n", HEADER_SCAN_CHARS)  # a wide header line is read whole
    found = _header_records(opening_text[:scan_end + 1] if scan_end >= 0 else opening_text, delimiter, is_header)
    if found is None:
        return [problem("empty_file", "the header row is blank")]
    header_index, record, chars = found
    if header_index:
        problems.append(problem("preamble_skipped", f"{header_index} line(s) above the header were "
                                "skipped (a report title or date range)", row=1, count=header_index))
    headers = [h.strip() for h in record]
    while headers and headers[-1] == "":
        headers.pop()  # a trailing delimiter on the header line names nothing
    if not headers:
        return [problem("empty_file", "the header row is blank")]
    if len(headers) > MAX_COLUMNS:
        # Refused before a row is read: each column costs time and memory in every block.
        return [problem("too_many_columns", f"the header row has {len(headers):,} columns; at most "
                        f"{MAX_COLUMNS:,} are read", row=header_index + 1, value=f"{len(headers):,} columns")]
    offset = bom + len(opening_text[:chars].encode("utf-8"))
    source = CsvSource(name, path, size, encoding, delimiter, headers, header_index + 1, problems, body,
                       offset, vectorised=vectorised)
    if body is not None:
        source.sha256 = hashlib.sha256(content).hexdigest()
    return source


@dataclass
class RawTable:
    """The cells of a whole CSV file as strings, with what was learned reading it."""

    file_name: str
    sha256: str
    size: int
    encoding: str
    delimiter: str
    headers: list[str]
    cells: pl.DataFrame
    """One String column per header (named c0, c1, ...), plus ``row`` (spreadsheet row number)."""
    problems: list[Problem] = field(default_factory=list)
    ragged_rows: set[int] = field(default_factory=set)
    header_row: int = 1


def read_raw(path: Path, display_name: str | None = None,
             is_header: Callable[[list[str]], bool] | None = None, *,
             vectorised: bool = True) -> RawTable | list[Problem]:
    """Read a whole file into one table of strings (small files, tests); ``open_csv`` streams."""
    source = open_csv(path, display_name, is_header, vectorised=vectorised)
    try:
        if isinstance(source, list):
            return source
        batches = list(source.batches())
    except NotUtf8:
        source = open_csv(path, display_name, is_header, text=True, vectorised=vectorised)
        if isinstance(source, list):
            return source
        batches = list(source.batches())
    except ReadFailure as failure:
        return failure.problems
    problems = list(source.problems)
    if not source.records:
        return [problem("no_data_rows", "the file has a header but no data rows", row=source.header_row + 1)]
    ragged = [r for batch in batches for r in batch.ragged]
    problems.extend(ragged_problems(ragged, len(source.headers)))
    cells = pl.concat([b.cells for b in batches]) if batches else pl.DataFrame(
        schema={"row": pl.Int64, **{n: pl.String for n in source.names}})
    return RawTable(source.file_name, source.sha256, source.size, source.encoding, source.delimiter,
                    source.headers, cells, problems, {r for r, _ in ragged}, source.header_row)


def preview(path: Path, display_name: str | None = None,
            is_header: Callable[[list[str]], bool] | None = None, rows: int = 20, *,
            encoding: str | None = None) -> tuple[CsvSource, pl.DataFrame] | list[Problem]:
    """The headers and first ``rows`` records, reading only the file's opening block.

    For showing a file before it is checked: the whole file is read once, by ``prepare``.
    """
    return first_rows(lambda text: open_csv(path, display_name, is_header, text=text, encoding=encoding), rows)


def first_rows(opener: Callable[[bool], CsvSource | list[Problem]],
               rows: int = 20) -> tuple[CsvSource, pl.DataFrame] | list[Problem]:
    """The source ``opener`` opens (given ``text``) and its first ``rows`` records, from its first block."""
    for text in (False, True):
        source = opener(text)
        if isinstance(source, list):
            return source
        batches = source.batches()
        try:
            first = next(batches, None)
        except NotUtf8:
            continue  # not UTF-8 after all: read it as decoded text
        except ReadFailure as failure:
            return failure.problems
        finally:
            batches.close()
        cells = first.cells.head(rows) if first is not None else pl.DataFrame(
            schema={"row": pl.Int64, **{n: pl.String for n in source.names}})
        return source, cells
    raise AssertionError("a file read as text is never refused as not UTF-8")


def ragged_problems(ragged: list[tuple[int, int]], width: int, total: int | None = None) -> list[Problem]:
    """One problem per ragged row, up to ``RAGGED_LISTED``, and a count of the rest."""
    out = [problem("ragged_row", f"this row has {fields} fields, the header has {width}", row=row,
                   value=str(fields)) for row, fields in ragged[:RAGGED_LISTED]]
    total = len(ragged) if total is None else total
    if total > RAGGED_LISTED:
        out.append(problem("ragged_row", f"{total - RAGGED_LISTED} more rows have the wrong number of fields",
                           count=total - RAGGED_LISTED))
    return out
