"""The general ledger's accounts and the cost category each is reconciled as, kept in the store.

A ledger names its accounts its own way (``6100 Advertising``, ``Marketing - Events``, ``Salaires``); which
of them are marketing or sales spend, and of which category, is the company's to say. Only what an editor
mapped is reconciled: a company-wide ``Salaries`` account is not marketing personnel, so a name that reads
like a category is only suggested (``suggestion``), never taken.

An account maps to a category key (``finance.domain.schema.CATEGORIES``) or to nothing (``NOT_SPEND``: an
account the reconciliation leaves out on purpose, listed as such). Accounts match ignoring case and spacing
(``account_key``). Each change is one transaction, recorded in the change log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import polars as pl

from finance.domain.schema import CATEGORIES, category_of
from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import log_change

NOT_SPEND = "none"
"""The category an account is mapped to when it is not marketing or sales spend (left out, on purpose)."""

DDL = ("CREATE TABLE IF NOT EXISTS gl_accounts (account_key VARCHAR PRIMARY KEY, account VARCHAR NOT NULL, "
       "category VARCHAR, mapped_at TIMESTAMP NOT NULL, mapped_by VARCHAR)")
"""One row per mapped account: its name as first mapped, and its category (NULL: ``NOT_SPEND``)."""

_NUMBER = re.compile(r"^\s*[0-9][0-9.\-]*\s*[-:]?\s*|\s*\(\s*[0-9][0-9.\-]*\s*\)\s*$")
"""An account number before the name (``6100 Advertising``, ``6100-10 - Events``, ``6100: PR``) or after it in
brackets (``Advertising (6100)``)."""


def account_key(name: str) -> str:
    """How accounts match: ignoring case and spacing (``6100  advertising`` is ``6100 Advertising``)."""
    return " ".join(name.lower().split())


def suggestion(name: str) -> str | None:
    """The category an account's name reads as, without its number (``6200 Events`` -> events); None when it
    names none. Shown beside an unmapped account, never applied."""
    return category_of(_NUMBER.sub("", name)) or category_of(name)


def check_category(account: str, category: str) -> str | None:
    """The category key to store (None for ``NOT_SPEND``), or ``StoreError`` naming what was expected."""
    key = category.strip().lower()
    if key == NOT_SPEND:
        return None
    if key not in CATEGORIES:
        raise StoreError(f"account {account!r}: {category!r} is not a cost category; expected one of "
                         f"{', '.join(CATEGORIES)}, or {NOT_SPEND!r} for an account that is not marketing or "
                         "sales spend")
    return key


def present(db: Connection) -> bool:
    """Whether the file has the table (a read-only open of a file older than it has not)."""
    return db.has_table("gl_accounts")


def mapped(db: Connection) -> pl.DataFrame:
    """Every mapped account: account_key, account, category (null: not spend), mapped_at, mapped_by."""
    if not present(db):
        return pl.DataFrame(schema={"account_key": pl.String, "account": pl.String, "category": pl.String,
                                    "mapped_at": pl.Datetime("us"), "mapped_by": pl.String})
    return db.query("SELECT account_key, account, category, mapped_at, mapped_by FROM gl_accounts "
                    "ORDER BY account_key")


def map_accounts(db: Connection, mapping: Mapping[str, str], user: str | None = None) -> dict[str, str | None]:
    """Map each account to a category key (or ``NOT_SPEND``), in one transaction: all, or none when one
    category is not a category. Returns what was stored, by account name."""
    stored: dict[str, str | None] = {}
    for account, category in mapping.items():
        if not account.strip():
            raise StoreError("an account's name is blank; name the account as the ledger does")
        stored[account] = check_category(account, category)
    now = datetime.now().replace(microsecond=0)
    with db.transaction() as con:
        for account, key in stored.items():
            con.execute("INSERT OR REPLACE INTO gl_accounts VALUES (?, ?, ?, ?, ?)",
                        [account_key(account), account.strip(), key, now, user or db.user])
        log_change(db, "gl_accounts_mapped", {"accounts": {a: c or NOT_SPEND for a, c in stored.items()}}, user)
    return stored


def unmap(db: Connection, account: str, user: str | None = None) -> bool:
    """Forget an account's mapping (it is then unmapped, and not reconciled); False when it had none."""
    with db.transaction() as con:
        found = con.execute("SELECT account FROM gl_accounts WHERE account_key = ?", [account_key(account)]).fetchall()
        if not found:
            return False
        con.execute("DELETE FROM gl_accounts WHERE account_key = ?", [account_key(account)])
        log_change(db, "gl_account_unmapped", {"account": found[0][0]}, user)
    return True
