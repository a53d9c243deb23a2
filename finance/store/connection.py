"""Opening the database file: where it is, who writes, the writers' lock and the wait for a busy file.

- one writer at a time: a writable connection holds an exclusive lock on ``<database>.lock`` for as
  long as it is open (threads and processes alike), on top of DuckDB's own file lock. Writers keep
  it for one change and close; another waits up to ``$FINANCE_BUSY_TIMEOUT`` seconds, then gets a
  clear "busy" error;
- a database file is data, never code: every file is opened with DuckDB's external access off and
  its configuration locked (``connect_file``), so SQL stored in it (a view, a macro) cannot read
  files or URLs or load extensions.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import duckdb
import polars as pl

from finance.store import backup
from finance.store.errors import StoreBusy, StoreError, StoreUnreadable

ENV_DB = "FINANCE_DB"
ENV_USER = "FINANCE_USER"
ENV_BUSY_TIMEOUT = "FINANCE_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds to wait for another process to release the database file, unless ``$FINANCE_BUSY_TIMEOUT`` says otherwise."""


PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DB = PROJECT_DIR / "data" / "finance.duckdb"


def default_db_path() -> Path:
    """``$FINANCE_DB`` when set, else ``data/finance.duckdb`` in the project."""
    env = os.environ.get(ENV_DB)
    return Path(env) if env else DEFAULT_DB


def busy_timeout_setting() -> float:
    """Seconds to wait for a busy database: ``$FINANCE_BUSY_TIMEOUT``, else 10.

    Read when a store is opened, not when this module is imported, so that a bad value is a
    ``StoreError`` naming it (shown like any other) instead of a traceback on start-up.
    """
    return backup.env_number(ENV_BUSY_TIMEOUT, DEFAULT_BUSY_TIMEOUT, float,
                             "a number of seconds to wait for a busy database, 0 or more "
                             f"(default {DEFAULT_BUSY_TIMEOUT:g}); nothing was changed", StoreError)


def cli_user() -> str:
    """Who a command-line change is recorded as: ``$FINANCE_USER``, else the login name."""
    name = os.environ.get(ENV_USER)
    if name:
        return name
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "command line"


DUCKDB_MEMORY_SHARE = 0.4
"""The share of the machine's memory DuckDB may hold before it spills to disk (beside the database file,
``<file>.tmp``). Its own default, 80%, leaves too little for the Python process it runs in: an import of
10^8 revenue rows holds the parsed file (about 10 GiB) while the summaries are remade from the ledger, and
the two together ran a 24 GiB machine out of memory."""


def _memory_limit() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "80%"  # DuckDB's own default, where the machine does not say
    return f"{max(256, int(total * DUCKDB_MEMORY_SHARE) >> 20)}MiB"


_FILE_CONFIG: dict[str, Any] = {
    "memory_limit": _memory_limit(),
    # No file, URL, ATTACH, COPY, extension or replacement scan from SQL: what a view or macro in a
    # file says cannot reach outside it. The store needs none of these: rows come in as registered
    # Arrow relations and go out as Arrow results, and backups are copied by Python, not by SQL.
    "enable_external_access": False,
    # Last, so that nothing (neither SQL in the file nor a later SET) can turn the above back on.
    "lock_configuration": True,
}


def connect_file(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file as data, never code: external access off, configuration locked.

    Every connection the product opens on a database file goes through here (DuckDB refuses a
    second connection to an open file with another configuration, so they must all agree).
    """
    return duckdb.connect(str(path), read_only=read_only, config=dict(_FILE_CONFIG))


def open_waiting(path: Path, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another connection holds it.

    DuckDB lets one process write a file at a time, and within a process a file is open either
    read-only or writable. The app's reads are short, so a brief wait usually succeeds. Past
    ``busy_timeout`` the caller gets a clear "busy" error; a file DuckDB cannot read at all
    gives ``StoreUnreadable``, which points at the backups.
    """
    text = ""
    for _ in _attempts(busy_timeout):
        try:
            return connect_file(path, read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            text = str(exc)
            message = text.replace(str(path), "")  # a folder named "clockwork" is no lock
            held = ("Could not set lock" in message or "Conflicting lock" in message
                    or "different configuration" in message)
            if not held:
                raise unreadable(path, exc) from None
        except duckdb.Error as exc:
            raise unreadable(path, exc) from None
    raise StoreBusy(f"the database {path} is busy: another process or session is writing to it "
                    f"({text.split(': ', 2)[-1].split('. See')[0]}); try again in a moment")


def _attempts(busy_timeout: float) -> Iterator[None]:
    """One turn per attempt, with a growing pause before each retry, until ``busy_timeout`` seconds have passed."""
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        yield
        if time.monotonic() >= deadline:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def keep_count() -> int:
    with setting_errors():
        return backup.keep_count()


@contextmanager
def setting_errors() -> Iterator[None]:
    """A backup setting that cannot be used is a ``StoreError`` like any other, met before anything is written."""
    try:
        yield
    except backup.SettingError as exc:
        raise StoreError(f"{exc}; nothing was changed") from None


def unreadable(path: Path, exc: Exception) -> StoreUnreadable:
    reason = " ".join(str(exc).split())[:300]
    return StoreUnreadable(f"the database {path} cannot be opened ({reason}). {backup.describe(path)}")


class WriterLock:
    """An exclusive ``flock`` on ``<database>.lock``: one writer at a time, across threads and processes.

    Each holder opens the file anew, so two threads of one process exclude each other as two
    processes do. The lock goes with the process: a killed writer never leaves it held.
    """

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.file = open(Path(str(path) + ".lock"), "a+b")  # held until release()
        for _ in _attempts(busy_timeout):
            try:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        self.file.close()
        raise StoreBusy(f"the database {path} is busy: another import, undo or change is being written; "
                        "try again in a moment")

    def release(self) -> None:
        if not self.file.closed:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()


class Connection:
    """One open database file: the writers' lock (unless read-only), the DuckDB connection, its
    transactions and queries, and the backup taken before a change."""

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False,
                 busy_timeout: float | None = None, user: str | None = None,
                 keep_backups: int | None = None) -> None:
        busy_timeout = busy_timeout_setting() if busy_timeout is None else busy_timeout
        self.path = Path(path) if path is not None else default_db_path()
        self.user = user
        self.busy_timeout = busy_timeout
        self.keep_backups = keep_backups
        self._lock: WriterLock | None = None
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock = WriterLock(self.path, busy_timeout)
            except OSError as exc:  # a folder that is a file, or one we may not write ($FINANCE_DB, --db)
                raise StoreError(f"the database {self.path} cannot be written: {exc.strerror or exc} "
                                 f"({exc.filename or self.path}); nothing was changed") from None
        try:
            self.con = open_waiting(self.path, read_only, busy_timeout)
        except BaseException:
            if self._lock:
                self._lock.release()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._lock:
                self._lock.release()

    def backup(self, reason: str) -> Path | None:
        """Back the file up as it stands (every committed change), before ``reason`` changes it."""
        if self._lock is None:
            raise StoreError("a read-only store cannot take a backup")
        keep = keep_count() if self.keep_backups is None else self.keep_backups
        if keep <= 0:
            return None
        self.checkpoint()
        # DuckDB holds the file with a POSIX lock, and POSIX drops every lock a process holds on a
        # file when the process closes any descriptor of it, as the copy does. So the connection
        # is closed for the copy (the writers' lock still excludes other writers; a reader may
        # open the checkpointed file meanwhile) and opened again before anything is written.
        self.con.close()
        try:
            with setting_errors():
                return backup.take(self.path, reason, keep)
        finally:
            self.con = open_waiting(self.path, False, self.busy_timeout)

    def checkpoint(self) -> None:
        """Write every committed change into the database file itself (its write-ahead log emptied)."""
        self.con.execute("CHECKPOINT")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed on success, rolled back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement with bound parameters and fetch every result row."""
        return self.con.execute(sql, list(params)).fetchall()

    def has_table(self, name: str) -> bool:
        """Whether the file has the table ``name`` (a read-only open of a file older than it has not)."""
        found = self.one("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name])
        return bool(found and found[0])

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first result row, or None; the result is always fully consumed."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """A query's result as a Polars frame (via Arrow, no Python objects)."""
        return self.con.sql(sql, params=list(params) if params else None).pl()
