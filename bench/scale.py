"""Figures at ledger scale, from the store's summaries: each a ratio measured side by side in one run.

    python -m bench.scale [--sizes 1e5,1e6,1e7] [--rounds 3] [--work DIR] [--json OUT] [--spark]

A size is a target number of revenue rows (``bench.harness.parse_size``: about 7.1 a customer). Each
size's company is generated and imported once (``bench.harness.prepare_size``); then every step runs
in a fresh Python process (nothing cached, the libraries imported before the clock starts), the steps
of a round interleaved so a noisy neighbour slows them alike. Figures are medians over the rounds.

- ``figures``: ``Store.dataset()`` and ``metrics.compute`` at quarter grain for the company, by channel
  and by segment, under the default assumptions (method ``auto``, models chosen by the shape of the
  data): the dashboard's and ``python -m finance metrics``'s work, cold;
- ``figures_ledger``: the same, each figure made from the ledger's rows (the summaries set aside);
- ``all_methods``: every figure (company, channel, segment) by each of the three LTV methods;
- ``bgnbd``: the company's figures by BG/NBD alone;
- ``import``: ``Store.import_file("revenue")`` into a store that holds spend, funnel and customers,
  validation and summaries included; ``bulk``: DuckDB's own load of the same CSV into an on-disk table
  with the same column types (its baseline);
- with ``--spark``, ``spark``: the ledger's reduction on Apache Spark in local mode, from the ledger as
  Parquet files; ``duckdb_reduce``: the same SQL on DuckDB from the same files (its baseline).

Peak memory is each step's own (``bench.harness._Peak``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import _Peak, _run_child, parse_size, prepare_size

STEPS = ("figures", "figures_ledger", "all_methods", "bgnbd", "import", "bulk")
SPARK_STEPS = ("spark", "duckdb_reduce")
BREAKDOWNS: tuple[str | None, ...] = (None, "channel", "segment")
METHODS = ("formula", "cohort", "bgnbd")


def _figures(data: Any, methods: tuple[str | None, ...], breakdowns: tuple[str | None, ...]) -> dict[str, float]:
    from finance.domain.assumptions import Assumptions
    from finance.metrics.params import metric_params
    from finance.metrics.table import compute

    out = {}
    for method in methods:
        for by in breakdowns:
            start = time.perf_counter()
            compute(data, metric_params(Assumptions(), grain="quarter", by=by, method=method or "auto"))
            out[f"{method or 'auto'}:{by or 'company'}"] = time.perf_counter() - start
    return out


def _read(db: Path) -> tuple[float, Any]:
    from finance.store.database import Store

    start = time.perf_counter()
    with Store(db, read_only=True) as store:
        data = store.dataset()
    return time.perf_counter() - start, data


def child(step: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One step, in this (fresh) process."""
    from dataclasses import replace

    import duckdb  # noqa: F401 - the libraries load before the clock starts
    import polars as pl  # noqa: F401
    import scipy.special  # noqa: F401

    import finance.ltv.strata  # noqa: F401
    from finance.store.database import Store

    db, work = Path(spec["db"]), Path(spec["work"])
    peak = _Peak()
    start = time.perf_counter()
    parts: dict[str, float] = {}
    if step in ("figures", "figures_ledger", "all_methods", "bgnbd"):
        read, data = _read(db)
        if step == "figures_ledger":
            data = replace(data, summary=None)
        parts["read"] = read
        methods: tuple[str | None, ...] = {"all_methods": METHODS, "bgnbd": ("bgnbd",)}.get(step, (None,))
        parts.update(_figures(data, methods, (None,) if step == "bgnbd" else BREAKDOWNS))
        parts["summaries"] = float(data.summary is not None)
    elif step == "import":
        target = work / "import.duckdb"
        target.unlink(missing_ok=True)
        shutil.copy(spec["pre"], target)
        start = time.perf_counter()
        with Store(target, keep_backups=0) as store:
            result = store.import_file("revenue", spec["csv"])
        assert result.status == "imported", result.errors
    elif step == "bulk":
        import duckdb as ddb

        target = work / "bulk.duckdb"
        target.unlink(missing_ok=True)
        start = time.perf_counter()
        con = ddb.connect(str(target))
        con.execute("CREATE TABLE revenue (customer_id VARCHAR, date DATE, revenue DECIMAL(18,4), "
                    "gross_margin DECIMAL(18,4))")
        con.execute("INSERT INTO revenue SELECT * FROM read_csv(?, header = true, columns = {'customer_id': "
                    "'VARCHAR', 'date': 'DATE', 'revenue': 'DECIMAL(18,4)', 'gross_margin': 'DECIMAL(18,4)'})",
                    [spec["csv"]])
        con.execute("CHECKPOINT")
        con.close()
    elif step in SPARK_STEPS:
        ledger, customers = spec["parquet"], spec["customers_parquet"]
        if step == "spark":
            from finance.store import spark as on_spark

            session = on_spark.session()
            start = time.perf_counter()
            on_spark.reduce(session, on_spark.read_table(session, customers, "parquet", on_spark.CUSTOMER_COLUMNS),
                            on_spark.read_table(session, ledger, "parquet", on_spark.LEDGER_COLUMNS))
            session.stop()
        else:
            import duckdb as ddb

            from finance.store import summaries

            con = ddb.connect()
            con.execute(f"CREATE VIEW customers AS SELECT * FROM read_parquet('{customers}')")
            con.execute(f"CREATE VIEW revenue AS SELECT * FROM read_parquet('{ledger}/*.parquet')")
            for name, select in summaries.steps(True):
                con.execute(f"CREATE TEMP TABLE {name} AS {select}")
            for name in summaries.TABLES:
                con.sql(f"SELECT * FROM {name}").pl()
            con.close()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **{f"part_{k}": v for k, v in parts.items()}, **peak.bytes()}


def _run(step: str, spec: dict[str, Any]) -> dict[str, Any]:
    return _run_child(step, spec, module="bench.scale")


def _lake(work: Path, db: Path, customers: int) -> dict[str, str]:
    """The ledger and customers as Parquet files (a lake), written once per size."""
    from finance.store.database import Store

    folder = work / f"lake-{customers}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "ledger").mkdir(parents=True)
        with Store(db, read_only=True) as store:  # the store reads no other file: its rows go out through Polars
            ledger = store.query("SELECT * FROM revenue")
            store.query("SELECT * FROM customers").write_parquet(folder / "customers.parquet")
        for part, rows in enumerate(ledger.iter_slices(2_000_000)):
            rows.write_parquet(folder / "ledger" / f"part-{part:04d}.parquet")
        del ledger
        (folder / "done").write_text("")
    return {"parquet": str(folder / "ledger"), "customers_parquet": str(folder / "customers.parquet")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/benchwork/scale"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--steps", default=None, help="comma-separated subset of the steps")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.spec))))
        return 0
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    args.work.mkdir(parents=True, exist_ok=True)
    steps = tuple(args.steps.split(",")) if args.steps else STEPS + (SPARK_STEPS if args.spark else ())
    results: dict[str, Any] = {}
    for text in args.sizes.split(","):
        label, customers = parse_size(text)
        size = prepare_size(args.work, label, customers, log)
        db, pre = args.work / f"base-{customers}.duckdb", args.work / f"pre-{customers}.duckdb"
        from finance.store.database import Store

        with Store(db, keep_backups=0):
            pass  # a writer brings a base built by an older version up to date (its summaries)
        spec = {"db": str(db), "pre": str(pre), "work": str(args.work),
                "csv": str(args.work / f"ledger-{customers}" / "revenue.csv")}
        if any(s in SPARK_STEPS for s in steps):
            spec.update(_lake(args.work, db, customers))
        rounds: dict[str, list[dict[str, Any]]] = {s: [] for s in steps}
        for round_number in range(args.rounds):
            for step in steps:
                rounds[step].append(_run(step, spec))
                log(f"[{label}] round {round_number + 1} {step}: {rounds[step][-1]['seconds']:.3f} s")
        results[label] = {"rows": size.rows, "customers": customers,
                          "median": {s: statistics.median(r["seconds"] for r in rounds[s]) for s in steps},
                          "peak_increment": {s: statistics.median(r["peak_increment"] for r in rounds[s])
                                             for s in steps},
                          "peak_rss": {s: max(r["peak_rss"] for r in rounds[s]) for s in steps},
                          "rounds": rounds}
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps({label: {"median": r["median"], "peak_rss": r["peak_rss"]} for label, r in results.items()},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
