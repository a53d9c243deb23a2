"""kill -9 in the middle of a large import: the store holds the state before it or after it.

A revenue file of a million rows is imported by the real CLI in a subprocess, which is
killed with SIGKILL at seeded random moments, 13 times or more. After each kill the database must
open and hold exactly the state before the import or exactly the state after it: never a
partial row count, never a log entry without its rows or rows without their log entry, never
a ``changes`` entry without its import. Every backup listed must open and hold the state it
was taken of, a copy cut short by the kill is never listed, and the writer's lock goes with
the killed process.

The test follows what the process does to its files through the kernel's file events
(inotify, so Linux only; ``Watch``), which tell the phase it is in, in order:

- ``validation``: nothing written yet (the file is read and checked, the store opened);
- ``backup``: the rotating backup is being copied (a new ``.partial`` file in the backups folder);
- ``prewrite``: the backup is in place, the database file not yet written to (not planned);
- ``write``: the backup is in place and the database file is being written to (rows written);
- ``commit``: the write-ahead log has been written to (the commit is made durable, then
  checkpointed into the database file);
- ``done``: the log has been checkpointed and deleted; the process is closing (not planned).

A kill is planned in a phase (``PLAN``); it waits for the process to enter that phase, then
for a seeded random fraction of that phase's duration, measured on the last complete import
(a first one before the kills, then the re-run after each kill), and sends SIGKILL. The phase
the kill landed in is read from every event the process made before it died, so it is exact;
a kill that lands in a later phase (the machine ran faster than measured) is checked all the
same, and the planned kill is tried again with a shorter delay.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finance.domain.schema import KINDS
from finance.store import backup
from finance.store.database import Store

ROOT = Path(__file__).resolve().parent.parent
ROWS = 1_000_000
SEED = 20_241_123
PLAN = ("validation",) * 3 + ("backup",) * 3 + ("write",) * 4 + ("commit",) * 3
ATTEMPTS = 4  # tries per planned kill to land in its phase; each try is a checked kill too
KEEP = 4  # backups kept ($FINANCE_BACKUPS), fewer than the backups taken: rotation is exercised
PHASES = ("validation", "backup", "prewrite", "write", "commit", "done")
FRACTIONS = {"validation": (0.1, 0.9), "backup": (0.0, 0.8), "write": (0.0, 0.85), "commit": (0.0, 0.85)}
POLL = 0.0005

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="follows the import with inotify"),
              pytest.mark.serial]


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


@dataclass(frozen=True)
class State:
    totals: dict[str, dict[str, Any]]
    log: list[dict[str, Any]]  # every column of the imports log, oldest first
    changes: list[dict[str, Any]]  # every column of the changes log, oldest first
    tables: dict[str, list[tuple[Any, ...]]]  # settings and the saved scenarios, whole
    rows: dict[str, tuple[int, int]]  # per kind: row count and an order-free hash of every row


def state(path: Path) -> State:
    """Everything a store (or a backup of one) holds, read through a read-only connection."""
    with Store(path, read_only=True) as store:
        log = store.query("SELECT * FROM imports ORDER BY import_id").to_dicts()
        changes = store.query("SELECT * FROM changes ORDER BY change_id").to_dicts()
        tables = {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in ("settings", "scenarios", "scenario_lines")}
        rows = {}
        for kind in KINDS:
            found = store.one(f"SELECT count(*), coalesce(sum(hash(t)), 0)::HUGEINT FROM {kind}_rows t")
            assert found is not None
            rows[kind] = (int(found[0]), int(found[1]))
        return State(store.totals(), log, changes, tables, rows)


def detail(change: dict[str, Any]) -> dict[str, Any]:
    return json.loads(change["detail"])


def assert_consistent(found: State) -> None:
    """The changes log agrees with the imports log: one ``import`` per import, one ``undo`` per undone one."""
    actions = Counter(change["action"] for change in found.changes)
    assert set(actions) <= {"import", "undo"}, actions
    imported = [detail(c)["import_id"] for c in found.changes if c["action"] == "import"]
    undone = [detail(c)["import_id"] for c in found.changes if c["action"] == "undo"]
    assert imported == [row["import_id"] for row in found.log]
    assert sorted(undone) == [row["import_id"] for row in found.log if row["status"] == "undone"]
    assert all(row["status"] in ("active", "undone") for row in found.log)


def is_after(before: State, now: State, big: BigFile) -> bool:
    """True for exactly the state after a complete import of ``big``; asserts it is that."""
    assert now.log[:-1] == before.log
    entry = now.log[-1]
    assert {k: entry[k] for k in ("kind", "file_name", "sha256", "row_count", "total", "status")} == {
        "kind": "revenue", "file_name": big.path.name, "sha256": big.sha256, "row_count": big.rows,
        "total": big.total, "status": "active"}
    assert entry["import_id"] > max(row["import_id"] for row in before.log)
    expected = {**before.totals, "revenue": {"rows": before.totals["revenue"]["rows"] + big.rows,
                                             "total": before.totals["revenue"]["total"] + big.total}}
    assert now.totals == expected
    assert now.rows["revenue"][0] == before.rows["revenue"][0] + big.rows
    assert {k: v for k, v in now.rows.items() if k != "revenue"} == {
        k: v for k, v in before.rows.items() if k != "revenue"}
    assert now.changes[:-1] == before.changes
    assert now.changes[-1]["action"] == "import"
    assert detail(now.changes[-1]) == {"import_id": entry["import_id"], "kind": "revenue", "file": big.path.name,
                                       "rows": big.rows, "replaced": []}
    assert now.tables == before.tables
    assert_consistent(now)
    return True


def assert_undone(before: State, after: State, now: State) -> None:
    """``now`` is ``before`` with the import that made ``after`` logged and undone."""
    import_id = after.log[-1]["import_id"]
    assert (now.totals, now.rows, now.tables) == (before.totals, before.rows, before.tables)
    assert now.log[:-1] == before.log
    assert now.log[-1] == {**after.log[-1], "status": "undone", "undone_at": now.log[-1]["undone_at"],
                           "undone_by": now.log[-1]["undone_by"]}
    assert now.log[-1]["undone_at"] is not None and now.log[-1]["undone_by"]
    assert now.changes[:-1] == after.changes
    assert (now.changes[-1]["action"], detail(now.changes[-1])["import_id"]) == ("undo", import_id)
    assert_consistent(now)


def file_mark(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_size, found.st_mtime_ns


def listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_Q_OVERFLOW = 0x2, 0x80, 0x100, 0x200, 0x4000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


class Watch:
    """The phase an import process is in, from the file events the kernel reports (inotify).

    Events queue up in the kernel as the process makes them, so none is missed however late the
    test reads them (a stat poll misses a write-ahead log that lives a few milliseconds while the
    test is not scheduled), and reading them after the process died gives the exact phase it
    died in. The phases only move forward:

    - ``backup`` once a ``.partial`` file is created in the backups folder;
    - ``prewrite`` once a backup is renamed into place;
    - ``write`` once the database file is written to after that;
    - ``commit`` once the write-ahead log is written to;
    - ``done`` once the write-ahead log is deleted (checkpointed).
    """

    def __init__(self, db: Path) -> None:
        self.db, self.wal, self.folder = db, db.with_name(db.name + ".wal"), backup.backup_dir(db)
        assert file_mark(self.wal) is None, "the database must be checkpointed before an import starts"
        assert _LIBC is not None
        self.fd = _LIBC.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.dirs = {}
        for folder in (db.parent, self.folder):
            wd = _LIBC.inotify_add_watch(self.fd, os.fsencode(folder), IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self.dirs[wd] = folder
        self.db_mark = file_mark(db)
        self.names = listing(self.folder)
        self.phase = "validation"
        self.db_writes = 0  # events writing the database file once the backup was in place
        self.start = time.monotonic()
        self.first: dict[str, float] = {"validation": 0.0}  # phase -> seconds after start it was first seen

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def new_files(self) -> set[str]:
        return listing(self.folder) - self.names

    def _advance(self, phase: str) -> None:
        if PHASES.index(phase) > PHASES.index(self.phase):
            self.phase = phase
            self.first.setdefault(phase, time.monotonic() - self.start)

    def sample(self) -> str:
        """Read the events queued so far; the phase they show."""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return self.phase
            offset = 0
            while offset < len(data):
                wd, mask, _, size = EVENT.unpack_from(data, offset)
                name = os.fsdecode(data[offset + EVENT.size:offset + EVENT.size + size].rstrip(b"\0"))
                offset += EVENT.size + size
                assert not mask & IN_Q_OVERFLOW, "inotify queue overflow"
                if self.dirs.get(wd) == self.folder:
                    if mask & IN_CREATE and name.endswith(backup.PARTIAL) and name.startswith(self.db.stem + "."):
                        self._advance("backup")
                    elif mask & IN_MOVED_TO and name.endswith(".import.duckdb"):
                        self._advance("prewrite")
                elif name == self.db.name and mask & IN_MODIFY and self.phase in ("prewrite", "write"):
                    self.db_writes += 1
                    self._advance("write")
                elif name == self.wal.name and mask & IN_MODIFY:
                    self._advance("commit")
                elif name == self.wal.name and mask & IN_DELETE and self.phase == "commit":
                    self._advance("done")

    def durations(self, end: float) -> dict[str, float]:
        """Each planned phase's length in a complete run (those seen long enough to measure)."""
        first = self.first
        backed_up = first.get("prewrite", end)
        found = {"validation": first.get("backup", backed_up),
                 "backup": backed_up - first.get("backup", backed_up),
                 "write": first.get("commit", end) - first.get("write", end),
                 "commit": first.get("done", end) - first.get("commit", end)}
        return {phase: seconds for phase, seconds in found.items() if seconds > 0.001}


def watched_run(*args: str | Path, db: Path) -> tuple[Watch, subprocess.CompletedProcess[str], float]:
    """Run the CLI to its end, following its phases all along."""
    with Watch(db) as watch:
        proc = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None:
            watch.sample()
            time.sleep(POLL)
        end = time.monotonic() - watch.start
        watch.sample()
    out, err = proc.communicate(timeout=60)
    return watch, subprocess.CompletedProcess(proc.args, proc.returncode, out, err), end


def kill_in(proc: subprocess.Popen[bytes], watch: Watch, phase: str, delay: float) -> tuple[str, float]:
    """Wait for ``phase`` (validation: the start), then ``delay`` seconds more, sampling; SIGKILL.

    Returns the phase the process died in, from every file event it made (or ``exited`` when it
    had already finished), and when the signal was sent.
    """
    rank = PHASES.index
    give_up = time.monotonic() + 300
    while proc.poll() is None and rank(watch.sample()) < rank(phase) and time.monotonic() < give_up:
        time.sleep(POLL)
    deadline = (watch.start if phase == "validation" else time.monotonic()) + delay
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL)
        watch.sample()
    at = time.monotonic() - watch.start
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), proc.returncode
    return ("exited" if proc.returncode == 0 else watch.sample()), at


@dataclass
class Backups:
    """Every backup seen so far, with the state it must hold and its file mark when checked."""

    db: Path
    expected: dict[str, tuple[State, tuple[int, int] | None]] = field(default_factory=dict)

    def check(self, new_state: State | None, *, killed: bool = False) -> list[str]:
        """Every listed backup opens with DuckDB and holds the state it was taken of.

        A backup not seen before must be an import's and hold ``new_state``; one seen
        before must be the same file. No ``.partial`` file is ever listed, and at most ``KEEP``
        are, the newest (one more when an import was ``killed`` between its copy and the rotation;
        the next backup rotates it away). Returns the names of the new ones.
        """
        listed = backup.list_backups(self.db)
        assert len(listed) <= KEEP + killed, [b.path.name for b in listed]
        new = []
        for found in listed:
            name = found.path.name
            assert not name.endswith(backup.PARTIAL) and name.endswith(".duckdb"), name
            if name in self.expected:
                taken_of, mark = self.expected[name]
                assert file_mark(found.path) == mark, f"{name} changed after it was taken"
                with Store(found.path, read_only=True) as opened:  # it still opens
                    assert opened.one("SELECT count(*) FROM imports") == (len(taken_of.log),)
            else:
                assert new_state is not None, f"unexpected backup {name}"
                assert found.reason == "import", name
                assert state(found.path) == new_state, f"{name} does not hold the state it was taken of"
                self.expected[name] = (new_state, file_mark(found.path))
                new.append(name)
        assert len(new) <= 1, new
        names = {found.path.name for found in listed}
        dropped = set(self.expected) - names  # rotation drops the oldest only
        assert not dropped or max(dropped) < min(names), (dropped, names)
        return new


def partials(folder: Path) -> set[str]:
    return {name for name in listing(folder) if name.endswith(backup.PARTIAL)}


def assert_lock_free(db: Path) -> None:
    """The killed writer's lock went with it: the lock file locks at once, a writable store opens at once."""
    with open(Path(str(db) + ".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    start = time.monotonic()
    with Store(db, busy_timeout=0, keep_backups=0):  # no waiting at all: StoreBusy if anything holds it
        pass
    assert time.monotonic() - start < 5


@dataclass(frozen=True)
class Kill:
    planned: str
    landed: str  # the phase read from the files once the process was dead, or "exited"
    attempt: int
    at: float  # seconds after the process started
    delay: float  # the drawn delay after the phase was entered (validation: after the start)
    db_writes: int  # writes to the database file reported after the backup (consecutive ones merge)
    outcome: str  # "before" | "after"


def test_kill_9_mid_import_leaves_the_state_before_or_after(
        big_revenue: BigFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINANCE_BACKUP_DIR", raising=False)
    monkeypatch.setenv("FINANCE_BACKUPS", str(KEEP))  # the CLI processes inherit it
    db = tmp_path / "store.duckdb"
    wal = db.with_name(db.name + ".wal")
    folder = backup.backup_dir(db)
    small = tmp_path / "small_revenue.csv"
    small.write_text("customer_id,date,revenue,gross_margin\n"
                     "A1,2023-03-01,100.10,40.00\nA2,2023-04-15,\"$2,000.05\",(10.00)\nA1,2023-05-31,0.01,0\n")
    with Store(db, keep_backups=0) as store:
        assert store.import_file("revenue", small).status == "imported"
    small_total = Decimal("2100.16")
    before = state(db)
    assert before.totals["revenue"] == {"rows": 3, "total": small_total}
    assert_consistent(before)
    folder.mkdir(parents=True, exist_ok=True)  # watched from the first import on
    backups = Backups(db)
    import_args = ("import", "revenue", big_revenue.path, "--db", db, "--format", "json")
    completed = 0  # imports of the big file that reached the database (each undone again)

    def complete_and_undo(before: State, now: State) -> tuple[State, dict[str, float]]:
        """Run the import to its end, check it, undo it; the new state and the phases measured.

        ``now`` is ``before`` (the import runs again) or the state after it (found unchanged).
        """
        nonlocal completed
        expect = "imported" if now == before else "unchanged"
        watch, done, end = watched_run(*import_args, db=db)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["status"] == expect, report
        assert (report["rows"], report["total"]) == (big_revenue.rows, str(big_revenue.total))
        assert not partials(folder), "a new backup removes the copy a killed one left"
        after = state(db)
        if expect == "imported":
            assert is_after(before, after, big_revenue)
            assert report["import_id"] == after.log[-1]["import_id"]
            assert len(backups.check(before)) == 1
            completed += 1
        else:  # nothing written, nothing backed up
            assert after == now and not backups.check(None)
        # Undone here, without a backup, so every backup listed is one an import took.
        with Store(db, keep_backups=0, user="crash test") as store:
            store.undo(after.log[-1]["import_id"], backup_first=False)
        assert not backups.check(None)
        now = state(db)
        assert_undone(before, after, now)
        return now, watch.durations(end) if expect == "imported" else {}

    # A first complete import measures each phase here; the re-run after each kill measures anew.
    before, durations = complete_and_undo(before, before)
    for phase in FRACTIONS:
        durations.setdefault(phase, {"backup": 0.02, "commit": 0.05}.get(phase, 0.5))
    measured = dict(durations)

    rng = random.Random(SEED)
    plan = list(PLAN)
    rng.shuffle(plan)
    kills: list[Kill] = []
    for planned in plan:
        for attempt in range(ATTEMPTS):
            low, high = FRACTIONS[planned]
            delay = rng.uniform(low, high) * 0.5 ** attempt * durations[planned]
            with Watch(db) as watch:
                proc = subprocess.Popen(cli(*import_args), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                landed, at = kill_in(proc, watch, planned, delay)
            new_files = watch.new_files()

            now = state(db)  # the database opens (read-only) after every kill
            outcome = "before" if now == before else "after" if is_after(before, now, big_revenue) else "?"
            assert_consistent(now)
            kills.append(Kill(planned, landed, attempt, at, delay, watch.db_writes, outcome))
            # What the phase it died in allows.
            if landed in ("validation", "backup", "prewrite", "write"):
                assert outcome == "before", kills[-1]  # nothing was committed
            if landed in ("done", "exited"):
                assert outcome == "after", kills[-1]  # the commit was checkpointed
            if landed == "validation":
                assert not new_files and file_mark(db) == watch.db_mark, new_files
            if landed == "backup":  # cut short mid-copy: only the .partial file is left, and not listed
                assert file_mark(db) == watch.db_mark
                assert new_files and all(name.endswith(backup.PARTIAL) for name in new_files), new_files
            if landed == "write":
                assert file_mark(db) != watch.db_mark and kills[-1].db_writes >= 1  # rows were being written
            if landed == "commit":
                assert (file_mark(wal) or (0, 0))[0] > 0
            # Every listed backup opens and holds the state it was taken of; the one this import
            # took (if it got that far) holds exactly the state before it.
            took = backups.check(before, killed=True)
            assert bool(took) == (landed not in ("validation", "backup")), (landed, took)

            assert_lock_free(db)  # recovers a commit's log if the kill left one: still the same state
            assert state(db) == now

            # Running the same import again finishes it, or finds it already there; then undo it.
            before, found = complete_and_undo(before, now)
            durations.update(found)
            if landed == planned:
                break
        else:
            pytest.fail(f"no kill of {ATTEMPTS} landed in the {planned} phase: {kills[-ATTEMPTS:]}")

    print("\nphases measured on the first import: " + ", ".join(f"{p} {s:.3f}s" for p, s in measured.items()))
    print("  and on the last re-run: " + ", ".join(f"{p} {s:.3f}s" for p, s in durations.items()))
    for kill in kills:
        print(f"  planned {kill.planned:<10} try {kill.attempt} delay {kill.delay:6.3f}s killed at {kill.at:5.2f}s "
              f"in {kill.landed:<10} db writes seen {kill.db_writes:>3} -> {kill.outcome}")
    tally = Counter((kill.landed, kill.outcome) for kill in kills)
    print(f"  {'landed in':<11}{'kills':>6}{'before':>8}{'after':>7}")
    for phase in (*PHASES, "exited"):
        count = sum(n for (p, _), n in tally.items() if p == phase)
        if count:
            print(f"  {phase:<11}{count:>6}{tally[phase, 'before']:>8}{tally[phase, 'after']:>7}")
    outcomes = Counter(kill.outcome for kill in kills)
    print(f"  {'all':<11}{len(kills):>6}{outcomes['before']:>8}{outcomes['after']:>7}"
          f"   (retries: {len(kills) - len(plan)}, imports completed and undone: {completed})")

    signalled = [kill for kill in kills if kill.landed != "exited"]
    assert len(signalled) >= len(PLAN)
    assert Counter(k.landed for k in kills if k.landed == k.planned) == Counter(PLAN)
    assert outcomes["before"] >= 1 and outcomes["after"] >= 1, outcomes  # a commit kill can end either way

    final = state(db)
    assert final.totals["revenue"] == {"rows": 3, "total": small_total}
    assert [(row["file_name"], row["status"]) for row in final.log] == [("small_revenue.csv", "active")] + [
        (big_revenue.path.name, "undone")] * (completed + outcomes["after"])
