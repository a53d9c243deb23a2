"""Command line: everything the app does with the store, scriptable. The parser and ``main`` are here;
each command group runs in its own module (data, figures, planning, admin).

Exit codes: 0 done (imported or unchanged), 2 the file was rejected or the arguments are
wrong (nothing was written), 1 an operation could not be done (e.g. undo out of order).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from finance.cli.admin import cmd_backup, cmd_backups, cmd_demo, cmd_restore
from finance.cli.common import EXIT_FAILED, TerminalText, add_db, band_edges, bounded_number, fail
from finance.cli.data import add_preset_option, cmd_assumptions, cmd_currency, cmd_import, cmd_imports, cmd_undo
from finance.cli.deliver import add_deliver_parser, cmd_deliver
from finance.cli.figures import cmd_backtest, cmd_metrics
from finance.cli.ledger import add_parsers as add_ledger_parsers
from finance.cli.ledger import cmd_gl, cmd_reconcile
from finance.cli.notes import add_parsers as add_note_parsers
from finance.cli.notes import cmd_notes
from finance.cli.packs import add_parsers as add_pack_parsers
from finance.cli.packs import cmd_packs
from finance.cli.planning import cmd_plan, cmd_report, cmd_scenarios
from finance.cli.targets import add_parsers as add_target_parsers
from finance.cli.targets import cmd_targets
from finance.domain.fx import ISO_CURRENCIES
from finance.domain.schema import KINDS
from finance.ingest.encodings import ENCODINGS, encoding_name
from finance.ltv.base import METHODS
from finance.store import backup
from finance.store.database import ENV_USER
from finance.store.dataset import SPEND_BASES


def _encoding(text: str) -> str:
    """``--encoding``: an encoding read, as people write its name (``Shift-JIS``, ``cp932``, ``utf8``)."""
    name = encoding_name(text)
    if name is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an encoding read; choose one of {', '.join(ENCODINGS)}")
    return name


def _currency_code(text: str) -> str:
    """A currency flag: an ISO 4217 code, in any case."""
    code = text.strip().upper()
    if code not in ISO_CURRENCIES:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finance",
        description="LTV:CAC marketing-finance dashboard: import exports into the store.")
    sub = parser.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import", help="validate an export (CSV or workbook) and import it atomically")
    imp.add_argument("kind", choices=(*KINDS, "fx"),
                     help="the kind of file; fx: exchange rates (the ECB's CSV, or date,currency,rate)")
    imp.add_argument("file", help="the file; with --engine spark, where the ledger is in the data lake (a file, a "
                                   "folder or a glob; local, s3://, abfss://, gs:// ...)")
    add_db(imp)
    imp.add_argument("--map", action="append", nargs="+", default=[], metavar="HEADER=COLUMN",
                     help='map a file header to a contract column, e.g. "Amount (USD)=amount"')
    imp.add_argument("--category-map", type=Path, metavar="FILE",
                     help="CSV with columns label,category mapping your labels to categories")
    imp.add_argument("--channel-map", type=Path, metavar="FILE",
                     help="CSV with columns value,channel mapping channel values as written to channels "
                          "(a blank channel: a shared cost)")
    imp.add_argument("--category", metavar="KEY",
                     help="category for every row with none (a file from one ad platform)")
    imp.add_argument("--channel", metavar="NAME",
                     help="channel for every row with none (a file from one platform)")
    imp.add_argument("--period", metavar="PERIOD",
                     help="period for every row with none, e.g. 2025-Q4 or 2025-12 (a trial balance exported for "
                          "one period, its period in the report's title)")
    imp.add_argument("--replace", action="store_true",
                     help="replace rows already imported for the months this file covers")
    imp.add_argument("--date-format", metavar="FMT",
                     help="strptime format for ambiguous dates, e.g. %%d/%%m/%%Y")
    imp.add_argument("--decimal-comma", action="store_true", help="amounts are written 1.234,56")
    imp.add_argument("--fiscal-year-start", type=bounded_number(1, 12, kind=int), metavar="MONTH",
                     help="first month (1-12) of the fiscal year, for FY25 Q1 labels")
    imp.add_argument("--sheet", metavar="NAME",
                     help="the sheet of a workbook (.xlsx, .xls, .ods) to read; default: its first sheet")
    imp.add_argument("--encoding", type=_encoding, metavar="NAME",
                     help="the text encoding of a CSV, when it is not the one detected: "
                          + ", ".join(ENCODINGS))
    add_preset_option(imp)
    imp.add_argument("--currency", type=_currency_code, metavar="CODE",
                     help="the database's reporting currency, on its first import (default: the file's currency, "
                          "else USD); later, change it with the currency command")
    imp.add_argument("--file-currency", type=_currency_code, metavar="CODE",
                     help="the currency of the file's amounts when no currency column or header says it; "
                          "converted to the reporting currency at the stored rates")
    imp.add_argument("--base", type=_currency_code, metavar="CODE",
                     help="fx: the currency a long rates file's rates are per 1 unit of (when it has no base column)")
    imp.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    imp.add_argument("--format", choices=("text", "json"), default="text")
    lake = imp.add_argument_group("a revenue ledger in a data lake (Apache Spark)")
    lake.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                      help="spark: reduce a revenue ledger where it is, on Spark; the store keeps its summaries, "
                           "not its rows (default: duckdb, the file's rows into the store)")
    lake.add_argument("--lake-format", choices=("parquet", "csv", "delta"),
                      help="how the lake's files are stored (default: CSV by extension, Delta by its log, else "
                           "Parquet)")
    lake.add_argument("--customers-from", metavar="PATH",
                      help="the customers, as a table in the lake (default: the customers imported into the store)")
    lake.add_argument("--spark-master", metavar="URL",
                      help="the Spark master (spark://host:7077, yarn; default: $SPARK_REMOTE for Spark Connect, "
                           "else local mode on this machine)")

    cur = sub.add_parser("currency", help="show the reporting currency, or change it (every amount is converted "
                                          "again from its amounts as written, at the stored rates)")
    cur.add_argument("code", nargs="?", type=_currency_code, help="the new reporting currency, e.g. EUR")
    add_db(cur)
    cur.add_argument("--format", choices=("text", "json"), default="text")

    log = sub.add_parser("imports", help="list the imports log")
    add_db(log)
    log.add_argument("--format", choices=("text", "json"), default="text")

    undo = sub.add_parser("undo", help="undo an import (restores what it replaced)")
    undo.add_argument("import_id", type=int)
    add_db(undo)
    undo.add_argument("--format", choices=("text", "json"), default="text")

    met = sub.add_parser("metrics", help="CAC, LTV, LTV:CAC, payback and ROI per period")
    add_db(met)
    met.add_argument("--grain", choices=("quarter", "month"), default="quarter")
    met.add_argument("--window", type=int, choices=(3, 6, 12), default=None,
                     help="trailing window in months (default: each period alone)")
    met.add_argument("--ltv-method", choices=METHODS, default="auto",
                     help="auto (default): each segment by the model that back-tests best on its history")
    met.add_argument("--by", choices=("channel", "segment", "channel_segment"), default=None,  # cac.DIMENSION_COLUMNS
                     help="a row per channel, per segment, or per channel and segment (a channel's spend shared "
                          "among its segments by their new customers)")
    met.add_argument("--lag", type=int, default=None, choices=range(5), metavar="QUARTERS",
                     help="acquisition lag: spend in quarter t acquires customers in t + lag (0-4)")
    met.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                     help="ignore data after this date (default: the latest date in the data)")
    met.add_argument("--basis", choices=SPEND_BASES, default=None,
                     help="spend on the accrual basis (a cost with a service period amortised over its months) or "
                          "the cash basis (in the period paid); default: accrual when any spend row has a service "
                          "period, else cash")
    met.add_argument("--allocation", choices=("spend", "customers"), default=None,
                     help="how shared costs are allocated to channels")
    met.add_argument("--gross-margin", type=bounded_number(0, 1, kind=Decimal), default=None, metavar="FRACTION",
                     help="default gross margin for revenue rows without one")
    met.add_argument("--discount-rate", type=bounded_number(0, 1, below=True), default=None, metavar="RATE",
                     help="annual discount rate for LTV")
    met.add_argument("--horizon", type=bounded_number(1, 600, kind=int), default=None, metavar="MONTHS",
                     help="LTV horizon in months")
    met.add_argument("--bands", type=band_edges, default=None, metavar="E1,E2,E3,E4",
                     help="LTV:CAC band edges")
    met.add_argument("--target", type=bounded_number(0, 100, above=True), default=None, metavar="RATIO",
                     help="the LTV:CAC each row's p_below_target is measured against")
    met.epilog = ("The assumptions are the database's own (the Assumptions page); a flag overrides one for "
                  "this run only, and the JSON lists which were overridden.")
    met.add_argument("--format", choices=("json", "csv", "table"), default="table")

    chk = sub.add_parser("backtest", help="check every LTV model against the company's own history")
    add_db(chk)
    chk.add_argument("--rerun", action="store_true", help="run the check again even if one is stored")
    chk.add_argument("--progress", type=Path, metavar="FILE",
                     help="write 'done total' cut-offs to FILE as the check goes (the dashboard reads it)")
    chk.add_argument("--quiet", action="store_true", help="print nothing; just store the check")
    chk.add_argument("--format", choices=("table", "json"), default="table")

    rep = sub.add_parser("report", help="the CFO board pack for a quarter, as PDF or XLSX")
    add_db(rep)
    rep.add_argument("--period", metavar="QUARTER", default=None,
                     help="the quarter to report, e.g. 2025-Q4, or FY2026-Q1 when the fiscal year starts in "
                          "another month than January (default: the latest with new customers)")
    rep.add_argument("--scenario", metavar="NAME", default=None,
                     help="the saved scenario to present as the budget request (default: the latest saved "
                          "request, else last quarter repeated)")
    rep.add_argument("--method", "--ltv-method", dest="method", choices=METHODS, default="auto",
                     help="LTV method (default: auto, the recommended model per segment)")
    rep.add_argument("--out", type=Path, metavar="FILE.pdf|FILE.xlsx",
                     help="where to write the pack; the suffix chooses the format")
    rep.add_argument("--publish", action="store_true",
                     help="publish the pack: store its PDF and XLSX with a manifest of its figures, imports and "
                          "assumptions, downloadable as published forever (python -m finance packs)")
    rep.add_argument("--diff", type=int, nargs="?", const=0, default=None, metavar="N",
                     help="what changed since pack N (default: the latest) was published: each figure that moved, "
                          "by how much, and the import or assumption change behind it")
    rep.add_argument("--format", choices=("table", "json"), default="table", help="with --diff")

    plan = sub.add_parser("plan", help="project next quarter's budget: customers, CAC, LTV:CAC, payback, ROI")
    add_db(plan)
    start = plan.add_mutually_exclusive_group()
    start.add_argument("--start", choices=("last-quarter", "trailing-average"), default="last-quarter",
                       help="start from last quarter's spend or the average of the last four (default: last-quarter)")
    start.add_argument("--scenario", metavar="NAME", help="start from a saved scenario")
    plan.add_argument("--set", action="append", default=[], metavar="CHANNEL:CATEGORY=AMOUNT",
                      help='set one line, e.g. "Paid Search:digital_advertising=250000" ((shared) for no channel)')
    plan.add_argument("--shared", type=bounded_number(0, 500), default=100.0, metavar="PCT",
                      help="scale shared (unchanneled) costs to this %% of the start (default 100)")
    goal = plan.add_mutually_exclusive_group()
    goal.add_argument("--optimise", action="store_true",
                      help="reallocate the channel spend to maximise LTV created minus spend")
    goal.add_argument("--target-ratio", type=bounded_number(0, 100, above=True), metavar="X",
                      help="the largest budget, optimally split, whose projected LTV:CAC stays at or above X")
    goal.add_argument("--target-customers", type=bounded_number(1, 1e9), metavar="N",
                      help="the smallest budget, optimally split, projected to acquire N new customers")
    plan.add_argument("--total", metavar="AMOUNT", help="with --optimise: the channel budget to split")
    plan.add_argument("--lock", action="append", default=[], metavar="CHANNEL",
                      help="with --optimise or a target: keep this channel's spend as planned")
    plan.add_argument("--method", "--ltv-method", dest="method", choices=METHODS, default="auto")
    plan.add_argument("--save", metavar="NAME", help="save the resulting plan as a named scenario")
    plan.add_argument("--kind", choices=("request", "custom", "baseline", "optimised", "goal seek"),
                      default="request", help="the saved scenario's kind (default: request)")
    plan.add_argument("--note", default="", help="a note saved with the scenario")
    plan.add_argument("--replace", action="store_true", help="replace a saved scenario of the same name")
    plan.add_argument("--format", choices=("json", "table"), default="table")

    scen = sub.add_parser("scenarios", help="list the saved budget scenarios")
    add_db(scen)
    scen.add_argument("--delete", metavar="NAME", help="delete this scenario")
    scen.add_argument("--format", choices=("json", "table"), default="table")

    asm = sub.add_parser("assumptions", help="show the stored assumptions, or change them as an editor does")
    add_db(asm)
    asm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="change one assumption, e.g. default_gross_margin=0.65 (repeatable; all or none are saved, "
                          "and the change log records who changed what)")
    asm.add_argument("--format", choices=("table", "json"), default="table")

    add_ledger_parsers(sub)
    add_pack_parsers(sub)
    add_note_parsers(sub)
    add_target_parsers(sub)
    add_deliver_parser(sub)

    demo = sub.add_parser("demo", help="build the demo company's database from sample_data/")
    add_db(demo)
    demo.add_argument("--force", action="store_true", help="rebuild even if the file exists (a backup is kept)")
    demo.add_argument("--recheck", action="store_true",
                      help="run the demo's model check again and ship it (after a change to the LTV models)")

    listing = sub.add_parser("backups", help="list the database's backups, newest first (numbered for restore)")
    add_db(listing)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    take = sub.add_parser("backup", help="back the database up now (kept with the automatic ones)")
    add_db(take)
    back = sub.add_parser("restore", help="put a backup back in place of the database (what it replaces is kept)")
    back.add_argument("backup", help="a number from `backups` (1 = the newest) or a backup file's path")
    add_db(back)
    parser.epilog = (f"Changes are recorded as made by ${ENV_USER}, else your login name. Before every import and "
                     f"undo the database is backed up (${backup.ENV_BACKUPS} kept, default {backup.DEFAULT_KEEP}).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"import": cmd_import, "currency": cmd_currency, "imports": cmd_imports, "undo": cmd_undo,
                "metrics": cmd_metrics,
                "assumptions": cmd_assumptions, "demo": cmd_demo, "backtest": cmd_backtest, "report": cmd_report,
                "plan": cmd_plan, "scenarios": cmd_scenarios, "backups": cmd_backups, "backup": cmd_backup,
                "restore": cmd_restore, "gl": cmd_gl, "reconcile": cmd_reconcile, "packs": cmd_packs,
                "notes": cmd_notes, "targets": cmd_targets, "deliver": cmd_deliver}
    fmt = getattr(args, "format", "text")
    streams = sys.stdout, sys.stderr
    # JSON escapes control characters itself, and a CSV file keeps the data as imported (its
    # formula-looking cells are neutralised); every other output is read on a terminal.
    if fmt not in ("json", "csv"):
        sys.stdout = TerminalText(sys.stdout)  # type: ignore[assignment]
    sys.stderr = TerminalText(sys.stderr)  # type: ignore[assignment]
    try:
        return handlers[args.command](args)
    except (ValueError, OSError) as exc:  # a bad setting or file named in the message: no traceback
        return fail(str(exc), "json" if fmt == "json" else "text", EXIT_FAILED)
    finally:
        sys.stdout, sys.stderr = streams
