"""How close the LTV comes to what customers really earned, on companies whose future is known.

For each kind of company (subscription, repeat-purchase, mixed) and seed, ``bench.simulate``
draws a company, its history is imported into a fresh database through the store (as a user's
exports would be), and the monthly metric table of each LTV method is compared with what the
twelve youngest cohorts' customers really earned over the horizon:

    .venv/bin/python bench/ltv_accuracy.py --seeds 7001,7002,7003 --methods formula,cohort,bgnbd
    .venv/bin/python bench/ltv_accuracy.py --billing-column --json out.json

Reported per kind and method: mean absolute % error, the worst cohort's error, the mean signed
error (bias) and how often the stated interval held the truth. A benchmark, not a test:
``tests/test_ltv_truth.py`` holds the product to the targets on a few companies.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.simulate import KnownFuture, score_ltv, simulate  # noqa: E402
from finance.ltv import backtest  # noqa: E402
from finance.ltv.base import LTVSettings  # noqa: E402
from finance.metrics.table import MetricParams, compute  # noqa: E402
from finance.store.database import Store  # noqa: E402
from finance.store.dataset import default_as_of  # noqa: E402


def imported(company: KnownFuture, folder: Path, *, billing_column: bool) -> Path:
    """The company's history written as exports and imported into a new database."""
    files = company.write(folder, billing_column=billing_column)
    db = folder / "company.duckdb"
    with Store(db) as store:
        for kind in ("spend", "customers", "revenue"):
            result = store.import_file(kind, files[kind])
            if result.status != "imported":
                raise RuntimeError(f"{kind}: {result.to_json()}")
    return db


def run(kinds: list[str], seeds: list[int], methods: list[str], customers: int, billing_column: bool,
        draws: int, checked: bool = True) -> list[dict[str, Any]]:
    out = []
    for kind in kinds:
        for seed in seeds:
            company = simulate(kind, seed=seed, customers=customers)  # type: ignore[arg-type]
            truth = company.truth()
            with tempfile.TemporaryDirectory() as tmp:
                db = imported(company, Path(tmp), billing_column=billing_column)
                with Store(db, read_only=True) as store:
                    data = store.dataset()
                began = time.perf_counter()
                check = backtest.run(data, LTVSettings(), default_as_of(data)) if checked else None
                check_seconds = time.perf_counter() - began
                for method in methods:
                    began = time.perf_counter()
                    result = compute(data, MetricParams(grain="month", ltv=LTVSettings(method=method, draws=draws)),
                                     check)
                    seconds = time.perf_counter() - began
                    scored = score_ltv(result.rows, truth)
                    errors = scored.get_column("error")
                    out.append({
                        "kind": kind, "seed": seed, "method": method, "seconds": round(seconds, 2),
                        "check_seconds": round(check_seconds, 2),
                        "recommended": check.recommended if check else None,
                        "mape": float(errors.abs().mean()) if errors.null_count() == 0 else None,
                        "worst": float(errors.abs().max()) if errors.null_count() == 0 else None,
                        "bias": float(errors.mean()) if errors.null_count() == 0 else None,
                        "missing": errors.null_count(),
                        "coverage": float(scored.get_column("covered").cast(pl.Float64).mean() or 0.0),
                        "cohorts": scored.with_columns(pl.col("period").cast(pl.String)).to_dicts(),
                    })
                    last = out[-1]
                    print(f"{kind:<12} seed {seed:<6} {method:<8} MAPE {_pct(last['mape'])}  worst "
                          f"{_pct(last['worst'])}  bias {_pct(last['bias'], signed=True)}  80% interval held "
                          f"{last['coverage']:.0%}  ({seconds:.1f} s)", flush=True)
    return out


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "  n/a "
    return f"{value:+6.1%}" if signed else f"{value:6.1%}"


def summary(results: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame([{k: v for k, v in r.items() if k != "cohorts"} for r in results])
    table = frame.group_by("kind", "method", maintain_order=True).agg(
        companies=pl.len(), mape=pl.col("mape").mean(), worst=pl.col("worst").max(),
        bias=pl.col("bias").mean(), coverage=pl.col("coverage").mean(), seconds=pl.col("seconds").mean())
    print()
    for rec in table.iter_rows(named=True):
        print(f"{rec['kind']:<12} {rec['method']:<8} {rec['companies']} companies: MAPE {_pct(rec['mape'])}, "
              f"worst cohort {_pct(rec['worst'])}, bias {_pct(rec['bias'], signed=True)}, interval held "
              f"{rec['coverage']:.0%}, {rec['seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default="subscription,repeat,mixed")
    parser.add_argument("--seeds", default="7001,7002,7003")
    parser.add_argument("--methods", default="formula,cohort,bgnbd")
    parser.add_argument("--customers", type=int, default=8000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--billing-column", action="store_true",
                        help="export the customers' billing interval instead of leaving it to be detected")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the back-test: auto chooses by the data's shape, ranges use the prior model error")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = run(args.kinds.split(","), [int(s) for s in args.seeds.split(",")], args.methods.split(","),
                  args.customers, args.billing_column, args.draws, not args.no_check)
    summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
