"""Targets on the command line: ``targets`` lists them and the periods that missed them, ``targets set`` and
``targets clear`` change them (an editor's change, recorded in the change log)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

from finance.cli.common import EXIT_OK, EXIT_REJECTED, add_db, fail
from finance.domain import literal
from finance.store import targets
from finance.store.database import Store, StoreError, cli_user, default_db_path

RATIO, PAYBACK, CAC = "ltv_cac", "payback_months", "cac:"


def add_parsers(sub: Any) -> None:
    parser = sub.add_parser("targets", help="the targets marketing is held to (LTV:CAC, CAC payback, each "
                                            "channel's CAC) and the periods that missed them")
    add_db(parser)
    parser.add_argument("action", nargs="?", choices=("list", "set", "clear"), default="list")
    parser.add_argument("values", nargs="*", metavar="TARGET",
                        help='with set: ltv_cac=3.5, payback_months=12, "cac:Paid Search=450.00" (all or none are '
                             'saved); with clear: payback_months or "cac:Paid Search"')
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _parse(values: list[str]) -> tuple[dict[str, str], dict[str, Decimal]]:
    """The assumption targets and the channel CAC targets of ``set``; ``StoreError`` names every bad one."""
    assumed: dict[str, str] = {}
    channels: dict[str, Decimal] = {}
    problems = []
    for text in values:
        key, sep, value = text.rpartition("=")
        if not sep or not key.strip():
            problems.append(f"{text!r}: expected TARGET=VALUE, e.g. ltv_cac=3.5 or \"cac:Paid Search=450\"")
        elif key.strip() == RATIO:
            assumed["target_ratio"] = value
        elif key.strip() == PAYBACK:
            assumed["target_payback_months"] = value
        elif key.strip().startswith(CAC):
            try:
                channels[key.strip()[len(CAC):].strip()] = targets.amount_of(value, key.strip()[len(CAC):])
            except StoreError as exc:
                problems.append(str(exc))
        else:
            problems.append(f"{key!r} is not a target; expected {RATIO}, {PAYBACK} or cac:CHANNEL")
    if problems:
        raise StoreError("; ".join(problems))
    return assumed, channels


def cmd_targets(args: argparse.Namespace) -> int:
    from finance.domain.assumptions import Assumptions

    fmt = "json" if args.format == "json" else "text"
    path = args.db or default_db_path()
    if not path.exists():
        return fail(f"no database at {path}", fmt, EXIT_REJECTED)
    try:
        if args.action == "set":
            assumed, channels = _parse(args.values)
            with Store(path, user=cli_user()) as store:
                current = Assumptions.from_settings(store.assumptions())
                updated, _changed = current.parsed(assumed)  # every value is checked before any is saved
                if assumed:
                    store.set_assumptions({k: v for k, v in updated.to_settings().items()
                                           if k in ("target_ratio", "target_payback_months")})
                if channels:
                    targets.set_targets(store, channels)
        elif args.action == "clear":
            with Store(path, user=cli_user()) as store:
                for value in args.values:
                    if value.strip() == PAYBACK:
                        store.set_assumptions({"target_payback_months": "0"})
                    elif value.strip().startswith(CAC):
                        if not targets.clear(store, value.strip()[len(CAC):].strip()):
                            raise StoreError(f"{value!r} had no target")
                    else:
                        raise StoreError(f"{value!r}: expected {PAYBACK} or cac:CHANNEL (the LTV:CAC target is "
                                         "always set: change it with set ltv_cac=VALUE)")
        return _show(path, fmt)
    except (StoreError, ValueError) as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)


def _show(path: Any, fmt: str) -> int:
    from finance.cli.figures import model_check
    from finance.metrics.params import resolve
    from finance.metrics.table import compute
    from finance.metrics.targets import Targets, misses

    with Store(path, read_only=True) as store:
        data, stored, listed, imports = store.dataset(), store.assumptions(), targets.listed(store), store.imports()
    resolved = resolve(stored)
    goals = Targets.of(resolved.assumptions.target_ratio, resolved.assumptions.target_payback_months, listed)
    check = model_check(path, imports, data, resolved.params, quiet=fmt == "json")  # the dashboard's LTV models
    pooled = compute(data, resolved.params, check).rows
    by_channel = compute(data, resolve(stored, by="channel").params, check).rows
    missed = misses(pooled, by_channel, goals)
    if fmt == "json":
        print(json.dumps({
            "ltv_cac": goals.ltv_cac, "payback_months": goals.payback_months,
            "cac": {goals.names[k]: str(v) for k, v in sorted(goals.cac.items())},
            "missed": missed.to_dicts()}, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"LTV:CAC at least {goals.ltv_cac:g}x; CAC payback "
          + (f"at most {goals.payback_months} months" if goals.payback_months else "no target"))
    for key, amount in sorted(goals.cac.items()):
        print(f"  {literal.terminal(goals.names[key])}: fully loaded CAC at most {amount}")
    print(f"periods that missed a target: {missed.height}")
    for r in missed.iter_rows(named=True):
        print(f"  {r['period']} {literal.terminal(r['channel'] or 'all channels')} {r['measure']}: {r['value']:.2f} "
              f"against {r['target']:.2f}")
    return EXIT_OK
