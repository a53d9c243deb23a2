"""Commands for the general ledger: its accounts' cost categories (``gl``) and the spend reconciled to it
(``reconcile``)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, fail
from finance.domain.schema import CATEGORIES
from finance.ingest.prepare import OptionsError, load_account_map
from finance.metrics.reconcile import NO_ACCOUNT, RECONCILED, Reconciliation, from_store
from finance.present import formats
from finance.store import accounts
from finance.store.database import Store, StoreError, cli_user, default_db_path
from finance.store.dataset import channel_key

STATUS_WORDS = {RECONCILED: "reconciled", "variance": "VARIANCE", NO_ACCOUNT: "NO ACCOUNT"}


def add_parsers(sub: Any) -> None:
    """The ``gl`` and ``reconcile`` commands."""
    from finance.cli.common import add_db

    gl = sub.add_parser("gl", help="the general ledger's accounts: which cost category each is reconciled as")
    actions = gl.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("accounts", help="every account of the imported ledger, its category (or why "
                                                  "it has none) and its total")
    add_db(listing)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    mapping = actions.add_parser("map", help="map accounts to cost categories (all or none are saved)")
    mapping.add_argument("account", nargs="?", help='the account as the ledger names it, e.g. "6100 Advertising"')
    mapping.add_argument("category", nargs="?",
                         help=f"a cost category key ({', '.join(CATEGORIES)}), or {accounts.NOT_SPEND!r}: the "
                              "account is not marketing or sales spend")
    mapping.add_argument("--file", type=Path, metavar="FILE",
                         help="a CSV with the header account,category: one account a row")
    add_db(mapping)
    mapping.add_argument("--format", choices=("text", "json"), default="text")
    unmap = actions.add_parser("unmap", help="forget an account's category (it is then not reconciled)")
    unmap.add_argument("account")
    add_db(unmap)
    unmap.add_argument("--format", choices=("text", "json"), default="text")

    rec = sub.add_parser("reconcile", help="the spend reconciled to the general ledger, per period and category")
    add_db(rec)
    rec.add_argument("--period", metavar="PERIOD", help="one period, e.g. 2025-Q4 (or 2025-10 with --grain month)")
    rec.add_argument("--grain", choices=("quarter", "month"), default="quarter")
    rec.add_argument("--format", choices=("table", "json"), default="table")
    rec.epilog = ("Variance is the imported spend less the ledger. A line reconciles when it is within the larger "
                  "of the tolerance's amount and share of the ledger (the reconcile_amount and reconcile_share "
                  "assumptions); the variance is shown exactly either way. Exit code 3 when a period does not "
                  "reconcile.")


EXIT_VARIANCE = 3
"""``reconcile`` ran, and a period does not reconcile: a scheduled job can tell."""


def cmd_reconcile(args: argparse.Namespace) -> int:
    try:
        path = args.db or default_db_path()
        if not path.exists():
            return fail(f"no database at {path}: import the spend and the general ledger first", args.format,
                        EXIT_FAILED)
        with Store(path, read_only=True) as store:
            result = from_store(store, args.grain, args.period)
            currency = store.currency
        if result is None:
            return fail("no general ledger is imported: import one first (python -m finance import gl FILE)",
                        args.format, EXIT_FAILED)
    except ValueError as exc:
        return fail(str(exc), args.format, EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        print(json.dumps(to_json(result, currency), indent=2))
    else:
        _print_table(result, currency)
    return EXIT_VARIANCE if result.failing else EXIT_OK


def _money(value: Any) -> str:
    """An amount exactly: two decimals at least, the ledger's and the store's sub-cent digits when there are
    any (a month's share of a quarter's line), never rounded."""
    if value is None:
        return "0.00"
    exact = Decimal(value)
    cents = exact.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == exact else f"{exact.normalize():f}"


def to_json(result: Reconciliation, currency: str) -> dict[str, Any]:
    """Amounts as exact decimal strings; account names as the ledger wrote them (JSON escapes them)."""
    return {
        "currency": currency, "grain": result.grain, "spend_basis": result.basis,
        "tolerance": {"share": str(result.tolerance.share), "amount": _money(result.tolerance.amount)},
        "periods": [{"period": r["period"], "ledger": _money(r["ledger"]), "spend": _money(r["spend"]),
                     "variance": _money(r["variance"]), "lines": r["lines"], "lines_off": r["off"],
                     "status": r["status"]} for r in result.periods.iter_rows(named=True)],
        "lines": [{"period": r["period"], "category": r["category"], "ledger": _money(r["ledger"]),
                   "spend": _money(r["spend"]), "variance": _money(r["variance"]),
                   "allowed": _money(r["allowed"]),
                   "variance_share": r["variance_share"], "accounts": r["accounts"], "status": r["status"]}
                  for r in result.lines.iter_rows(named=True)],
        "accounts": [{"account": r["account"], "category": r["category"], "state": r["state"],
                      "suggestion": r["suggestion"], "ledger": _money(r["ledger"]), "months": r["months"]}
                     for r in result.accounts.iter_rows(named=True)],
        "uncovered_periods": list(result.uncovered),
        "failing_periods": list(result.failing),
    }


def _print_table(result: Reconciliation, currency: str) -> None:
    tolerance = result.tolerance
    print(f"Spend ({result.basis} basis) reconciled to the general ledger, by {result.grain} (variance = imported "
          "spend - ledger; a line "
          f"reconciles within the larger of {formats.money(tolerance.amount, currency)} and "
          f"{formats.percent(float(tolerance.share), places=2)} of the ledger)")
    if result.lines.is_empty():
        print("no period to compare: the ledger export covers no whole period that has spend or mapped accounts")
    else:
        print(f"{'period':<10}{'category':<30}{'ledger':>18}{'spend':>18}{'variance':>16}  status")
        for r in result.lines.iter_rows(named=True):
            label = CATEGORIES[r["category"]].label if r["category"] in CATEGORIES else r["category"]
            print(f"{r['period']:<10}{label:<30}{formats.money(r['ledger'], currency):>18}"
                  f"{formats.money(r['spend'], currency):>18}{formats.money(r['variance'], currency):>16}  "
                  f"{STATUS_WORDS.get(r['status'], r['status'])}")
        print()
        for r in result.periods.iter_rows(named=True):
            words = ("reconciled" if r["status"] == RECONCILED
                     else f"does not reconcile: {r['off']} of {r['lines']} lines off, variance "
                          f"{formats.money(r['variance'], currency)}")
            print(f"{r['period']}: {words}")
    unmapped = result.unmapped
    if unmapped.height:
        print()
        print(f"{unmapped.height} account(s) not mapped to a category, so not reconciled "
              "(python -m finance gl map ACCOUNT CATEGORY):")
        for r in unmapped.iter_rows(named=True):
            hint = f" (reads as {r['suggestion']})" if r["suggestion"] else ""
            print(f"  {r['account']}: {formats.money(r['ledger'], currency)}{hint}")
    if result.uncovered:
        print()
        print("Spend in periods the ledger export does not wholly cover (not reconciled): "
              + ", ".join(result.uncovered))


def cmd_gl(args: argparse.Namespace) -> int:
    try:
        if args.action == "accounts":
            return _list_accounts(args)
        if args.action == "map":
            return _map(args)
        with Store(args.db, user=cli_user()) as store:
            found = accounts.unmap(store, args.account)
        if args.format == "json":
            print(json.dumps({"account": args.account, "unmapped": found}))
        else:
            print(f"{args.account}: mapping removed" if found else f"{args.account}: was not mapped")
        return EXIT_OK if found else EXIT_FAILED
    except OptionsError as exc:
        return fail(str(exc), args.format if args.format == "json" else "text", EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), args.format if args.format == "json" else "text", EXIT_FAILED)


def _map(args: argparse.Namespace) -> int:
    fmt = "json" if args.format == "json" else "text"
    if args.file is not None:
        if args.account or args.category:
            return fail("give either ACCOUNT CATEGORY or --file, not both", fmt, EXIT_REJECTED)
        wanted = load_account_map(args.file, accounts.NOT_SPEND)
    elif args.account and args.category:
        wanted = {args.account: args.category}
    else:
        return fail("name an ACCOUNT and its CATEGORY, or give --file account-map.csv", fmt, EXIT_REJECTED)
    if not wanted:
        return fail("the account map has no rows", fmt, EXIT_REJECTED)
    with Store(args.db, user=cli_user()) as store:
        stored = accounts.map_accounts(store, wanted)
    if fmt == "json":
        print(json.dumps({"mapped": {a: c or accounts.NOT_SPEND for a, c in stored.items()}}, indent=2))
    else:
        for account, category in stored.items():
            print(f"{account} -> {category or 'not marketing or sales spend'}")
    return EXIT_OK


def _list_accounts(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    if not path.exists():
        return fail(f"no database at {path}", args.format, EXIT_FAILED)
    with Store(path, read_only=True) as store:
        ledger = store.general_ledger()
        currency = store.currency
        mapped = accounts.mapped(store)
    keyed = mapped.select("account_key", "category", known=pl.lit(True))
    rows = (ledger.lazy().with_columns(account_key=channel_key(pl.col("account")))
            .group_by("account_key").agg(account=pl.col("account").first(), ledger=pl.col("amount").sum(),
                                         rows=pl.len(), first=pl.col("period_start").min(),
                                         last=pl.col("period_end").max())
            .collect().join(keyed, on="account_key", how="left").sort("account"))
    out = []
    for r in rows.iter_rows(named=True):
        state = "mapped" if r["category"] else "not spend" if r["known"] else "unmapped"
        out.append({"account": r["account"], "state": state, "category": r["category"],
                    "suggestion": accounts.suggestion(r["account"]) if state == "unmapped" else None,
                    "ledger": _money(r["ledger"]), "rows": r["rows"],
                    "first": r["first"].isoformat(), "last": r["last"].isoformat()})
    if args.format == "json":
        print(json.dumps(out, indent=2))
        return EXIT_OK
    if not out:
        print("no general ledger is imported (python -m finance import gl FILE)")
        return EXIT_OK
    print(f"{'account':<40}{'category':<24}{'ledger':>18}{'rows':>7}  span")
    for r in out:
        category = r["category"] or ("(not spend)" if r["state"] == "not spend"
                                     else f"? {r['suggestion']}" if r["suggestion"] else "?")
        print(f"{r['account']:<40}{category:<24}{formats.money(Decimal(r['ledger']), currency):>18}{r['rows']:>7}  "
              f"{r['first']}..{r['last']}")
    if any(r["state"] == "unmapped" for r in out):
        print("\n? = not mapped, so not reconciled (a suggestion from its name follows); map with "
              "python -m finance gl map ACCOUNT CATEGORY, or --file account-map.csv")
    return EXIT_OK
