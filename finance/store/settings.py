"""Settings, the shared assumptions, and the change log of who changed what.

Every change records who made it in the ``changes`` log (``log_change``), inside the transaction
that makes the change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from finance.domain.schema import DEFAULT_CURRENCY
from finance.store.connection import Connection

DEMO_SETTING = "demo_company"
"""The setting that names the bundled demo company; absent in a company's own database."""


def log_change(db: Connection, action: str, detail: dict[str, Any], user: str | None = None) -> None:
    """Record a change and who made it (``user``, else the store's), inside the caller's transaction."""
    db.con.execute(
        "INSERT INTO changes VALUES (nextval('change_ids'), ?, ?, ?, ?)",
        [datetime.now(UTC).replace(tzinfo=None), user or db.user, action,
         json.dumps(detail, sort_keys=True, default=str)])


def changes(db: Connection, limit: int = 200, actions: Sequence[str] | None = None) -> pl.DataFrame:
    """The newest changes (of ``actions`` only, when given): when, who, what."""
    return db.query("SELECT change_id, changed_at, changed_by, action, detail FROM changes "
                    "WHERE $1 IS NULL OR list_contains($1, action) ORDER BY change_id DESC LIMIT $2",
                    [None if actions is None else list(actions), limit])


def setting(db: Connection, key: str, default: str | None = None) -> str | None:
    row = db.one("SELECT value FROM settings WHERE key = ?", [key])
    return row[0] if row else default


def set_setting(db: Connection, key: str, value: str) -> None:
    with db.transaction():
        before = setting(db, key)
        db.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])
        if before != value:
            log_change(db, "setting", {"key": key, "from": before, "to": value})


def settings_with_prefix(db: Connection, prefix: str) -> dict[str, str]:
    """Settings whose key starts with ``prefix``, the prefix removed (remembered mappings)."""
    rows = db.rows("SELECT key, value FROM settings WHERE starts_with(key, ?) ORDER BY key", [prefix])
    return {key[len(prefix):]: value for key, value in rows}


def assumptions(db: Connection) -> dict[str, str]:
    """The shared assumptions (default margin, discount rate, ...) everyone sees."""
    rows = db.rows("SELECT key, value FROM settings WHERE key LIKE 'assumption.%' ORDER BY key")
    return {key.removeprefix("assumption."): value for key, value in rows}


def set_assumptions(db: Connection, values: dict[str, str]) -> None:
    """Store assumptions in one transaction (values are validated by the caller)."""
    with db.transaction():
        before = assumptions(db)
        for key, value in values.items():
            db.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [f"assumption.{key}", value])
        changed = {k: {"from": before.get(k), "to": v} for k, v in values.items() if before.get(k) != v}
        if changed:
            log_change(db, "assumptions", changed)


def currency(db: Connection) -> str:
    """The currency every amount in the file is in."""
    return setting(db, "currency", DEFAULT_CURRENCY) or DEFAULT_CURRENCY


def delete_setting(db: Connection, key: str) -> None:
    """Remove a setting, inside the caller's transaction (which logs why)."""
    db.con.execute("DELETE FROM settings WHERE key = ?", [key])
