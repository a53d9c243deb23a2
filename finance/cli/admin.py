"""Commands that look after the database file: the demo company, backups and restore."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, fail
from finance.store import backup
from finance.store.database import Store, StoreError, cli_user, default_db_path, restore


def cmd_demo(args: argparse.Namespace) -> int:
    from finance.demo import build_demo_db

    path = args.db or default_db_path()
    built = build_demo_db(path, force=args.force)
    print(f"{'built' if built else 'kept existing'} demo database {path}")
    if args.recheck:
        from finance.demo import install_demo_check

        install_demo_check(path, rerun=True)
        print("ran the demo's model check again and shipped it in sample_data/model-check.json")
    return EXIT_OK


def cmd_backups(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    found = backup.list_backups(path)
    if args.format == "json":
        print(json.dumps([{"number": n, "path": str(b.path), "taken_at": b.taken_at.isoformat(), "before": b.reason,
                           "bytes": b.size} for n, b in enumerate(found, start=1)], indent=2))
        return EXIT_OK
    if not found:
        print(f"no backups of {path} in {backup.backup_dir(path)}")
        return EXIT_OK
    print(f"backups of {path} (restore one with: python -m finance restore N --db {path})")
    print(f"{'N':>3}  {'taken (UTC)':<21}{'before':<12}{'size':>12}  file")
    for number, b in enumerate(found, start=1):
        print(f"{number:>3}  {b.taken_at:%Y-%m-%d %H:%M:%S}  {b.reason:<12}{b.size:>12,}  {b.path}")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    if not path.exists():
        return fail(f"no database at {path}", "text", EXIT_REJECTED)
    try:
        with Store(path, user=cli_user()) as store:
            taken = store.backup("manual")
    except StoreError as exc:
        return fail(str(exc), "text", EXIT_FAILED)
    print(f"backed up {path} to {taken}" if taken else f"backups are off (${backup.ENV_BACKUPS}=0)")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    if args.backup.isdigit():
        found = backup.list_backups(path)
        number = int(args.backup)
        if not 1 <= number <= len(found):
            return fail(f"there is no backup number {number} of {path} ({len(found)} found; "
                         "see python -m finance backups)", "text", EXIT_REJECTED)
        source = found[number - 1].path
    else:
        source = Path(args.backup)
        if not source.is_file():
            return fail(f"no backup file {source}", "text", EXIT_REJECTED)
    try:
        kept = restore(path, source, user=cli_user())
    except StoreError as exc:
        return fail(str(exc), "text", EXIT_FAILED)
    print(f"restored {path} from {source}")
    if kept:
        print(f"the database it replaced is kept as {kept}")
    return EXIT_OK
