"""Commands that compute the figures: metrics and the LTV model check (backtest)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, fail
from finance.domain import literal
from finance.metrics.table import MetricParams, compute
from finance.present import formats
from finance.store.database import Store, StoreError, default_db_path


def _metric_params(args: argparse.Namespace, stored: dict[str, str]) -> tuple[MetricParams, tuple[str, ...]]:
    """The parameters the dashboard uses for the same view: the stored assumptions, with this run's
    explicit flags applied over them; and the names of the assumptions the flags changed."""
    from finance.metrics.params import resolve

    resolved = resolve(stored, dict(
        default_gross_margin=args.gross_margin, annual_discount_rate=args.discount_rate,
        horizon_months=args.horizon, band_edges=args.bands, lag_quarters=args.lag, allocation=args.allocation,
        target_ratio=args.target), grain=args.grain, window=args.window, by=args.by, method=args.ltv_method,
        as_of=args.as_of, basis=args.basis)
    return resolved.params, resolved.overridden


def model_check(path: Path, imports: Any, data: Any, params: MetricParams, quiet: bool = False) -> Any:
    """The stored back-test of this data version, else run now (tens of seconds) and stored."""
    from finance.ltv import backtest
    from finance.store.dataset import default_as_of

    as_of = params.as_of or default_as_of(data)
    if not backtest.checkable(data):
        return None  # nothing to say: the figures use the prior model error, as the LTV notes tell
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
        check = model_check(path, imports, data, params, quiet=args.format == "json")
        result = compute(data, params, check)
    except (ValueError, StoreError) as exc:  # a FitError is a ValueError
        return fail(str(exc), "text" if args.format != "json" else "json", EXIT_REJECTED)
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


def _prepaid_line(r: dict[str, Any]) -> str:
    """A prepaid cost amortised outside the loaded months, in words (the metrics count none of it)."""
    who = ", ".join(literal.terminal(v) for v in (r["vendor"], r["category"], r["channel"]) if v)
    parts = []
    if Decimal(r["after_last_month"]):
        parts.append(f"{r['after_last_month']} after {r['last_month']} (prepaid)")
    if Decimal(r["before_first_month"]):
        parts.append(f"{r['before_first_month']} before {r['first_month']}")
    return (f"not in these figures: spend row {r['row']} ({who}), {r['amount']} for service {r['service_start']} to "
            f"{r['service_end']}: {' and '.join(parts)}, outside the months the spend covers")


def _print_metrics_table(payload: dict[str, Any]) -> None:
    a = payload["assumptions"]
    model = payload["ltv_model"]
    print(f"as of {a['as_of']}, {a['grain']} grain"
          + (f", trailing {a['window_months']} months" if a["window_months"] else "")
          + (f", by {a['by']}" if a["by"] else "")
          + f"; LTV: {model['method']} over {a['ltv_horizon_months']} months at "
          + f"{formats.percent(a['annual_discount_rate'], places=0)}; spend on the {a['spend_basis']} basis")
    for prepaid in payload["prepaid_outside"]:
        print(_prepaid_line(prepaid))
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
    from finance.metrics.params import resolve
    from finance.store.dataset import default_as_of

    path = args.db or default_db_path()
    try:
        with Store(args.db, read_only=path.exists()) as store:
            data, stored, imports = store.dataset(), store.assumptions(), store.imports()
    except StoreError as exc:
        return fail(str(exc), "json" if args.format == "json" else "text", EXIT_FAILED)
    settings = resolve(stored).params.ltv  # the dashboard's: the same check for both
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
