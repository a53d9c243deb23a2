"""Command line: everything the app does with the store, scriptable.

Exit codes: 0 done (imported or unchanged), 2 the file was rejected or the arguments are
wrong (nothing was written), 1 an operation could not be done (e.g. undo out of order).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from finance.domain import literal
from finance.domain.money import money_text
from finance.domain.problems import Problem
from finance.domain.schema import DEFAULT_CURRENCY, KINDS, check_band_edges, file_kind
from finance.ingest.prepare import ImportOptions, OptionsError, load_category_map, prepare
from finance.ltv.base import METHODS
from finance.metrics.table import MetricParams, compute
from finance.present import formats
from finance.store import backup
from finance.store.database import ENV_DB, ENV_USER, ImportResult, Store, StoreError, cli_user, default_db_path, restore

EXIT_OK, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None,
                        help=f"DuckDB file (default: ${ENV_DB} or {default_db_path()})")


def _number(low: float, high: float, *, kind: Callable[[str], Any] = float, above: bool = False,
            below: bool = False) -> Callable[[str], Any]:
    """An argument type: a finite number of ``kind`` from ``low`` to ``high`` (``above``/``below``: excluded),
    else a usage error that quotes the value and says what was expected."""
    expected = (f"{'a whole number' if kind is int else 'a number'} {'above' if above else 'from'} {low:g} "
                f"{'and below' if below else 'to'} {high:g}")

    def parse(text: str) -> Any:
        try:
            value = kind(text.strip())
        except (ValueError, ArithmeticError):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}") from None
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = math.nan
        inside = (number > low if above else number >= low) and (number < high if below else number <= high)
        if not (math.isfinite(number) and inside):  # NaN fails every comparison, so it lands here too
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
        return value

    return parse


def _band_edges(text: str) -> tuple[float, ...]:
    """``--bands``: four finite, positive, increasing LTV:CAC edges."""
    try:
        return check_band_edges(tuple(float(part) for part in text.split(",")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}; expected four increasing numbers above 0, "
                                         "e.g. 1,2,3,5") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finance",
        description="LTV:CAC marketing-finance dashboard: import exports into the store.")
    sub = parser.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import", help="validate a CSV export and import it atomically")
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file", type=Path)
    _add_db(imp)
    imp.add_argument("--map", action="append", nargs="+", default=[], metavar="HEADER=COLUMN",
                     help='map a file header to a contract column, e.g. "Amount (USD)=amount"')
    imp.add_argument("--category-map", type=Path, metavar="FILE",
                     help="CSV with columns label,category mapping your labels to categories")
    imp.add_argument("--category", metavar="KEY",
                     help="category for every row with none (a file from one ad platform)")
    imp.add_argument("--channel", metavar="NAME",
                     help="channel for every row with none (a file from one platform)")
    imp.add_argument("--replace", action="store_true",
                     help="replace rows already imported for the months this file covers")
    imp.add_argument("--date-format", metavar="FMT",
                     help="strptime format for ambiguous dates, e.g. %%d/%%m/%%Y")
    imp.add_argument("--decimal-comma", action="store_true", help="amounts are written 1.234,56")
    imp.add_argument("--fiscal-year-start", type=_number(1, 12, kind=int), metavar="MONTH",
                     help="first month (1-12) of the fiscal year, for FY25 Q1 labels")
    imp.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    imp.add_argument("--format", choices=("text", "json"), default="text")

    log = sub.add_parser("imports", help="list the imports log")
    _add_db(log)
    log.add_argument("--format", choices=("text", "json"), default="text")

    undo = sub.add_parser("undo", help="undo an import (restores what it replaced)")
    undo.add_argument("import_id", type=int)
    _add_db(undo)
    undo.add_argument("--format", choices=("text", "json"), default="text")

    met = sub.add_parser("metrics", help="CAC, LTV, LTV:CAC, payback and ROI per period")
    _add_db(met)
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
    met.add_argument("--allocation", choices=("spend", "customers"), default=None,
                     help="how shared costs are allocated to channels")
    met.add_argument("--gross-margin", type=_number(0, 1, kind=Decimal), default=None, metavar="FRACTION",
                     help="default gross margin for revenue rows without one")
    met.add_argument("--discount-rate", type=_number(0, 1, below=True), default=None, metavar="RATE",
                     help="annual discount rate for LTV")
    met.add_argument("--horizon", type=_number(1, 600, kind=int), default=None, metavar="MONTHS",
                     help="LTV horizon in months")
    met.add_argument("--bands", type=_band_edges, default=None, metavar="E1,E2,E3,E4",
                     help="LTV:CAC band edges")
    met.add_argument("--target", type=_number(0, 100, above=True), default=None, metavar="RATIO",
                     help="the LTV:CAC each row's p_below_target is measured against")
    met.epilog = ("The assumptions are the database's own (the Assumptions page); a flag overrides one for "
                  "this run only, and the JSON lists which were overridden.")
    met.add_argument("--format", choices=("json", "csv", "table"), default="table")

    chk = sub.add_parser("backtest", help="check every LTV model against the company's own history")
    _add_db(chk)
    chk.add_argument("--rerun", action="store_true", help="run the check again even if one is stored")
    chk.add_argument("--progress", type=Path, metavar="FILE",
                     help="write 'done total' cut-offs to FILE as the check goes (the dashboard reads it)")
    chk.add_argument("--quiet", action="store_true", help="print nothing; just store the check")
    chk.add_argument("--format", choices=("table", "json"), default="table")

    rep = sub.add_parser("report", help="the CFO board pack for a quarter, as PDF or XLSX")
    _add_db(rep)
    rep.add_argument("--period", metavar="QUARTER", default=None,
                     help="the quarter to report, e.g. 2025-Q4, or FY2026-Q1 when the fiscal year starts in "
                          "another month than January (default: the latest with new customers)")
    rep.add_argument("--scenario", metavar="NAME", default=None,
                     help="the saved scenario to present as the budget request (default: the latest saved "
                          "request, else last quarter repeated)")
    rep.add_argument("--method", "--ltv-method", dest="method", choices=METHODS, default="auto",
                     help="LTV method (default: auto, the recommended model per segment)")
    rep.add_argument("--out", type=Path, required=True, metavar="FILE.pdf|FILE.xlsx",
                     help="where to write the pack; the suffix chooses the format")

    plan = sub.add_parser("plan", help="project next quarter's budget: customers, CAC, LTV:CAC, payback, ROI")
    _add_db(plan)
    start = plan.add_mutually_exclusive_group()
    start.add_argument("--start", choices=("last-quarter", "trailing-average"), default="last-quarter",
                       help="start from last quarter's spend or the average of the last four (default: last-quarter)")
    start.add_argument("--scenario", metavar="NAME", help="start from a saved scenario")
    plan.add_argument("--set", action="append", default=[], metavar="CHANNEL:CATEGORY=AMOUNT",
                      help='set one line, e.g. "Paid Search:digital_advertising=250000" ((shared) for no channel)')
    plan.add_argument("--shared", type=_number(0, 500), default=100.0, metavar="PCT",
                      help="scale shared (unchanneled) costs to this %% of the start (default 100)")
    goal = plan.add_mutually_exclusive_group()
    goal.add_argument("--optimise", action="store_true",
                      help="reallocate the channel spend to maximise LTV created minus spend")
    goal.add_argument("--target-ratio", type=_number(0, 100, above=True), metavar="X",
                      help="the largest budget, optimally split, whose projected LTV:CAC stays at or above X")
    goal.add_argument("--target-customers", type=_number(1, 1e9), metavar="N",
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
    _add_db(scen)
    scen.add_argument("--delete", metavar="NAME", help="delete this scenario")
    scen.add_argument("--format", choices=("json", "table"), default="table")

    asm = sub.add_parser("assumptions", help="show the stored assumptions, or change them as an editor does")
    _add_db(asm)
    asm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="change one assumption, e.g. default_gross_margin=0.65 (repeatable; all or none are saved, "
                          "and the change log records who changed what)")
    asm.add_argument("--format", choices=("table", "json"), default="table")

    demo = sub.add_parser("demo", help="build the demo company's database from sample_data/")
    _add_db(demo)
    demo.add_argument("--force", action="store_true", help="rebuild even if the file exists (a backup is kept)")
    demo.add_argument("--recheck", action="store_true",
                      help="run the demo's model check again and ship it (after a change to the LTV models)")

    listing = sub.add_parser("backups", help="list the database's backups, newest first (numbered for restore)")
    _add_db(listing)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    take = sub.add_parser("backup", help="back the database up now (kept with the automatic ones)")
    _add_db(take)
    back = sub.add_parser("restore", help="put a backup back in place of the database (what it replaces is kept)")
    back.add_argument("backup", help="a number from `backups` (1 = the newest) or a backup file's path")
    _add_db(back)
    parser.epilog = (f"Changes are recorded as made by ${ENV_USER}, else your login name. Before every import and "
                     f"undo the database is backed up (${backup.ENV_BACKUPS} kept, default {backup.DEFAULT_KEEP}).")
    return parser


def _column_map(pairs: Sequence[Sequence[str]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for group in pairs:
        for pair in group:
            source, sep, target = pair.rpartition("=")
            if not sep or not source.strip() or not target.strip():
                raise OptionsError(f"--map {pair!r}: expected HEADER=COLUMN")
            mapping[source.strip()] = target.strip()
    return mapping


def _print_problems(title: str, problems: list[Problem], file_name: str) -> None:
    if not problems:
        return
    print(f"{title} ({len(problems)}):")
    for p in problems:
        print(f"  {p.describe(file_name)}")
        if p.severity == "error" and p.expected:
            print(f"      expected: {p.expected}")


def _report_import(result: ImportResult, fmt: str, dry_run: bool = False, currency: str = DEFAULT_CURRENCY) -> int:
    payload = result.to_json()
    if dry_run and result.status != "rejected":
        payload["status"] = "valid"
    if fmt == "json":
        print(json.dumps(payload, indent=2))
    else:
        name = result.file_name
        if result.status == "rejected":
            print(f"rejected {name}: {len(result.errors)} error(s); nothing was imported")
            _print_problems("errors", result.errors, name)
        else:
            verb = {"imported": f"imported as #{result.import_id}",
                    "unchanged": f"unchanged: identical to import #{result.import_id}"}.get(
                result.status, "valid (dry run: nothing written)")
            if dry_run:
                verb = "valid (dry run: nothing written)"
            print(f"{name}: {result.kind} {verb}")
            measure = file_kind(result.kind).measure
            print(f"  {'period':<24}{'rows':>10}{measure:>20}")
            for p in payload["periods"]:
                print(f"  {p['period']:<24}{p['rows']:>10}{_total_text(p['total'], currency):>20}")
            print(f"  {'total':<24}{result.rows:>10}{_total_text(payload['total'], currency):>20}")
            if result.replaced:
                print(f"  replaced rows of import(s): {', '.join(f'#{i}' for i in result.replaced)}")
        _print_problems("warnings", result.warnings, name)
    return EXIT_REJECTED if result.status == "rejected" else EXIT_OK


def _total_text(value: Any, currency: str) -> str:
    """An import's total as the dashboard writes it: money (an exact decimal string) or a count."""
    return formats.money(value, currency) if isinstance(value, str) else formats.count(value)


def cmd_import(args: argparse.Namespace) -> int:
    try:
        options_kwargs: dict[str, Any] = {
            "column_map": _column_map(args.map),
            "category_map": load_category_map(args.category_map) if args.category_map else {},
            "date_format": args.date_format,
            "decimal_comma": args.decimal_comma,
            "fiscal_year_start": args.fiscal_year_start,
            "default_category": args.category,
            "default_channel": args.channel,
        }
        if args.dry_run:
            options = ImportOptions(**options_kwargs)
            prepared = prepare(args.kind, args.file, options)
            result = ImportResult("rejected" if prepared.errors else "valid", args.kind,
                                  prepared.file_name, errors=prepared.errors,
                                  warnings=prepared.warnings)
            if prepared.ok:
                result.rows = prepared.rows.height
                result.periods = prepared.period_totals()
                result.total = prepared.total()
            return _report_import(result, args.format, dry_run=True, currency=options.currency)
        # The file is read and checked before the store is opened for writing, so a long check
        # never holds the writer's lock (other imports, the app's editors) while it runs.
        path = args.db or default_db_path()
        currency = DEFAULT_CURRENCY
        if path.exists():
            with Store(path, read_only=True) as reader:
                currency = reader.currency
        options = ImportOptions(**options_kwargs, currency=currency)
        prepared = prepare(args.kind, args.file, options)
        with Store(path, user=cli_user()) as store:
            if store.currency != currency:
                raise StoreError(f"the database's currency changed to {store.currency} while the file was read; "
                                 "import it again")
            result = store.import_prepared(prepared, replace=args.replace, options=options)
    except OptionsError as exc:
        return _fail(str(exc), args.format, EXIT_REJECTED)
    except StoreError as exc:
        return _fail(str(exc), args.format, EXIT_FAILED)
    return _report_import(result, args.format, currency=currency)


def _fail(message: str, fmt: str, code: int) -> int:
    if fmt == "json":
        print(json.dumps({"status": "error", "message": message}))
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_assumptions(args: argparse.Namespace) -> int:
    """Read the assumptions every figure uses, or set some: the Assumptions page's form, scriptable."""
    from finance.metrics.assumptions import LABELS, Assumptions

    texts: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            return _fail(f"--set {item!r}: expected KEY=VALUE, e.g. default_gross_margin=0.65", args.format,
                         EXIT_FAILED)
        texts[name.strip()] = value
    path = args.db or default_db_path()
    changed: tuple[str, ...] = ()
    try:
        with Store(path, read_only=not texts and path.exists(), user=cli_user()) as store:
            current = Assumptions.from_settings(store.assumptions())
            if texts:
                updated, changed = current.parsed(texts)  # every value checked before anything is written
                if changed:
                    store.set_assumptions(updated.to_settings())
                current = updated
    except StoreError as exc:
        return _fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        print(json.dumps({"assumptions": current.to_json(), "changed": list(changed)}))
        return EXIT_OK
    shown = current.to_settings()
    width = max(len(label) for label in LABELS.values())
    for name, label in LABELS.items():
        print(f"{label:<{width}}  {shown[name]:<12}  {name}{'  (changed)' if name in changed else ''}")
    if texts and not changed:
        print("nothing changed: the values given are the ones stored")
    return EXIT_OK


def cmd_imports(args: argparse.Namespace) -> int:
    try:
        path = args.db or default_db_path()
        with Store(path, read_only=path.exists()) as store:
            log, currency = store.imports(), store.currency
    except StoreError as exc:
        return _fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        rows = []
        for rec in log.iter_rows(named=True):
            money = rec["kind"] in ("spend", "revenue")
            rows.append({
                "import_id": rec["import_id"], "kind": rec["kind"], "file": rec["file_name"],
                "rows": rec["row_count"], "period_start": rec["period_start"].isoformat(),
                "period_end": rec["period_end"].isoformat(),
                "total": money_text(rec["total"]) if money else int(rec["total"]),
                "status": rec["status"], "imported_at": rec["imported_at"].isoformat() + "Z",
                "imported_by": rec["imported_by"],
                "undone_at": rec["undone_at"].isoformat() + "Z" if rec["undone_at"] else None,
                "undone_by": rec["undone_by"],
                "replaced_imports": json.loads(rec["replaced"]), "warnings": rec["warning_count"],
                "sha256": rec["sha256"],
            })
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if log.is_empty():
        print("no imports yet")
        return EXIT_OK
    print(f"{'id':>4}  {'kind':<10}{'status':<8}{'rows':>9}  {'periods':<24}{'total':>18}  "
          f"{'imported (UTC)':<21}{'by':<24}file")
    for rec in log.iter_rows(named=True):
        money = rec["kind"] in ("spend", "revenue")
        total = _total_text(money_text(rec["total"]) if money else int(rec["total"]), currency)
        span = f"{rec['period_start']}..{rec['period_end']}"
        print(f"{rec['import_id']:>4}  {rec['kind']:<10}{rec['status']:<8}{rec['row_count']:>9}  "
              f"{span:<24}{total:>18}  {rec['imported_at']:%Y-%m-%d %H:%M:%S}  {rec['imported_by'] or '':<24}"
              f"{rec['file_name']}")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    try:
        with Store(args.db, user=cli_user()) as store:
            outcome = store.undo(args.import_id)
    except StoreError as exc:
        return _fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        print(json.dumps({"status": "undone", **outcome}))
    else:
        print(f"undid import #{outcome['import_id']} ({outcome['kind']}): "
              f"{outcome['rows_removed']} rows removed, {outcome['rows_restored']} rows restored")
    return EXIT_OK


def _metric_params(args: argparse.Namespace, stored: dict[str, str]) -> tuple[MetricParams, tuple[str, ...]]:
    """The parameters the dashboard uses for the same view: the stored assumptions, with this run's
    explicit flags applied over them; and the names of the assumptions the flags changed."""
    from finance.metrics.assumptions import Assumptions

    assumptions, changed = Assumptions.from_settings(stored).overridden(
        default_gross_margin=args.gross_margin, annual_discount_rate=args.discount_rate,
        horizon_months=args.horizon, band_edges=args.bands, lag_quarters=args.lag, allocation=args.allocation,
        target_ratio=args.target)
    params = assumptions.params(grain=args.grain, window=args.window, by=args.by, method=args.ltv_method,
                                as_of=args.as_of)
    return params, changed


def _model_check(path: Path, imports: Any, data: Any, params: MetricParams, quiet: bool = False) -> Any:
    """The stored back-test of this data version, else run now (tens of seconds) and stored."""
    from finance.ltv import backtest
    from finance.store.dataset import default_as_of

    as_of = params.as_of or default_as_of(data)
    if backtest.load(path, backtest.fingerprint(imports, params.ltv, as_of)) is None and not quiet:
        print("checking the LTV models against the history (once per data version)...", file=sys.stderr, flush=True)
    return backtest.stored_or_run(path, imports, data, params.ltv, as_of)


def cmd_metrics(args: argparse.Namespace) -> int:
    try:
        path = args.db or default_db_path()
        with Store(args.db, read_only=path.exists()) as store:
            data = store.dataset()
            imports = store.imports()
            stored = store.assumptions()
        params, changed = _metric_params(args, stored)
        check = _model_check(path, imports, data, params, quiet=args.format == "json")
        result = compute(data, params, check)
    except (ValueError, StoreError) as exc:  # a FitError is a ValueError
        return _fail(str(exc), "text" if args.format != "json" else "json", EXIT_REJECTED)
    payload = result.to_json()
    payload["assumptions"]["overridden"] = list(changed)
    if args.format == "json":
        print(json.dumps(payload, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        header = [k for k in payload["rows"][0] if k != "spend_by_category"] if payload["rows"] else []
        categories = list(payload["rows"][0]["spend_by_category"]) if payload["rows"] else []
        writer.writerow(header + [f"spend_{c}" for c in categories])
        for row in payload["rows"]:
            writer.writerow([literal.cell(v) if isinstance(v, str) else v
                             for v in [row[k] for k in header] + [row["spend_by_category"][c] for c in categories]])
    else:
        _print_metrics_table(payload)
    return EXIT_OK


def _print_metrics_table(payload: dict[str, Any]) -> None:
    a = payload["assumptions"]
    model = payload["ltv_model"]
    print(f"as of {a['as_of']}, {a['grain']} grain"
          + (f", trailing {a['window_months']} months" if a["window_months"] else "")
          + (f", by {a['by']}" if a["by"] else "")
          + f"; LTV: {model['method']} over {a['ltv_horizon_months']} months at "
          + f"{formats.percent(a['annual_discount_rate'], places=0)}")
    if a.get("overridden"):
        print(f"stored assumptions overridden for this run: {', '.join(a['overridden'])}")
    from finance.metrics.cac import dimension_columns

    columns = [("period", 9), *((d, 16) for d in dimension_columns(a["by"])),
               ("spend", 14), ("new_customers", 8), ("cac_media", 10), ("cac", 10), ("cac_sm", 10),
               ("cpl", 8), ("ltv", 10), ("ltv_cac", 8), ("band", 17), ("payback_months", 8), ("roi", 7)]
    columns = [(k, w) for k, w in columns if k]
    titles = {"new_customers": "new", "payback_months": "payback", "ltv_cac": "LTV:CAC"}
    print("  ".join(f"{titles.get(k, k):>{w}}" if k not in ("period", "channel", "segment", "band")
                    else f"{titles.get(k, k):<{w}}" for k, w in columns))
    for row in payload["rows"]:
        cells = []
        for key, width in columns:
            value = row.get(key)
            text = formats.NA if value is None else (formats.ratio(value) if key == "ltv_cac" else
                                                     formats.percent(value) if key == "roi" else str(value))
            cells.append(f"{text:<{width}}" if key in ("period", "channel", "segment", "band") else f"{text:>{width}}")
        print("  ".join(cells))
    params = ", ".join(f"{literal.terminal(k)}={v}" for k, v in model["params"].items())
    print(f"LTV model {model['method']} ({model['time_unit']}): {params}")
    check = model.get("model_check")
    if check and "12" in check["horizons"]:
        score = check["horizons"]["12"]
        print(f"model check: 12-month forecasts within {formats.percent(score['mape'])} on average "
              f"(bias {formats.percent(score['bias'], signed=True)}), "
              f"{formats.percent(score['coverage'])} inside the range")


def cmd_backtest(args: argparse.Namespace) -> int:
    from finance.ltv import backtest
    from finance.metrics.assumptions import Assumptions
    from finance.store.dataset import default_as_of

    path = args.db or default_db_path()
    try:
        with Store(args.db, read_only=path.exists()) as store:
            data, stored, imports = store.dataset(), store.assumptions(), store.imports()
    except StoreError as exc:
        return _fail(str(exc), "json" if args.format == "json" else "text", EXIT_FAILED)
    settings = Assumptions.from_settings(stored).params().ltv  # the dashboard's: the same check for both
    as_of = default_as_of(data)
    key = backtest.fingerprint(imports, settings, as_of)
    check = None if args.rerun else backtest.load(path, key)
    if check is None:
        def progress(done: int, total: int) -> None:
            if args.progress:
                temporary = args.progress.with_suffix(".partial")
                temporary.write_text(f"{done} {total}\n")
                temporary.replace(args.progress)
            if args.format != "json" and not args.quiet:
                print(f"  cut-off {done} of {total} done", file=sys.stderr, flush=True)

        progress(0, len(backtest.cutoffs(data.as_of(as_of), as_of)))
        check = backtest.run(data.as_of(as_of), settings, as_of, progress)
        try:
            backtest.save(path, key, check)
        except OSError:
            pass
        if args.progress:
            args.progress.unlink(missing_ok=True)
    if args.quiet:
        return EXIT_OK
    if args.format == "json":
        print(json.dumps(check.to_json(), indent=2, default=str))
        return EXIT_OK
    print(f"model check as of {check.as_of}: {len(check.cutoffs)} cut-offs "
          f"({', '.join(check.cutoffs) or 'none: too little history'}), {check.seconds:.1f} s")
    print(f"{'method':<9}{'months ahead':>13}{'cohorts':>9}{'bias':>9}{'MAPE':>8}{'80% held':>10}")
    for method in ("auto", "formula", "cohort", "bgnbd"):
        for horizon in ("3", "6", "12"):
            score = check.scores.get(method, {}).get("", {}).get(horizon)
            if score is None or not score.predictions:
                continue
            print(f"{method:<9}{horizon:>13}{score.predictions:>9}{formats.percent(score.bias, signed=True):>9}"
                  f"{formats.percent(score.mape):>8}{formats.percent(score.coverage):>10}")
    for segment, model in check.recommended.items():
        print(f"{literal.terminal(segment)}: {model} ({literal.terminal(check.reasons.get(segment, ''))})")
    return EXIT_OK


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


def cmd_report(args: argparse.Namespace) -> int:
    from finance.present import report  # the PDF toolchain (kaleido, Chromium) only for this command
    from finance.present.pdf import PdfError

    try:
        report.check_output(args.out)
        pack = report.gather(args.db or default_db_path(), period=args.period, scenario=args.scenario,
                             method=args.method)
    except ValueError as exc:  # a PlanError is a ValueError
        return _fail(str(exc), "text", EXIT_REJECTED)
    except StoreError as exc:
        return _fail(str(exc), "text", EXIT_FAILED)
    try:
        written = report.write(pack, args.out)
    except (PdfError, OSError, ValueError) as exc:
        return _fail(f"the board pack was not written: {exc}", "text", EXIT_FAILED)
    print(f"wrote {written.path}: {written.size:,} bytes, {written.count} {written.unit}")
    return EXIT_OK


def _set_lines(lines: list[Any], settings: Sequence[str]) -> list[Any]:
    """Apply ``CHANNEL:CATEGORY=AMOUNT`` edits (a new line when the plan has none for that pair)."""
    from finance.planning.curves import PlanError
    from finance.planning.plans import PlanLine, to_cents

    edited = {(ln.channel, ln.category): ln for ln in lines}
    problems = []
    for text in settings:
        target, sep, amount = text.rpartition("=")
        channel, colon, category = target.rpartition(":")
        if not (sep and colon and channel and category):
            problems.append(f"--set {text!r}: expected CHANNEL:CATEGORY=AMOUNT, e.g. Paid Search:events=1200")
            continue
        try:
            edited[(channel, category)] = PlanLine(channel, category, to_cents(amount))
        except PlanError as exc:
            problems.append(f"--set {text!r}: {exc}; expected an amount such as 250000.00")
    if problems:  # every bad edit at once, not one per run
        raise PlanError("; ".join(problems))
    return list(edited.values())


def _existing_db(args: argparse.Namespace) -> Path | None:
    """The database the command names (or the default), if the file exists: planning never creates one."""
    path = Path(args.db or default_db_path())
    return path if path.exists() else None


def cmd_plan(args: argparse.Namespace) -> int:
    from finance.metrics.assumptions import Assumptions
    from finance.planning import plans as sc
    from finance.planning.curves import PlanError

    fmt = "json" if args.format == "json" else "text"
    path = _existing_db(args)
    if path is None:
        return _fail(f"no database at {args.db or default_db_path()}", fmt, EXIT_REJECTED)
    try:  # the edits and the total are checked before the history is read: a typo fails at once
        _set_lines([], args.set)
        if args.total is not None:
            sc.to_cents(args.total)
    except PlanError as exc:
        return _fail(str(exc), fmt, EXIT_REJECTED)
    try:
        with Store(path, read_only=args.save is None, user=cli_user()) as store:
            data, stored, currency = store.dataset(), store.assumptions(), store.currency
            params = Assumptions.from_settings(stored).params(method=args.method)
            check = _model_check(path, store.imports(), data, params, quiet=fmt == "json")
            basis = sc.planning_basis(data, params, check=check)
            if args.scenario:
                lines = list(sc.load_scenario(store, args.scenario).lines)
            else:
                lines = list(basis.starts[args.start.replace("-", "_")])
            lines = sc.scale_shared(_set_lines(lines, args.set), Decimal(str(args.shared)) / 100)
            bounds = sc.Bounds(locked=tuple(args.lock))
            note = None
            if args.optimise:
                total = sc.to_cents(args.total) if args.total is not None else None
                lines, _ = sc.optimise(basis, lines, total=total, bounds=bounds)
            elif args.target_ratio is not None:
                answer = sc.budget_for_ratio(basis, lines, args.target_ratio, bounds=bounds)
                lines, note = answer.lines, answer.note
            elif args.target_customers is not None:
                answer = sc.budget_for_customers(basis, lines, args.target_customers, bounds=bounds)
                lines, note = answer.lines, answer.note
            projection = sc.project(basis, lines, name=args.save or "plan")
            if args.save:
                sc.save_scenario(store, sc.Scenario(args.save, basis.period, args.kind, args.note, projection.lines,
                                                    {"source": "cli"}), overwrite=args.replace)
    except (PlanError, ValueError) as exc:
        return _fail(str(exc), fmt, EXIT_REJECTED)
    except StoreError as exc:
        return _fail(str(exc), fmt, EXIT_FAILED)
    payload = sc.projection_json(projection)
    payload["goal"] = note
    if args.format == "json":
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    f = projection.figures

    def span(key: str, fmt: Any) -> str:
        value = f[key]
        if value.point is None:
            return "n/a"
        shown = fmt(value.point)
        return shown if value.low is None or value.high is None else (
            f"{shown} (range {fmt(value.low)} to {fmt(value.high)})")

    def money(v: Any) -> str:
        return formats.money(v, currency)

    print(f"Plan for {projection.period}" + (f", saved as {args.save!r}" if args.save else "") + (
        f": {note}" if note else ""))
    print(f"  marketing spend {money(projection.spend)} (shared {money(projection.shared)}); sales and marketing "
          f"{money(projection.spend_sm)}")
    print(f"  new customers {span('customers', formats.count)}")
    print(f"  fully loaded CAC {span('cac', money)}")
    print(f"  LTV:CAC {span('ltv_cac', formats.ratio)} {projection.band or ''}")
    print(f"  payback {span('payback_months', formats.months)}; ROI {span('roi', formats.percent)}")
    print(f"  {'channel':<24}{'spend':>16}{'customers':>12}{'marginal CAC':>16}")
    for row in projection.channels.iter_rows(named=True):
        marginal = money(row["marginal_cac"])
        print(f"  {row['channel']:<24}{money(row['spend']):>16}{row['customers']:>12,.1f}"
              f"{marginal:>16}")
    for warning in projection.warnings:
        print(f"  warning: {warning}")
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    from finance.planning import plans as sc
    from finance.planning.curves import PlanError

    fmt = "json" if args.format == "json" else "text"
    path = _existing_db(args)
    if path is None:
        return _fail(f"no database at {args.db or default_db_path()}", fmt, EXIT_REJECTED)
    try:
        with Store(path, read_only=args.delete is None, user=cli_user()) as store:
            if args.delete:
                sc.delete_scenario(store, args.delete)
            listed = sc.list_scenarios(store)
    except PlanError as exc:
        return _fail(str(exc), fmt, EXIT_REJECTED)
    except StoreError as exc:
        return _fail(str(exc), fmt, EXIT_FAILED)
    rows = [{**r, "spend": str(r["spend"]), "created_at": r["created_at"].isoformat(sep=" "),
             "updated_at": r["updated_at"].isoformat(sep=" ")} for r in listed.iter_rows(named=True)]
    if args.format == "json":
        print(json.dumps({"scenarios": rows}, indent=2))
    elif not rows:
        print("no saved scenarios")
    else:
        for r in rows:
            print(f"{r['name']:<32}{r['period']:<10}{r['kind']:<12}{r['spend']:>16}  {r['updated_at']}  {r['note']}")
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
        return _fail(f"no database at {path}", "text", EXIT_REJECTED)
    try:
        with Store(path, user=cli_user()) as store:
            taken = store.backup("manual")
    except StoreError as exc:
        return _fail(str(exc), "text", EXIT_FAILED)
    print(f"backed up {path} to {taken}" if taken else f"backups are off (${backup.ENV_BACKUPS}=0)")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    if args.backup.isdigit():
        found = backup.list_backups(path)
        number = int(args.backup)
        if not 1 <= number <= len(found):
            return _fail(f"there is no backup number {number} of {path} ({len(found)} found; "
                         "see python -m finance backups)", "text", EXIT_REJECTED)
        source = found[number - 1].path
    else:
        source = Path(args.backup)
        if not source.is_file():
            return _fail(f"no backup file {source}", "text", EXIT_REJECTED)
    try:
        kept = restore(path, source, user=cli_user())
    except StoreError as exc:
        return _fail(str(exc), "text", EXIT_FAILED)
    print(f"restored {path} from {source}")
    if kept:
        print(f"the database it replaced is kept as {kept}")
    return EXIT_OK


class TerminalText(io.TextIOBase):
    """A text stream for a person's terminal: every character from the data printed as text, never
    obeyed (escape sequences, right-to-left overrides and other control characters are written as
    their escapes; line breaks and tabs the command itself prints pass through)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write("\n".join("\t".join(literal.terminal(part) for part in line.split("\t"))
                                    for line in text.split("\n")))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"import": cmd_import, "imports": cmd_imports, "undo": cmd_undo, "metrics": cmd_metrics,
                "assumptions": cmd_assumptions, "demo": cmd_demo, "backtest": cmd_backtest, "report": cmd_report,
                "plan": cmd_plan, "scenarios": cmd_scenarios, "backups": cmd_backups, "backup": cmd_backup,
                "restore": cmd_restore}
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
        return _fail(str(exc), "json" if fmt == "json" else "text", EXIT_FAILED)
    finally:
        sys.stdout, sys.stderr = streams
