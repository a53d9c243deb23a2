"""Published board packs on the command line: ``report --publish``, ``report --diff [N]`` and ``packs``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, add_db, fail
from finance.domain import literal
from finance.store.database import Store, StoreError, cli_user, default_db_path


def add_parsers(sub: Any) -> None:
    listing = sub.add_parser("packs", help="the published board packs, or one of them written out as published")
    add_db(listing)
    listing.add_argument("number", nargs="?", type=int, metavar="N",
                         help="a pack's number (from the list): write its files with --out")
    listing.add_argument("--out", type=Path, metavar="FILE.pdf|FILE.xlsx",
                         help="with N: write the pack's PDF or XLSX (the suffix chooses) exactly as published")
    listing.add_argument("--format", choices=("table", "json"), default="table")


def publish(args: argparse.Namespace) -> int:
    """``report --publish``: store the pack with its manifest, and write ``--out`` from the stored bytes."""
    from finance.present import publish as published
    from finance.present import report
    from finance.present.pdf import PdfError

    path = args.db or default_db_path()
    try:
        kind = report.check_output(args.out) if args.out is not None else None
        pack = published.publish(path, period=args.period, scenario=args.scenario, method=args.method,
                                 user=cli_user())
    except ValueError as exc:
        return fail(str(exc), "text", EXIT_REJECTED)
    except (StoreError, PdfError, OSError) as exc:
        return fail(f"the board pack was not published: {exc}", "text", EXIT_FAILED)
    print(f"published pack #{pack.pack_id} of {pack.period}: PDF {len(pack.pdf):,} bytes "
          f"(sha256 {pack.manifest['files']['pdf']['sha256'][:12]}), XLSX {len(pack.xlsx):,} bytes "
          f"(sha256 {pack.manifest['files']['xlsx']['sha256'][:12]}); get it again with "
          f"`python -m finance packs {pack.pack_id} --out FILE.pdf`")
    if kind is not None:
        size = published.write_file(pack, kind, args.out)
        print(f"wrote {args.out}: {size:,} bytes, as published")
    return EXIT_OK


def diff(args: argparse.Namespace) -> int:
    """``report --diff [N]``: what moved since pack N (default: the latest) was published, and why."""
    from finance.present import publish as published

    fmt = "json" if args.format == "json" else "text"
    try:
        result = published.diff(args.db or default_db_path(), args.diff or None)
    except (ValueError, StoreError) as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)
    if fmt == "json":
        print(json.dumps(diff_json(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    header = (f"pack #{result.pack_id} of {result.period}, published {result.published_at:%Y-%m-%d %H:%M} UTC by "
              f"{literal.terminal(result.published_by or 'unknown')}")
    if not result.changed:
        print(f"unchanged since {header}: every figure reads as published")
        for cause in result.causes:
            print(f"  since then, {literal.terminal(cause.text)}: it moves none of the pack's figures")
        return EXIT_OK
    print(f"changed since {header}: {len(result.moved)} figure(s) moved")
    labels = {c.key: c.label for c in result.causes}
    for moved in result.moved:
        print("  " + moved_line(moved, result.currency, labels))
    if result.causes:
        print("changes since it was published:")
        for cause in result.causes:
            print(f"  {literal.terminal(cause.text)}"
                  + (": it moves none of the pack's figures" if result.moves_nothing(cause) else ""))
    return EXIT_OK


def moved_line(moved: Any, currency: str, labels: dict[str, str]) -> str:
    """'2025-Q4 Fully loaded CAC: $1,234.56 -> $1,300.00 (+65.44), because of import #7' (the causes listed after)."""
    from finance.metrics import measures
    from finance.present.publish import shown

    where = f"{moved.period}" + (f" {literal.terminal(moved.channel)}" if moved.channel else "")
    change = moved.change
    unit = " pts" if measures.unit(moved.measure) == "fraction" else ""
    delta = f" ({'+' if change > 0 else ''}{change}{unit})" if change is not None else ""
    why = ("because of " + ", ".join(labels[k] for k in moved.causes)) if moved.causes else \
        "with no import or assumption change since: the LTV models' check was re-run"
    return (f"{where} {measures.label(moved.measure)}: {shown(moved.measure, moved.before, currency)} -> "
            f"{shown(moved.measure, moved.after, currency)}{delta}, {why}")


def diff_json(result: Any) -> dict[str, Any]:
    return {"pack": result.pack_id, "period": result.period,
            "published_at": result.published_at.isoformat(sep=" "), "published_by": result.published_by,
            "changed": result.changed,
            "moved": [{"period": m.period, "channel": m.channel, "figure": m.measure, "published": m.before,
                       "now": m.after, "change": None if m.change is None else str(m.change),
                       "causes": list(m.causes)} for m in result.moved],
            "causes": [{"key": c.key, "text": c.text} for c in result.causes]}


def cmd_packs(args: argparse.Namespace) -> int:
    from finance.present import publish as published
    from finance.present import report
    from finance.store import packs

    fmt = "json" if args.format == "json" else "text"
    path = args.db or default_db_path()
    if not path.exists():
        return fail(f"no database at {path}", fmt, EXIT_REJECTED)
    if args.out is not None and args.number is None:
        return fail("--out writes one pack: give its number, e.g. `python -m finance packs 1 --out pack.pdf`",
                    fmt, EXIT_REJECTED)
    try:
        with Store(path, read_only=True) as store:
            if args.number is not None:
                pack = packs.get(store, args.number)
                if args.out is None:
                    print(json.dumps(pack.manifest, indent=2, ensure_ascii=False) if fmt == "json" else
                          _manifest_text(pack))
                    return EXIT_OK
                kind = report.check_output(args.out)
                size = published.write_file(pack, kind, args.out)
                print(f"wrote {args.out}: {size:,} bytes, pack #{pack.pack_id} of {pack.period} as published "
                      f"{pack.published_at:%Y-%m-%d %H:%M} UTC")
                return EXIT_OK
            listed = packs.listed(store)
    except (ValueError, StoreError) as exc:
        return fail(str(exc), fmt, EXIT_REJECTED)
    if fmt == "json":
        print(json.dumps([{"pack": r["pack_id"], "period": r["period"],
                           "published_at": r["published_at"].isoformat(sep=" "), "published_by": r["published_by"],
                           "pdf_bytes": r["pdf_bytes"], "xlsx_bytes": r["xlsx_bytes"], "pdf_sha256": r["pdf_sha256"],
                           "xlsx_sha256": r["xlsx_sha256"]} for r in listed.iter_rows(named=True)], indent=2))
        return EXIT_OK
    if listed.is_empty():
        print("no pack is published yet: python -m finance report --publish")
        return EXIT_OK
    print(f"{'#':>4}  {'quarter':<10}{'published (UTC)':<18}{'by':<28}{'PDF':>12}{'XLSX':>12}")
    for r in listed.iter_rows(named=True):
        print(f"{r['pack_id']:>4}  {r['period']:<10}{r['published_at']:%Y-%m-%d %H:%M}  "
              f"{literal.terminal(r['published_by'] or 'unknown'):<28}{r['pdf_bytes']:>12,}{r['xlsx_bytes']:>12,}")
    return EXIT_OK


def _manifest_text(pack: Any) -> str:
    m = pack.manifest
    imports = ", ".join(f"#{i['import_id']} {i['kind']} {literal.terminal(i['file_name'])} ({i['sha256'][:12]})"
                        for i in m["imports"])
    return "\n".join([
        f"pack #{pack.pack_id} of {pack.period}, published {pack.published_at:%Y-%m-%d %H:%M} UTC by "
        f"{literal.terminal(pack.published_by or 'unknown')}",
        f"  company: {literal.terminal(m['company'])}; currency {m['currency']}; LTV method {m['method']}; spend on "
        f"the {m['spend_basis']} basis; request {literal.terminal(m['request'])}",
        f"  figures as of {m['as_of']}, from imports {imports}",
        f"  PDF {m['files']['pdf']['bytes']:,} bytes, sha256 {m['files']['pdf']['sha256']}",
        f"  XLSX {m['files']['xlsx']['bytes']:,} bytes, sha256 {m['files']['xlsx']['sha256']}",
    ])
