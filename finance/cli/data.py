"""Commands that load and keep the data: import, imports, undo, and the stored assumptions."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, fail
from finance.domain import literal
from finance.domain.fx import RateTable
from finance.domain.money import money_text
from finance.domain.problems import Problem
from finance.domain.schema import DEFAULT_CURRENCY, MONEY_KINDS, file_kind
from finance.ingest import presets
from finance.ingest.encodings import ENCODINGS
from finance.ingest.fx import convert_rows, read_rates
from finance.ingest.prepare import (
    ImportOptions,
    OptionsError,
    PreparedImport,
    load_category_map,
    load_channel_map,
    prepare,
)
from finance.present import formats
from finance.store import fx
from finance.store.database import ImportResult, Store, StoreError, cli_user, default_db_path
from finance.store.fx import RatesResult


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME``: read the file as a known export; the presets are listed in ``--help``."""
    listed = "; ".join(f"{p.name} ({p.kind}: {p.title})" for p in presets.PRESETS.values())
    parser.add_argument("--preset", choices=[*presets.PRESETS, presets.NO_PRESET], metavar="NAME",
                        help="read the file as a known export (default: detected from its header; "
                             f"{presets.NO_PRESET!r}: read it by the contract alone). Presets: "
                             + listed.replace("%", "%%"))


def _column_map(pairs: Sequence[Sequence[str]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for group in pairs:
        for pair in group:
            source, sep, target = pair.rpartition("=")
            if not sep or not source.strip() or not target.strip():
                raise OptionsError(f"--map {pair!r}: expected HEADER=COLUMN")
            mapping[source.strip()] = target.strip()
    return mapping


FIXES = {
    "decimal_comma": "pass --decimal-comma if the file writes 1.234,56",
    "ambiguous_date": "pass --date-format %d/%m/%Y (day first) or %m/%d/%Y (month first)",
    "invalid_date": "pass --date-format FORMAT if the file writes dates another way",
    "fiscal_year_needed": "pass --fiscal-year-start MONTH (1-12)",
    "unknown_category": "map the label with --category-map FILE (a CSV: label,category)",
    "missing_column": 'map a header to the column with --map "HEADER=COLUMN"',
    "periods_already_imported": "pass --replace to replace those periods, or undo the earlier import",
    "encoding": "pass --encoding NAME if the text reads wrong",
    "mixed_decimal_marks": "write one decimal mark in the column, or pass --decimal-comma if it is the comma",
    "preset_ambiguous": "pass --preset NAME with the export it is, or --preset none to read it by the contract alone",
    "preset_mismatch": "pass the --preset of the export it is, or --preset none to read it by the contract alone",
    "fx_rate_missing": "import exchange rates covering it: python -m finance import fx FILE",
    "ambiguous_currency": "pass --file-currency CODE, or add a currency column",
    "rate_changed": "pass --replace to take this file's rates",
    "new_channel": "map a value written another way with --channel-map FILE (a CSV: value,channel; "
                   "a blank channel is a shared cost)",
}
"""How to fix a problem from the command line, by problem code (the Data page has its own words)."""


def fix(p: Problem) -> str | None:
    """How to fix ``p`` from the command line, naming the header to map or the encoding where the importer
    has a guess."""
    if p.code == "missing_column" and p.suggestion:
        return f'map the header with --map "{p.suggestion}={p.column}"'
    if p.code in ("not_text", "encoding_unclear") and p.suggestion:
        return f"pass --encoding {p.suggestion} if that is the file's encoding (or another of: {', '.join(ENCODINGS)})"
    if p.code == "unknown_sheet":
        return "pass --sheet NAME with one of the workbook's sheets"
    return FIXES.get(p.code)


def _print_problems(title: str, problems: list[Problem], file_name: str) -> None:
    if not problems:
        return
    print(f"{title} ({len(problems)}):")
    for p in problems:
        print(f"  {p.describe(file_name)}")
        if p.severity == "error" and p.expected:
            print(f"      expected: {p.expected}")
        if (how := fix(p)) is not None:
            print(f"      to fix: {how}")


def _report_import(result: ImportResult, fmt: str, dry_run: bool = False, currency: str = DEFAULT_CURRENCY,
                   preset: str | None = None) -> int:
    payload = result.to_json()
    payload["preset"] = preset
    for entry, p in zip((*payload["errors"], *payload["warnings"]), (*result.errors, *result.warnings),
                        strict=True):
        if (how := fix(p)) is not None:
            entry["fix"] = how
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
            if preset is not None:
                print(f"  read as a known export: {presets.PRESETS[preset].title} (preset {preset})")
            measure = file_kind(result.kind).measure
            print(f"  {'period':<24}{'rows':>10}{measure:>20}")
            for p in payload["periods"]:
                print(f"  {p['period']:<24}{p['rows']:>10}{_total_text(p['total'], currency):>20}")
            print(f"  {'total':<24}{result.rows:>10}{_total_text(payload['total'], currency):>20}")
            if result.replaced:
                print(f"  replaced rows of import(s): {', '.join(f'#{i}' for i in result.replaced)}")
            if result.converted:
                parts = [f"{n} row(s) from {c} ({money_text(result.originals.get(c)) or '0.00'} {c} as written)"
                         for c, n in sorted(result.converted.items())]
                print(f"  converted to {result.currency}: {'; '.join(parts)}")
        _print_problems("warnings", result.warnings, name)
    return EXIT_REJECTED if result.status == "rejected" else EXIT_OK


def _total_text(value: Any, currency: str) -> str:
    """An import's total as the dashboard writes it: money (an exact decimal string) or a count."""
    return formats.money(value, currency) if isinstance(value, str) else formats.count(value)


def cmd_import(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        return _import_lake(args)
    args.file = Path(args.file)
    if args.kind == "fx":
        return _import_rates(args)
    try:
        options_kwargs: dict[str, Any] = {
            "column_map": _column_map(args.map),
            "category_map": load_category_map(args.category_map) if args.category_map else {},
            "channel_map": load_channel_map(args.channel_map) if args.channel_map else {},
            "date_format": args.date_format,
            "decimal_comma": args.decimal_comma,
            "fiscal_year_start": args.fiscal_year_start,
            "default_category": args.category,
            "default_channel": args.channel,
            "default_period": args.period,
            "encoding": args.encoding,
            "sheet": args.sheet,
            "preset": args.preset,
            "file_currency": args.file_currency,
        }
        path = args.db or default_db_path()
        currency, known, fresh, chosen = args.currency or DEFAULT_CURRENCY, frozenset[str](), True, False
        if path.exists():
            with Store(path, read_only=True) as reader:
                fresh = not fx.holds_amounts(reader)
                currency = args.currency if args.currency and fresh else reader.currency
                known = frozenset(reader.channels())
                chosen = fx.currency_chosen(reader)
        # The file is read and checked before the store is opened for writing, so a long check
        # never holds the writer's lock (other imports, the app's editors) while it runs.
        options = ImportOptions(**options_kwargs, currency=currency, known_channels=known)
        prepared = prepare(args.kind, args.file, options)
        if args.dry_run:
            result = ImportResult("rejected" if prepared.errors else "valid", args.kind,
                                  prepared.file_name, errors=prepared.errors,
                                  warnings=prepared.warnings)
            if prepared.ok:
                prepared, result = _dry_run_conversion(path, prepared, result, _requested(args, prepared, fresh,
                                                                                          chosen))
            if prepared.ok and not result.errors:
                result.rows = prepared.rows.height
                result.periods = prepared.period_totals()
                result.total = prepared.total()
            else:
                result.status = "rejected"
            return _report_import(result, args.format, dry_run=True, currency=result.currency or options.currency,
                                  preset=_preset_applied(prepared.problems))
        with Store(path, user=cli_user()) as store:
            if store.currency != currency and fx.holds_amounts(store):
                raise StoreError(f"the database's currency changed to {store.currency} while the file was read; "
                                 "import it again")
            result = store.import_prepared(prepared, replace=args.replace, options=options,
                                           reporting_currency=_requested(args, prepared, not fx.holds_amounts(store),
                                                                         fx.currency_chosen(store)))
    except OptionsError as exc:
        return fail(str(exc), args.format, EXIT_REJECTED)
    except StoreError as exc:
        return fail(str(exc), args.format, EXIT_FAILED)
    return _report_import(result, args.format, currency=result.currency or currency,
                          preset=_preset_applied(prepared.problems))


def _preset_applied(problems: list[Problem]) -> str | None:
    """The preset the file was read with (its ``preset_applied`` notice names it), or None."""
    return next((p.value for p in problems if p.code == "preset_applied"), None)


def _requested(args: argparse.Namespace, prepared: PreparedImport, fresh: bool, chosen: bool) -> str | None:
    """The reporting currency asked for: ``--currency``; on a database holding no amounts and whose currency
    was never chosen, the file's first currency (else the database's, USD by default)."""
    if args.currency is not None or not fresh or chosen:
        return args.currency
    return fx.first_currency(prepared)


def _dry_run_conversion(path: Path, prepared: PreparedImport, result: ImportResult,
                        requested: str | None) -> tuple[PreparedImport, ImportResult]:
    """A dry run converts as the import would, at the stored rates (none in a new database)."""
    from finance.store.database import Store as Reader

    if not path.exists():  # a new database: no rate yet
        reporting = requested or DEFAULT_CURRENCY
        converted, conversion = prepared, convert_rows(prepared.kind, prepared.rows, reporting, RateTable())
    else:
        with Reader(path, read_only=True) as reader:
            reporting = fx.reporting_currency_for(reader, prepared, requested)
            converted, conversion = fx.convert_import(reader, prepared, reporting)
    result.errors = conversion.problems
    if prepared.kind in MONEY_KINDS:
        result.currency, result.converted, result.originals = reporting, conversion.converted, conversion.originals
    return converted, result


def _import_rates(args: argparse.Namespace) -> int:
    """``import fx FILE``: exchange rates, the ECB's layout or a long one."""
    prepared = read_rates(args.file, base=args.base)
    path = args.db or default_db_path()
    try:
        if args.dry_run:
            result = RatesResult("rejected" if prepared.problems else "valid", prepared.file_name, prepared.layout,
                                 errors=prepared.problems, added=len(prepared.rows),
                                 currencies=prepared.currencies(), bases=prepared.bases())
        else:
            with Store(path, user=cli_user()) as store:
                result = store.import_rates(prepared, replace=args.replace)
    except StoreError as exc:
        return fail(str(exc), args.format, EXIT_FAILED)
    payload = result.to_json()
    for entry, p in zip(payload["errors"], result.errors, strict=True):
        if (how := fix(p)) is not None:
            entry["fix"] = how
    if args.format == "json":
        print(json.dumps(payload, indent=2))
    elif result.status == "rejected":
        print(f"rejected {result.file_name}: {len(result.errors)} error(s); no rate was imported")
        _print_problems("errors", result.errors, result.file_name)
    else:
        print(f"{result.file_name}: exchange rates ({result.layout}) {result.status}: {result.added} added, "
              f"{result.unchanged} unchanged, {result.replaced} replaced; {', '.join(result.currencies)} per "
              f"{', '.join(result.bases)}, {result.first} to {result.last}")
    return EXIT_REJECTED if result.status == "rejected" else EXIT_OK


def cmd_currency(args: argparse.Namespace) -> int:
    """Show the reporting currency, or change it: every stored amount is converted again, or nothing changes."""
    path = args.db or default_db_path()
    try:
        with Store(path, read_only=args.code is None and path.exists(), user=cli_user()) as store:
            outcome: dict[str, Any] = {"from": store.currency, "to": store.currency, "converted": {}}
            if args.code is not None:
                outcome = store.set_reporting_currency(args.code)
            rates = store.fx_rates().height if args.code is None else None
    except StoreError as exc:
        return fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        print(json.dumps({"currency": outcome["to"], "changed": outcome["from"] != outcome["to"], **outcome}))
    elif args.code is None:
        print(f"reporting currency: {outcome['to']} ({rates} exchange rates stored)")
    elif outcome["from"] == outcome["to"]:
        print(f"the reporting currency is already {outcome['to']}: nothing changed")
    else:
        counts = ", ".join(f"{kind}: {sum(c.values())} rows converted" for kind, c in outcome["converted"].items())
        print(f"reporting currency changed from {outcome['from']} to {outcome['to']}"
              + (f" ({counts})" if counts else ""))
    return EXIT_OK


def cmd_assumptions(args: argparse.Namespace) -> int:
    """Read the assumptions every figure uses, or set some: the Assumptions page's form, scriptable."""
    from finance.domain.assumptions import LABELS, Assumptions

    texts: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            return fail(f"--set {item!r}: expected KEY=VALUE, e.g. default_gross_margin=0.65", args.format,
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
        return fail(str(exc), args.format, EXIT_FAILED)
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


def _import_lake(args: argparse.Namespace) -> int:
    """``import revenue PATH --engine spark``: the ledger stays in the lake; Spark reduces it; the store keeps the
    summaries (``finance.store.spark``)."""
    if args.kind != "revenue":
        return fail(f"--engine spark reduces a revenue ledger; {args.kind} files are imported into the store "
                    "(leave out --engine)", args.format, EXIT_REJECTED)
    if args.dry_run:
        return fail("--dry-run is for files imported into the store; a lake import checks every value before "
                    "it writes anything", args.format, EXIT_REJECTED)
    try:
        with Store(args.db or default_db_path(), user=cli_user()) as store:
            outcome = store.import_lake(args.file, fmt=args.lake_format, customers=args.customers_from,
                                        master=args.spark_master)
    except (ValueError, StoreError) as exc:
        return fail(str(exc), args.format, EXIT_REJECTED)
    if args.format == "json":
        print(json.dumps(outcome, indent=2))
    else:
        replaced = (f"; it replaces lake import {', '.join(f'#{i}' for i in outcome['replaced_imports'])}"
                    if outcome["replaced_imports"] else "")
        print(f"import #{outcome['import_id']}: the revenue ledger in the lake at {literal.terminal(args.file)}, "
              f"{outcome['rows']:,} rows in {outcome['files']:,} file(s), {outcome['period_start']} to "
              f"{outcome['period_end']}, total {outcome['total']}, reduced on Spark to the summaries of "
              f"{outcome['customers']:,} customers{replaced}")
    return EXIT_OK


def cmd_imports(args: argparse.Namespace) -> int:
    try:
        path = args.db or default_db_path()
        with Store(path, read_only=path.exists()) as store:
            log, currency = store.imports(), store.currency
    except StoreError as exc:
        return fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        rows = []
        for rec in log.iter_rows(named=True):
            money = rec["kind"] in MONEY_KINDS
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
        money = rec["kind"] in MONEY_KINDS
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
        return fail(str(exc), args.format, EXIT_FAILED)
    if args.format == "json":
        print(json.dumps({"status": "undone", **outcome}))
    else:
        print(f"undid import #{outcome['import_id']} ({outcome['kind']}): "
              f"{outcome['rows_removed']} rows removed, {outcome['rows_restored']} rows restored")
    return EXIT_OK
