"""Rotating copies of the database file, taken before every change that rewrites rows.

A backup is a whole, consistent DuckDB file: the store checkpoints (so the file holds every
committed change and the write-ahead log is empty) while it holds the writer's lock, then the
file is copied to a temporary name, flushed to disk and renamed into place. A process killed
mid-copy leaves a ``.partial`` file that is never listed and is removed by the next backup.

Where and how many:
- ``$FINANCE_BACKUP_DIR``, else a ``backups`` folder beside the database;
- the newest ``$FINANCE_BACKUPS`` are kept (default 10; 0 turns backups off).

A setting that cannot be used (a count that is not a whole number, a folder that is a file) is a
``SettingError`` naming the variable, its value and what was expected, never a traceback.

A backup is named ``<database stem>.<UTC time>.<reason>.duckdb``, so names sort by age.
``python -m finance backups`` lists them and ``python -m finance restore N`` puts one back.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

ENV_BACKUPS = "FINANCE_BACKUPS"
ENV_BACKUP_DIR = "FINANCE_BACKUP_DIR"
DEFAULT_KEEP = 10
PARTIAL = ".partial"
STAMP = "%Y%m%dT%H%M%S%fZ"


class SettingError(ValueError):
    """An environment setting that cannot be used: the message names the variable, its value and
    what was expected."""


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime
    reason: str
    size: int


N = TypeVar("N", int, float)


def env_number(name: str, default: N, parse: Callable[[str], N], expected: str,
               error: type[Exception] = ValueError) -> N:
    """The environment setting ``name`` as a finite number of 0 or more (``parse``: int or float),
    else ``default`` when unset; ``error`` names the variable, its value and what was ``expected``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number: N | None = parse(value)
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise error(f"{name}={value!r}: expected {expected}")
    return number


def keep_count() -> int:
    """How many backups to keep: ``$FINANCE_BACKUPS``, else 10."""
    return env_number(ENV_BACKUPS, DEFAULT_KEEP, int, "a whole number of backups to keep, 0 or more (0 for none)",
                      SettingError)


def backup_dir(db: Path) -> Path:
    """``$FINANCE_BACKUP_DIR``, else ``backups`` beside the database; a setting naming something
    that is not a folder is a ``SettingError``."""
    env = os.environ.get(ENV_BACKUP_DIR)
    if not env:
        return db.parent / "backups"
    folder = Path(env)
    if folder.exists() and not folder.is_dir():
        raise SettingError(f"{ENV_BACKUP_DIR}={env!r}: expected a folder for the backups, and that is a file")
    return folder


def list_backups(db: Path) -> list[Backup]:
    """The database's backups, newest first."""
    folder = backup_dir(db)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{db.stem}.*.duckdb"):
        named = _parse(db, path.name)
        if named is None:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # dropped by a writer's rotation meanwhile
            continue
        found.append(Backup(path, named[0], named[1], size))
    return sorted(found, key=lambda b: b.path.name, reverse=True)


def _parse(db: Path, name: str) -> tuple[datetime, str] | None:
    """(taken at, reason) when ``name`` is a backup of ``db``: ``<stem>.<stamp>.<reason>.duckdb``."""
    if not name.startswith(db.stem + ".") or not name.endswith(".duckdb"):
        return None
    parts = name[len(db.stem) + 1:-len(".duckdb")].split(".")
    if len(parts) != 2 or not parts[1].isidentifier():
        return None
    try:
        return datetime.strptime(parts[0], STAMP).replace(tzinfo=UTC), parts[1]
    except ValueError:
        return None


def copy_durably(source: Path, target: Path) -> None:
    """Copy to ``target`` through a temporary name: ``target`` is either absent or complete."""
    partial = target.with_name(target.name + PARTIAL)
    with open(source, "rb") as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, length=16 * 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    _sync_dir(target.parent)


def take(db: Path, reason: str, keep: int | None = None) -> Path | None:
    """Copy the (checkpointed) database file as a new backup and drop the oldest beyond ``keep``.

    The caller holds the writer's lock and has checkpointed. Returns the backup, or None when
    backups are off.
    """
    keep = keep_count() if keep is None else keep
    if keep <= 0 or not db.exists():
        return None
    target = _new_name(db, reason)
    for stale in target.parent.glob(f"{db.stem}.*{PARTIAL}"):  # left by a killed backup of this database
        if _parse(db, stale.name[:-len(PARTIAL)]) is not None:
            stale.unlink(missing_ok=True)
    copy_durably(db, target)
    for old in list_backups(db)[keep:]:
        old.path.unlink(missing_ok=True)
    return target


def keep_unreadable(db: Path) -> Path:
    """Copy a database DuckDB cannot open, with its write-ahead log, beside the backups (never
    rotated out by name order alone: it is listed like any backup, reason ``unreadable``)."""
    target = _new_name(db, "unreadable")
    copy_durably(db, target)
    wal = Path(str(db) + ".wal")
    if wal.exists():
        copy_durably(wal, Path(str(target) + ".wal"))
    return target


def _new_name(db: Path, reason: str) -> Path:
    folder = backup_dir(db)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if not os.environ.get(ENV_BACKUP_DIR):
            raise
        # A parent that is a file, or a folder we may not write: the setting is what to fix.
        raise SettingError(f"{ENV_BACKUP_DIR}={str(folder)!r}: expected a folder for the backups, which "
                           f"cannot be made ({exc.strerror or exc})") from None
    return folder / f"{db.stem}.{datetime.now(UTC).strftime(STAMP)}.{reason}.duckdb"


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe(db: Path) -> str:
    """A sentence pointing at the newest backups and the restore command (for error messages)."""
    try:
        backups = list_backups(db)
    except SettingError as exc:  # the message this goes into is about something else: say both
        return f"The backups cannot be listed: {exc}."
    if not backups:
        return f"No backups were found in {backup_dir(db)}."
    newest = backups[0]
    return (f"{len(backups)} backup(s) are in {backup_dir(db)}, the newest taken {newest.taken_at:%Y-%m-%d %H:%M:%S} "
            f"UTC (before: {newest.reason}). List them with `python -m finance backups --db {db}` and put one "
            f"back with `python -m finance restore 1 --db {db}` (1 = the newest).")


__all__ = ["Backup", "SettingError", "backup_dir", "copy_durably", "describe", "keep_count", "keep_unreadable",
           "list_backups", "take"]
