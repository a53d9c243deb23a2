"""Saved budget scenarios: a named plan's header and its lines, kept in the store's own tables.

What a valid scenario is (its name, kind and lines) is the planner's to say
(``finance.planning.plans``); this module only writes and reads the rows, each change in one
transaction recorded in the change log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import log_change

ScenarioLine = tuple[str, str, Decimal]
"""(channel, category, amount to the cent)."""


class ScenarioExists(StoreError):
    """A scenario of that name is saved already, and was not to be replaced."""


def save_scenario(db: Connection, name: str, period: str, kind: str, note: str, settings: dict[str, Any],
                  lines: Sequence[ScenarioLine], *, overwrite: bool = False) -> None:
    """Save a scenario in one transaction; ``ScenarioExists`` if the name is taken and ``overwrite`` is false.

    A replaced scenario keeps the time it was first saved."""
    now = datetime.now().replace(microsecond=0)
    with db.transaction() as con:
        found = con.execute("SELECT created_at FROM scenarios WHERE name = ?", [name]).fetchall()
        if found and not overwrite:
            raise ScenarioExists(f"a scenario named {name!r} exists")
        created = found[0][0] if found else now
        con.execute("DELETE FROM scenario_lines WHERE scenario = ?", [name])
        con.execute("DELETE FROM scenarios WHERE name = ?", [name])
        con.execute("INSERT INTO scenarios VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [name, period, kind, note, json.dumps(settings), created, now])
        if lines:
            con.executemany("INSERT INTO scenario_lines VALUES (?, ?, ?, ?)",
                            [[name, channel, category, amount] for channel, category, amount in lines])
        log_change(db, "scenario_saved", {"name": name, "period": period, "kind": kind,
                                          "replaced": bool(found), "lines": len(lines)})


def list_scenarios(db: Connection) -> pl.DataFrame:
    """Saved scenarios: name, period, kind, note, spend (all lines), lines, created_at, updated_at."""
    return db.query(
        "SELECT s.name, s.period, s.kind, s.note, coalesce(sum(l.amount), 0)::DECIMAL(18,2) AS spend, "
        "count(l.amount) AS lines, s.created_at, s.updated_at FROM scenarios s "
        "LEFT JOIN scenario_lines l ON l.scenario = s.name GROUP BY ALL ORDER BY s.updated_at DESC, s.name")


def load_scenario(db: Connection, name: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
    """The scenario ``name`` as (name, period, kind, note, settings, updated_at) and its lines as
    (channel, category, amount), sorted; None if there is none."""
    found = db.one("SELECT name, period, kind, note, settings, updated_at FROM scenarios WHERE name = ?",
                   [name])
    if found is None:
        return None
    lines = db.rows("SELECT channel, category, amount FROM scenario_lines WHERE scenario = ? "
                    "ORDER BY channel, category", [name])
    return (*found[:4], json.loads(found[4] or "{}"), found[5]), lines


def scenario_names(db: Connection) -> list[str]:
    """The names of the saved scenarios, sorted."""
    return [row[0] for row in db.rows("SELECT name FROM scenarios ORDER BY name")]


def delete_scenario(db: Connection, name: str) -> None:
    """Remove a scenario and its lines in one transaction."""
    with db.transaction() as con:
        con.execute("DELETE FROM scenario_lines WHERE scenario = ?", [name])
        con.execute("DELETE FROM scenarios WHERE name = ?", [name])
        log_change(db, "scenario_deleted", {"name": name})


def has_scenario_tables(db: Connection) -> bool:
    """Whether the file has the scenario tables (a read-only open of a file older than them has not)."""
    return db.has_table("scenarios")
