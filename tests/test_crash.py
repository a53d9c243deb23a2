"""kill -9 in the middle of a large import: the store holds the state before it or after it.

A revenue file of 1.5 million rows is imported by the real CLI in a subprocess, which is
killed with SIGKILL at seeded random moments. After each kill the database must open and
hold exactly the state before the import or exactly the state after it: never a partial
row count, never a log entry without its rows or rows without their log entry.

The kill moments are drawn from durations measured first on a scratch copy of the store
(validation alone with ``--dry-run``, then a whole import), in three phases:

- ``validation``: a fraction of the validation time after the process starts;
- ``write``: after the database file is first modified (the rows are being written), a
  fraction of the measured write time later;
- ``commit``: as soon as the write-ahead log appears (the commit is being made durable,
  then checkpointed on close), within a few milliseconds.

Anchoring the last two on what the process does to its files keeps each kill in its phase
even when this machine runs slower or faster than during the measurement.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finance.store import Store

ROOT = Path(__file__).resolve().parent.parent
ROWS = 1_500_000
SEED = 20_241_123
PLAN = ("validation",) * 3 + ("write",) * 3 + ("commit",) * 2
POLL = 0.0005


@dataclass(frozen=True)
class BigFile:
    path: Path
    rows: int
    total: Decimal
    sha256: str


@pytest.fixture(scope="module")
def big_revenue(tmp_path_factory: pytest.TempPathFactory) -> BigFile:
    """A valid revenue CSV of ``ROWS`` rows across 2024; its total summed from integer cents."""
    path = tmp_path_factory.mktemp("crash") / "big_revenue.csv"
    index = pl.int_range(0, ROWS, dtype=pl.Int64, eager=True)
    # A multiplicative hash of the row number: reproducible cents from -500.00 to 9,500.02.
    frame = pl.DataFrame({"i": index}).with_columns(
        cents=(pl.col("i") * 2_654_435_761 + SEED) % 1_000_003 - 50_000)
    magnitude = pl.col("cents").abs()
    frame.select(
        customer_id=pl.lit("C") + (pl.col("i") % 250_000).cast(pl.String),
        date=(pl.date(2024, 1, 1) + pl.duration(days=pl.col("i") % 366)).dt.strftime("%Y-%m-%d"),
        revenue=pl.when(pl.col("cents") < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        + (magnitude // 100).cast(pl.String) + "." + (magnitude % 100).cast(pl.String).str.zfill(2),
    ).write_csv(path)
    total_cents = int(frame.get_column("cents").sum())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return BigFile(path, ROWS, Decimal(total_cents).scaleb(-2), sha)


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "finance", *map(str, args)]


def timed_run(*args: str | Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True, timeout=300)
    return time.monotonic() - start, done


@dataclass(frozen=True)
class State:
    totals: dict[str, dict[str, Any]]
    log: list[dict[str, Any]]  # every column of the imports log, oldest first
    revenue_rows: int


def state(db: Path) -> State:
    with Store(db) as store:
        count = store.one("SELECT count(*) FROM revenue_rows")
        log = store.query("SELECT * FROM imports ORDER BY import_id").to_dicts()
        return State(store.totals(), log, int(count[0]) if count else -1)


def is_after(before: State, now: State, big: BigFile) -> bool:
    """True for exactly the state after a complete import of ``big``; asserts it is that."""
    assert now.log[:-1] == before.log
    entry = now.log[-1]
    assert {k: entry[k] for k in ("kind", "file_name", "sha256", "row_count", "total", "status")} == {
        "kind": "revenue", "file_name": big.path.name, "sha256": big.sha256, "row_count": big.rows,
        "total": big.total, "status": "active"}
    expected = {**before.totals, "revenue": {"rows": before.totals["revenue"]["rows"] + big.rows,
                                             "total": before.totals["revenue"]["total"] + big.total}}
    assert now.totals == expected
    assert now.revenue_rows == before.revenue_rows + big.rows
    assert entry["import_id"] > max(row["import_id"] for row in before.log)
    return True


def file_mark(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_size, found.st_mtime_ns


def modified(path: Path, mark: tuple[int, int] | None) -> Callable[[], bool]:
    return lambda: file_mark(path) != mark


def has_data(path: Path) -> Callable[[], bool]:
    return lambda: (file_mark(path) or (0, 0))[0] > 0


def wait_until(proc: subprocess.Popen[bytes], condition: Callable[[], bool], limit: float) -> bool:
    """Poll until ``condition`` holds (True) or the process ends or ``limit`` passes (False)."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL)
    return False


@dataclass(frozen=True)
class Kill:
    phase: str
    at: float  # seconds after the process started
    signalled: bool  # the process was still running and died of SIGKILL
    touched: bool  # the database or its WAL had been modified when the signal was sent
    outcome: str  # "before" | "after"


def test_kill_9_mid_import_leaves_the_state_before_or_after(big_revenue: BigFile, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    wal = db.with_name(db.name + ".wal")
    small = tmp_path / "small_revenue.csv"
    small.write_text("customer_id,date,revenue,gross_margin\n"
                     "A1,2023-03-01,100.10,40.00\nA2,2023-04-15,\"$2,000.05\",(10.00)\nA1,2023-05-31,0.01,0\n")
    with Store(db) as store:
        assert store.import_file("revenue", small).status == "imported"
    small_total = Decimal("2100.16")
    assert state(db).totals["revenue"] == {"rows": 3, "total": small_total}

    # How long validation alone and a whole import take here, on a scratch copy of the store.
    scratch = tmp_path / "scratch.duckdb"
    shutil.copy(db, scratch)
    t_validate, dry = timed_run("import", "revenue", big_revenue.path, "--db", scratch, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    t_full, full = timed_run("import", "revenue", big_revenue.path, "--db", scratch)
    assert full.returncode == 0, full.stdout + full.stderr
    t_write = max(t_full - t_validate, 0.05)

    rng = random.Random(SEED)
    plan = list(PLAN)
    rng.shuffle(plan)
    kills: list[Kill] = []
    for phase in plan:
        before = state(db)
        marks = (file_mark(db), file_mark(wal))
        start = time.monotonic()
        proc = subprocess.Popen(cli("import", "revenue", big_revenue.path, "--db", db), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if phase == "validation":
            time.sleep(rng.uniform(0.15, 0.7) * t_validate)
        elif phase == "write":
            delay = rng.uniform(0.0, 0.8) * t_write
            if wait_until(proc, modified(db, marks[0]), 10 * t_full):
                time.sleep(delay)
        else:
            delay = rng.uniform(0.0, 0.01)
            if wait_until(proc, has_data(wal), 10 * t_full):
                time.sleep(delay)
        at = time.monotonic() - start
        touched = (file_mark(db), file_mark(wal)) != marks
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), proc.returncode
        now = state(db)  # the database opens after every kill
        outcome = "before" if now == before else "after" if is_after(before, now, big_revenue) else "?"
        kills.append(Kill(phase, at, proc.returncode == -signal.SIGKILL, touched, outcome))
        if proc.returncode == 0:
            assert outcome == "after"  # the kill came too late: the import finished
        if not touched:
            assert outcome == "before"  # nothing was written when the process died
        if outcome == "after":
            # Take the import out again (through the CLI) so the next round imports it anew.
            undo = subprocess.run(cli("undo", str(now.log[-1]["import_id"]), "--db", db), cwd=ROOT,
                                  capture_output=True, text=True, timeout=300)
            assert undo.returncode == 0, undo.stdout + undo.stderr
            assert state(db).totals == before.totals

    print(f"\nvalidation {t_validate:.2f}s, full import {t_full:.2f}s")
    for kill in kills:
        how = "SIGKILL" if kill.signalled else "had exited"
        print(f"  {kill.phase:<10} at {kill.at:5.2f}s {how:<10} db touched={kill.touched!s:<5} -> {kill.outcome}")
    print(f"before commit: {sum(k.outcome == 'before' for k in kills)}, "
          f"after commit: {sum(k.outcome == 'after' for k in kills)}")
    assert len(kills) == len(PLAN)
    # The test must have killed real imports, and some of them while rows were being written.
    assert any(k.signalled and k.outcome == "before" and k.touched for k in kills), kills

    # The store still works: the big file imports to completion with the right total.
    done = subprocess.run(cli("import", "revenue", big_revenue.path, "--db", db, "--format", "json"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["rows"], report["total"]) == (
        "imported", big_revenue.rows, str(big_revenue.total))
    final = state(db)
    assert final.totals["revenue"] == {"rows": 3 + big_revenue.rows, "total": small_total + big_revenue.total}
    assert final.revenue_rows == 3 + big_revenue.rows
    active = [row for row in final.log if row["status"] == "active"]
    assert [(row["file_name"], row["row_count"]) for row in active] == [
        ("small_revenue.csv", 3), (big_revenue.path.name, big_revenue.rows)]
