"""Notes on the timeline: what happened on a day or over a stretch of days (a price change, a brand campaign, a
tracking outage), by whom, and for which channel or segment if one. Every time-series chart marks them and the
board pack lists them. Adding and deleting is one transaction each, recorded in the change log (a deleted
note's words are kept there).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import polars as pl

from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import log_change

DDL = (
    "CREATE SEQUENCE IF NOT EXISTS note_ids START 1",
    """CREATE TABLE IF NOT EXISTS notes (
        note_id BIGINT PRIMARY KEY,
        day DATE NOT NULL,
        end_day DATE,
        text VARCHAR NOT NULL,
        channel VARCHAR,
        segment VARCHAR,
        author VARCHAR,
        created_at TIMESTAMP NOT NULL
    )""",
)
"""One row per note: its day (or first day, with ``end_day`` its last), words, channel or segment, author."""

MAX_CHARS = 280
"""A note's most characters: a line on a chart's hover, not a document."""
ADDED, DELETED = "note_added", "note_deleted"
SCHEMA: dict[str, pl.DataType] = {
    "note_id": pl.Int64(), "day": pl.Date(), "end_day": pl.Date(), "text": pl.String(), "channel": pl.String(),
    "segment": pl.String(), "author": pl.String(), "created_at": pl.Datetime("us")}


def present(db: Connection) -> bool:
    """Whether the file has the table (a read-only open of a file older than it has not)."""
    return db.has_table("notes")


def _checked_text(name: str, value: str | None, *, required: bool = False) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise StoreError(f"a note's {name} is blank; write what happened, e.g. 'price change'")
        return None
    if len(text) > MAX_CHARS:
        raise StoreError(f"a note's {name} has {len(text)} characters; at most {MAX_CHARS}")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise StoreError(f"a note's {name} holds a control or format character ({text!r}); plain text only")
    return text


def add(db: Connection, day: date, text: str, *, end: date | None = None, channel: str | None = None,
        segment: str | None = None, user: str | None = None) -> int:
    """Add a note; its number. ``StoreError`` says what is wrong (blank or overlong text, control characters, an
    end before the day, both a channel and a segment) and adds nothing."""
    words = _checked_text("text", text, required=True)
    channel, segment = _checked_text("channel", channel), _checked_text("segment", segment)
    if end is not None and end < day:
        raise StoreError(f"a note's end {end.isoformat()} is before its day {day.isoformat()}")
    if channel and segment:
        raise StoreError("a note is about a channel or a segment, not both")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.transaction() as con:
        number = int(con.execute("SELECT nextval('note_ids')").fetchall()[0][0])
        con.execute("INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [number, day, end if end != day else None, words, channel, segment, user or db.user, now])
        log_change(db, ADDED, {"note": number, "day": day.isoformat(), "end": end.isoformat() if end else None,
                               "text": words, "channel": channel, "segment": segment}, user)
    return number


def listed(db: Connection) -> pl.DataFrame:
    """Every note, by day: note_id, day, end_day (null: one day), text, channel, segment, author, created_at."""
    if not present(db):
        return pl.DataFrame(schema=SCHEMA)
    return db.query("SELECT note_id, day, end_day, text, channel, segment, author, created_at FROM notes "
                    "ORDER BY day, note_id").cast(SCHEMA)  # type: ignore[arg-type]


def delete(db: Connection, note_id: int, user: str | None = None) -> dict[str, object]:
    """Delete note ``note_id`` (its words stay in the change log); what it was. ``StoreError`` when there is none."""
    with db.transaction() as con:
        found = con.execute("SELECT day, end_day, text, channel, segment, author FROM notes WHERE note_id = ?",
                            [note_id]).fetchall() if present(db) else []
        if not found:
            raise StoreError(f"no note #{note_id}; list them with `python -m finance notes list`")
        day, end, text, channel, segment, author = found[0]
        con.execute("DELETE FROM notes WHERE note_id = ?", [note_id])
        was = {"note": note_id, "day": day.isoformat(), "end": end.isoformat() if end else None, "text": text,
               "channel": channel, "segment": segment, "author": author}
        log_change(db, DELETED, was, user)
    return was
