"""Published board packs, kept in the store as they were published.

A pack is published once and never changes: its PDF and XLSX are stored byte for byte, with a manifest of what
it showed and what it stood on (the figures, the imports in force and their hashes, the assumptions, who
published it and when; ``finance.present.publish`` makes it). Later imports and assumption changes leave it as
it is: a download is the file the board saw. Publishing is one transaction, recorded in the change log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import log_change

DDL = (
    "CREATE SEQUENCE IF NOT EXISTS pack_ids START 1",
    """CREATE TABLE IF NOT EXISTS published_packs (
        pack_id BIGINT PRIMARY KEY,
        period VARCHAR NOT NULL,
        published_at TIMESTAMP NOT NULL,
        published_by VARCHAR,
        manifest VARCHAR NOT NULL,
        pdf BLOB NOT NULL,
        xlsx BLOB NOT NULL,
        pdf_sha256 VARCHAR NOT NULL,
        xlsx_sha256 VARCHAR NOT NULL
    )""",
)
"""One row per published pack: its quarter, when (UTC) and by whom, its manifest (JSON) and its two files."""

PUBLISHED = "pack_published"
"""The change log's action for a publication."""


@dataclass(frozen=True)
class Pack:
    """A published pack: its number, quarter, when (UTC) and by whom, its manifest, and its files as published."""

    pack_id: int
    period: str
    published_at: datetime
    published_by: str | None
    manifest: dict[str, Any]
    pdf: bytes
    xlsx: bytes

    @property
    def name(self) -> str:
        """The files' name without suffix: ``board-pack-2025-Q4-3`` (the quarter, then the pack's number)."""
        return f"board-pack-{self.period}-{self.pack_id}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(db: Connection) -> bool:
    """Whether the file has the table (a read-only open of a file older than it has not)."""
    return db.has_table("published_packs")


def publish(db: Connection, period: str, manifest: dict[str, Any], pdf: bytes, xlsx: bytes,
            user: str | None = None) -> Pack:
    """Store a pack as published, and record it in the change log, in one transaction."""
    if not pdf.startswith(b"%PDF-") or not xlsx.startswith(b"PK"):
        raise StoreError("a published pack is a PDF and an XLSX file; these are not")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    who = user or db.user
    text = json.dumps(manifest, sort_keys=True, ensure_ascii=False)
    with db.transaction() as con:
        pack_id = int(con.execute("SELECT nextval('pack_ids')").fetchall()[0][0])
        con.execute("INSERT INTO published_packs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [pack_id, period, now, who, text, pdf, xlsx, sha256(pdf), sha256(xlsx)])
        log_change(db, PUBLISHED, {"pack": pack_id, "period": period, "pdf_sha256": sha256(pdf),
                                   "xlsx_sha256": sha256(xlsx)}, user)
    return Pack(pack_id, period, now, who, json.loads(text), pdf, xlsx)


_LISTED: dict[str, pl.DataType] = {
    "pack_id": pl.Int64(), "period": pl.String(), "published_at": pl.Datetime("us"), "published_by": pl.String(),
    "pdf_bytes": pl.Int64(), "xlsx_bytes": pl.Int64(), "pdf_sha256": pl.String(), "xlsx_sha256": pl.String(),
    "manifest": pl.String()}


def listed(db: Connection) -> pl.DataFrame:
    """Every published pack, newest first, without its files: pack_id, period, published_at (UTC), published_by,
    pdf_bytes, xlsx_bytes, pdf_sha256, xlsx_sha256, manifest (JSON)."""
    if not present(db):
        return pl.DataFrame(schema=_LISTED)
    return db.query("SELECT pack_id, period, published_at, published_by, octet_length(pdf) AS pdf_bytes, "
                    "octet_length(xlsx) AS xlsx_bytes, pdf_sha256, xlsx_sha256, manifest FROM published_packs "
                    "ORDER BY pack_id DESC").cast(_LISTED)  # type: ignore[arg-type]


def get(db: Connection, pack_id: int) -> Pack:
    """Pack ``pack_id`` with its files; ``StoreError`` names the packs there are when it is not one."""
    rows = db.con.execute("SELECT pack_id, period, published_at, published_by, manifest, pdf, xlsx, pdf_sha256, "
                          "xlsx_sha256 FROM published_packs WHERE pack_id = ?", [pack_id]).fetchall() \
        if present(db) else []
    if not rows:
        there = listed(db).get_column("pack_id").to_list()
        raise StoreError(f"no published pack #{pack_id}; " + (
            f"the packs are #{', #'.join(map(str, sorted(there)))}" if there else
            "none is published yet (python -m finance report --publish)"))
    number, period, at, by, manifest, pdf, xlsx, pdf_hash, xlsx_hash = rows[0]
    pdf, xlsx = bytes(pdf), bytes(xlsx)
    if sha256(pdf) != pdf_hash or sha256(xlsx) != xlsx_hash:
        raise StoreError(f"published pack #{pack_id} no longer matches the hashes it was published with")
    return Pack(int(number), period, at, by, json.loads(manifest), pdf, xlsx)


def latest(db: Connection, period: str | None = None) -> Pack | None:
    """The newest pack (of ``period`` when given), or None."""
    packs = listed(db)
    if period is not None:
        packs = packs.filter(pl.col("period") == period)
    return get(db, int(packs.get_column("pack_id")[0])) if not packs.is_empty() else None
