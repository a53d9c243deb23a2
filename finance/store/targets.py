"""Targets a channel's fully loaded CAC is held to, kept in the store.

The company-wide targets are assumptions (``target_ratio`` for LTV:CAC, ``target_payback_months`` for CAC
payback); a CAC target is per channel, as channel owners are held to their own. Channels match ignoring case and
spacing. Each change is one transaction, recorded in the change log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import polars as pl

from finance.domain.money import MONEY_DTYPE
from finance.domain.schema import channel_name_key
from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import log_change

DDL = ("CREATE TABLE IF NOT EXISTS cac_targets (channel_key VARCHAR PRIMARY KEY, channel VARCHAR NOT NULL, "
       "amount DECIMAL(18,4) NOT NULL, set_at TIMESTAMP NOT NULL, set_by VARCHAR)")
"""One row per channel with a target: its name as first set, and the most fully loaded CAC it is held to."""

SET, CLEARED = "cac_target_set", "cac_target_cleared"
SCHEMA: dict[str, pl.DataType] = {"channel_key": pl.String(), "channel": pl.String(), "amount": MONEY_DTYPE,
                                  "set_at": pl.Datetime("us"), "set_by": pl.String()}


def present(db: Connection) -> bool:
    return db.has_table("cac_targets")


def amount_of(text: str, channel: str) -> Decimal:
    """A target as typed (``450``, ``450.00``), or ``StoreError`` naming the channel, the value and what was
    expected."""
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12") or amount != amount.quantize(
            Decimal("0.0001")):
        raise StoreError(f"CAC target for {channel!r}: {text!r} is not an amount; expected an amount above 0 in the "
                         "reporting currency, e.g. 450.00")
    return amount


def set_targets(db: Connection, targets: dict[str, Decimal], user: str | None = None) -> None:
    """Set each channel's CAC target, in one transaction (all or none)."""
    for channel in targets:
        if not channel.strip():
            raise StoreError("a CAC target's channel is blank; name the channel as the data does")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with db.transaction() as con:
        for channel, amount in targets.items():
            con.execute("INSERT OR REPLACE INTO cac_targets VALUES (?, ?, ?, ?, ?)",
                        [channel_name_key(channel), " ".join(channel.split()), amount, now, user or db.user])
        log_change(db, SET, {"targets": {c: str(a) for c, a in targets.items()}}, user)


def clear(db: Connection, channel: str, user: str | None = None) -> bool:
    """Remove a channel's CAC target; False when it had none."""
    with db.transaction() as con:
        found = con.execute("SELECT channel, amount FROM cac_targets WHERE channel_key = ?",
                            [channel_name_key(channel)]).fetchall()
        if not found:
            return False
        con.execute("DELETE FROM cac_targets WHERE channel_key = ?", [channel_name_key(channel)])
        log_change(db, CLEARED, {"channel": found[0][0], "was": str(found[0][1])}, user)
    return True


def listed(db: Connection) -> pl.DataFrame:
    """Every channel's CAC target: channel_key, channel, amount, set_at, set_by."""
    if not present(db):
        return pl.DataFrame(schema=SCHEMA)
    return db.query("SELECT channel_key, channel, amount, set_at, set_by FROM cac_targets ORDER BY channel_key"
                    ).cast(SCHEMA)  # type: ignore[arg-type]
