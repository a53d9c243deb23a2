"""Notes on the timeline on the command line: ``notes add``, ``notes list``, ``notes delete``."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from finance.cli.common import EXIT_OK, EXIT_REJECTED, add_db, fail
from finance.domain import literal
from finance.store import notes
from finance.store.database import Store, StoreError, cli_user, default_db_path


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD, e.g. 2025-11-03") from None


def add_parsers(sub: Any) -> None:
    note = sub.add_parser("notes", help="notes on the timeline (a price change, a campaign launch, a tracking "
                                        "outage): every time-series chart and the board pack show them")
    actions = note.add_subparsers(dest="action", required=True)
    adding = actions.add_parser("add", help="add a note (an editor's change, recorded in the change log)")
    adding.add_argument("text", help='what happened, e.g. "Brand campaign launch" (plain text, at most '
                                     f'{notes.MAX_CHARS} characters)')
    adding.add_argument("--date", dest="day", type=_day, required=True, metavar="YYYY-MM-DD",
                        help="the day it happened, or its first day")
    adding.add_argument("--end", type=_day, metavar="YYYY-MM-DD", help="its last day, for a stretch of days")
    about = adding.add_mutually_exclusive_group()
    about.add_argument("--channel", help="the channel it is about (default: all)")
    about.add_argument("--segment", help="the segment it is about (default: all)")
    add_db(adding)
    adding.add_argument("--format", choices=("text", "json"), default="text")
    listing = actions.add_parser("list", help="every note, by day")
    add_db(listing)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    deleting = actions.add_parser("delete", help="delete a note (its words stay in the change log)")
    deleting.add_argument("number", type=int, metavar="N", help="the note's number, from `notes list`")
    add_db(deleting)
    deleting.add_argument("--format", choices=("text", "json"), default="text")


def cmd_notes(args: argparse.Namespace) -> int:
    fmt = "json" if args.format == "json" else "text"
    path = args.db or default_db_path()
    if args.action != "add" and not path.exists():
        return fail(f"no database at {path}", fmt, EXIT_REJECTED)
    try:
        if args.action == "list":
            with Store(path, read_only=True) as store:
                return _print(notes.listed(store), fmt)
        with Store(path, user=cli_user()) as store:
            if args.action == "add":
                number = notes.add(store, args.day, args.text, end=args.end, channel=args.channel,
                                   segment=args.segment)
                print(json.dumps({"note": number}) if fmt == "json" else f"added note #{number}")
            else:
                was = notes.delete(store, args.number)
                print(json.dumps({"deleted": was}) if fmt == "json" else
                      f"deleted note #{args.number} ({literal.terminal(was['text'])}); its words stay in the "
                      "change log")
    except StoreError as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)
    return EXIT_OK


def _print(listed: Any, fmt: str) -> int:
    if fmt == "json":
        print(json.dumps([{"note": r["note_id"], "day": r["day"].isoformat(),
                           "end": r["end_day"].isoformat() if r["end_day"] else None, "text": r["text"],
                           "channel": r["channel"], "segment": r["segment"], "author": r["author"]}
                          for r in listed.iter_rows(named=True)], indent=2, ensure_ascii=False))
        return EXIT_OK
    if listed.is_empty():
        print('no notes yet: python -m finance notes add "Brand campaign launch" --date 2025-11-03')
        return EXIT_OK
    for r in listed.iter_rows(named=True):
        when = r["day"].isoformat() + (f" to {r['end_day'].isoformat()}" if r["end_day"] else "")
        about = r["channel"] or r["segment"]
        print(f"#{r['note_id']:<4} {when:<26} {literal.terminal(r['text'])}"
              + (f" ({literal.terminal(about)})" if about else "")
              + (f" - {literal.terminal(r['author'])}" if r["author"] else ""))
    return EXIT_OK
