"""Commands for the budget: plan, saved scenarios, and the board pack (report)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, existing_db, fail
from finance.cli.figures import model_check
from finance.present import formats
from finance.store.database import Store, StoreError, cli_user, default_db_path


def cmd_report(args: argparse.Namespace) -> int:
    from finance.cli import packs
    from finance.present import report  # the PDF toolchain (kaleido, Chromium) only for this command
    from finance.present.pdf import PdfError

    if args.diff is not None:
        if args.publish or args.out is not None:
            return fail("--diff compares the figures now with a published pack: give it alone", "text",
                        EXIT_REJECTED)
        return packs.diff(args)
    if args.publish:
        return packs.publish(args)
    if args.out is None:
        return fail("give --out FILE.pdf or FILE.xlsx, --publish, or --diff", "text", EXIT_REJECTED)
    try:
        report.check_output(args.out)
        pack = report.gather(args.db or default_db_path(), period=args.period, scenario=args.scenario,
                             method=args.method, prepared_by=cli_user())
    except ValueError as exc:  # a PlanError is a ValueError
        return fail(str(exc), "text", EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), "text", EXIT_FAILED)
    try:
        written = report.write(pack, args.out)
    except (PdfError, OSError, ValueError) as exc:
        return fail(f"the board pack was not written: {exc}", "text", EXIT_FAILED)
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


def cmd_plan(args: argparse.Namespace) -> int:
    from finance.metrics.params import resolve
    from finance.planning import plans as sc
    from finance.planning.curves import PlanError

    fmt = "json" if args.format == "json" else "text"
    path = existing_db(args)
    if path is None:
        return fail(f"no database at {args.db or default_db_path()}", fmt, EXIT_REJECTED)
    try:  # the edits and the total are checked before the history is read: a typo fails at once
        _set_lines([], args.set)
        if args.total is not None:
            sc.to_cents(args.total)
    except PlanError as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)
    try:
        with Store(path, read_only=args.save is None, user=cli_user()) as store:
            data, stored, currency = store.dataset(), store.assumptions(), store.currency
            params = resolve(stored, method=args.method).params
            check = model_check(path, store.imports(), data, params, quiet=fmt == "json")
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
        return fail(str(exc), fmt, EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), fmt, EXIT_FAILED)
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
    path = existing_db(args)
    if path is None:
        return fail(f"no database at {args.db or default_db_path()}", fmt, EXIT_REJECTED)
    try:
        with Store(path, read_only=args.delete is None, user=cli_user()) as store:
            if args.delete:
                sc.delete_scenario(store, args.delete)
            listed = sc.list_scenarios(store)
    except PlanError as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), fmt, EXIT_FAILED)
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
