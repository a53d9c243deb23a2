"""Benchmark harness: ingest, metric recompute, peak memory and warm UI latency by size.

    python -m bench.harness [--sizes 1e5,1e6] [--rounds 3] [--out BENCHMARKS.md] [--work DIR] [--skip-ui]

A size is a target number of revenue rows; the sample-company generator writes about 7.1 rows
per customer, so a size N asks it for round(0.142 N) customers and the report shows the rows it
really wrote. Each size's ledger is generated once (into ``--work``, reused when it is already
there) and imported once into a base database that the recompute, pandas and UI steps read.

Every measured step runs in a fresh Python process, so one step's peak memory cannot hide
another's, and the steps of a round are interleaved (round 1 of every step, then round 2, ...)
so a noisy neighbour on the shared machine slows every step alike. Each figure is the median
of the rounds. The steps:

- ``parse``: bare ``polars.read_csv`` of revenue.csv with a given schema (the baseline of ingest);
- ``prepare``: ``finance.ingest.prepare.prepare`` of revenue.csv (validation, nothing written);
- ``ingest``: ``Store.import_file("revenue", ...)`` into a fresh database that already holds
  spend, funnel and customers (their import is not timed);
- ``recompute``: ``Store.dataset()``, the store closed (as the app and the CLI do), then
  ``metrics.compute`` for by=None, channel and segment at quarter grain under the default assumptions;
- ``cohort``: ``ltv.customer_activity`` plus the margin sum per cohort and age, for the same
  three breakdowns (the aggregation no implementation of cohort LTV can skip);
- ``pandas``: the pooled quarterly metrics (spend by category, new customers, fully loaded CAC,
  margin per cohort, formula LTV per cohort) in straightforward vectorised pandas
  (``pandas_pooled_metrics``), read from the same database.

Peak memory is the step's own: the child resets its high-water mark (``/proc/self/clear_refs``)
just before the step and reports ``VmHWM`` minus the ``VmRSS`` it had then.
The warm interaction latency runs ``bench/warm_interaction.py`` against the base database.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_DIR = Path(__file__).resolve().parent.parent
WARM_SCRIPT = PROJECT_DIR / "bench" / "warm_interaction.py"
ROWS_PER_CUSTOMER = 7.1
SEED = 20230101
CHILD_TIMEOUT = 3600
STEPS = ("parse", "prepare", "ingest", "recompute", "cohort", "pandas")
BREAKDOWNS: tuple[str | None, ...] = (None, "channel", "segment")

# The revenue file's columns, typed as the bare parse reads them: the baseline does no
# checking at all, so it is the floor any ingest of the same bytes stands against.
PARSE_SCHEMA_EXACT = {"customer_id": "String", "date": "Date", "revenue": "Decimal", "gross_margin": "Decimal"}

# The speed and memory targets: (label, comparison, bound).
TARGETS: dict[str, tuple[str, Any]] = {
    "ingest_vs_parse": ("<=", 2.0),
    "validation_share": ("<=", 0.20),
    "recompute_vs_cohort": ("<=", 1.5),
    "pandas_vs_compute": (">=", 3.0),
    "ingest_peak_vs_csv": ("<=", 3.0),
    "recompute_peak_vs_arrow": ("<=", 4.0),
    "scaling": ("between", (8.0, 12.0)),
    "ui_largest_vs_1e5": ("<=", 1.25),
    "large_peak_gib": ("<=", 12.0),
}
LARGE_ROWS = 50_000_000
"""From this many revenue rows a size is held to the 1e8 target: every step's absolute peak under 12 GiB."""


# ---------------------------------------------------------------------------------------------
# The pandas baseline
# ---------------------------------------------------------------------------------------------

def pandas_frames(db: Path) -> dict[str, Any]:
    """Read the four tables in force straight from DuckDB into pandas (money as exact integer
    ten-thousandths, ``*_units``), as a pandas implementation of the dashboard would."""
    from finance.store.database import connect_file

    con = connect_file(db, read_only=True)
    try:
        return {
            "spend": con.execute("SELECT period_start, period_end, category, channel, "
                                 "CAST(amount * 10000 AS BIGINT) AS amount_units FROM spend").df(),
            "funnel": con.execute("SELECT period_start FROM funnel").df(),
            "customers": con.execute("SELECT customer_id, acquired_on, channel, segment FROM customers").df(),
            "revenue": con.execute("SELECT customer_id, date, CAST(revenue * 10000 AS BIGINT) AS revenue_units, "
                                   "CAST(gross_margin * 10000 AS BIGINT) AS margin_units FROM revenue").df(),
        }
    finally:
        con.close()


def _month_index(column: Any) -> Any:
    """Months since year 0 of a pandas datetime column (year * 12 + month - 1)."""
    import pandas as pd

    values = pd.to_datetime(column)
    return values.dt.year.astype("int64") * 12 + values.dt.month.astype("int64") - 1


def pandas_pooled_metrics(frames: dict[str, Any], *, horizon_months: int = 36, annual_discount_rate: float = 0.10,
                          default_gross_margin: float = 0.70, lag_quarters: int = 0) -> Any:
    """The pooled quarterly metrics in plain vectorised pandas: the baseline of the recompute.

    Per acquisition quarter: spend per cost category (each spend row spread evenly over its
    months, indivisible ten-thousandths to the first months, as the core does), new customers,
    fully loaded CAC = marketing spend / new customers (``cac_cents``, rounded half-up in
    integer arithmetic), and the formula LTV per cohort: per segment over all its cohorts, exposure E
    and churn events k give c = (k + 1/2) / (E + 1); per cohort and segment, margin per alive month
    M = margin / E (every customer billed monthly, as the demo generator bills); the observed margin
    of months already lived plus, per customer still alive at age a, M x (1 - c)^(t - a) for
    later months t; segments weighted by customers; discounted at (1 + d)^(-t/12) over the
    horizon. Point estimates only (the core also draws an interval, which this does not).
    """
    import pandas as pd

    from finance.domain.schema import MARKETING_CATEGORIES
    from finance.ltv.base import last_complete_month

    spend, customers, revenue = frames["spend"], frames["customers"], frames["revenue"]
    H = horizon_months
    last = pd.to_datetime(frames["revenue"]["date"]).max()  # the ledger covers through the end of its month
    as_of = (last + pd.offsets.MonthEnd(0)).date()

    # Acquisition: spend spread over months, summed per quarter and category.
    spend = spend[pd.to_datetime(spend["period_start"]).dt.date <= as_of]
    first = _month_index(spend["period_start"]).to_numpy()
    count = _month_index(spend["period_end"]).to_numpy() - first + 1
    units = spend["amount_units"].to_numpy()
    row = np.repeat(np.arange(len(spend)), count)
    within = np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)
    magnitude, n = np.abs(units)[row], count[row]
    share = (magnitude // n + (within < magnitude % n)) * np.sign(units)[row]
    monthly = pd.DataFrame({"quarter": (first[row] + within + 3 * lag_quarters) // 3,
                            "category": spend["category"].to_numpy()[row], "units": share})
    by_category = monthly.pivot_table(index="quarter", columns="category", values="units", aggfunc="sum",
                                      fill_value=0)
    marketing = by_category[[c for c in MARKETING_CATEGORIES if c in by_category.columns]].sum(axis=1)

    customers = customers[pd.to_datetime(customers["acquired_on"]).dt.date <= as_of].copy()
    customers["month"] = _month_index(customers["acquired_on"])
    customers["quarter"] = customers["month"] // 3
    new = customers.groupby("quarter").size().rename("new_customers")
    table = pd.concat([marketing.rename("marketing_units"), new], axis=1).sort_index()
    table["new_customers"] = table["new_customers"].fillna(0).astype("int64")
    has_new = table["new_customers"] > 0
    # Half-up to the cent in integers: cents = floor((2 units + 100 n) / (200 n)), units >= 0.
    table["cac_cents"] = pd.Series(pd.NA, index=table.index, dtype="Int64")
    spend_units = table.loc[has_new, "marketing_units"].astype("int64")
    denom = 200 * table.loc[has_new, "new_customers"]
    table.loc[has_new, "cac_cents"] = (2 * spend_units + 100 * table.loc[has_new, "new_customers"]) // denom

    # LTV: the cohorts' customer-months.
    revenue = revenue[pd.to_datetime(revenue["date"]).dt.date <= as_of]
    complete = last_complete_month(as_of)
    customers["age_observed"] = complete.year * 12 + complete.month - 1 - customers["month"]
    customers = customers[customers["age_observed"] >= 0]
    margin = revenue["margin_units"].astype("float64").fillna(revenue["revenue_units"] * default_gross_margin)
    lines = pd.DataFrame({"customer_id": revenue["customer_id"].to_numpy(), "month": _month_index(revenue["date"]),
                          "revenue": revenue["revenue_units"].to_numpy() / 10_000.0,
                          "margin": margin.to_numpy() / 10_000.0})
    lines = lines.merge(customers[["customer_id", "month", "age_observed"]], on="customer_id", suffixes=("", "_acq"))
    lines["age"] = (lines["month"] - lines["month_acq"]).clip(lower=0)
    lines = lines[lines["age"] <= lines["age_observed"]]
    months = lines.groupby(["customer_id", "age"], as_index=False)[["revenue", "margin"]].sum()
    last_age = months[months["revenue"] > 0].groupby("customer_id")["age"].max().rename("last_age")
    margin_total = months.groupby("customer_id")["margin"].sum().rename("margin_total")
    people = customers.set_index("customer_id").join([last_age, margin_total])
    people["margin_total"] = people["margin_total"].fillna(0.0)
    alive_to = people["last_age"].fillna(-1)
    people["churned"] = alive_to < people["age_observed"]
    people["exposure"] = np.where(people["churned"], alive_to + 1, people["age_observed"] + 1)
    strata_keys = ["quarter", "segment"]
    strata = people.groupby(strata_keys).agg(n=("churned", "size"), k=("churned", "sum"),
                                             exposure=("exposure", "sum"), margin=("margin_total", "sum"))
    exposure = strata["exposure"].to_numpy(dtype=float)
    safe = np.where(exposure > 0, exposure, 1.0)
    rate = np.where(exposure > 0, strata["margin"].to_numpy() / safe, 0.0)
    # churn per segment over all its cohorts, with half an event and a month of prior exposure
    segment_k = strata.groupby(level="segment")["k"].transform("sum").to_numpy(dtype=float)
    segment_e = strata.groupby(level="segment")["exposure"].transform("sum").to_numpy(dtype=float)
    churn = (segment_k + 0.5) / (segment_e + 1.0)
    ages = pd.RangeIndex(H)
    observed = (months[months["age"] < H].merge(people[strata_keys], left_on="customer_id", right_index=True)
                .groupby([*strata_keys, "age"])["margin"].sum().unstack("age")
                .reindex(index=strata.index, columns=ages, fill_value=0.0).fillna(0.0).to_numpy())
    alive = (people[~people["churned"]].groupby([*strata_keys, "age_observed"]).size().unstack("age_observed")
             .reindex(index=strata.index, columns=ages).fillna(0.0).to_numpy())
    n = strata["n"].to_numpy(dtype=float)
    ahead = np.arange(H)[:, None] - np.arange(H)[None, :]  # [t, a] = t - a
    survival = np.where(ahead[None] > 0, np.power((1.0 - churn)[:, None, None], np.maximum(ahead, 0)[None]), 0.0)
    tail = rate[:, None] * np.einsum("sta,sa->st", survival, alive)
    weighted = observed + tail  # the stratum's curve times its customers
    curves = pd.DataFrame(weighted, index=strata.index).groupby(level="quarter").sum()
    cohort_customers = strata["n"].groupby(level="quarter").sum()
    discount = np.power(1.0 + annual_discount_rate, -np.arange(H) / 12.0)
    ltv = pd.Series(curves.to_numpy() @ discount / cohort_customers.reindex(curves.index).to_numpy(),
                    index=curves.index, name="ltv")
    cohort_margin = months.merge(people[["quarter"]], left_on="customer_id", right_index=True).groupby(
        "quarter")["margin"].sum().rename("cohort_margin")
    table = table.join([ltv, cohort_margin], how="left")
    table = table.join(by_category, how="left")
    table["ltv_cac"] = table["ltv"] / (table["cac_cents"].astype("Float64") / 100)
    table["period"] = [f"{q // 4}-Q{q % 4 + 1}" for q in table.index]
    return table.reset_index(names="quarter")


# ---------------------------------------------------------------------------------------------
# The child process: one measured step
# ---------------------------------------------------------------------------------------------

def _proc_kib(field_name: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


class _Peak:
    """The step's own peak resident memory: the high-water mark from a reset just before it."""

    def __init__(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5 resets VmHWM to the current RSS
            self.reset = True
        except OSError:
            self.reset = False
        self.start_kib = _proc_kib("VmRSS") or 0

    def bytes(self) -> dict[str, Any]:
        import resource

        hwm = _proc_kib("VmHWM")
        if hwm is None:
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return {"peak_rss": hwm * 1024, "rss_before": self.start_kib * 1024,
                "peak_increment": max(hwm - self.start_kib, 0) * 1024, "peak_reset": self.reset}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _step_parse(spec: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    csv = Path(spec["data"]) / "revenue.csv"
    exact: dict[str, pl.DataType] = {"customer_id": pl.String(), "date": pl.Date(), "revenue": pl.Decimal(18, 4),
                                     "gross_margin": pl.Decimal(18, 4)}
    floats: dict[str, pl.DataType] = {"customer_id": pl.String(), "date": pl.String(), "revenue": pl.Float64(),
                                      "gross_margin": pl.Float64()}
    header = csv.open().readline().strip().split(",")
    if header != list(exact):
        raise SystemExit(f"unexpected revenue header {header}")
    peak = _Peak()
    seconds, frame = _timed(lambda: pl.read_csv(csv, schema=exact))
    memory = peak.bytes()
    float_seconds, _ = _timed(lambda: pl.read_csv(csv, schema=floats))
    write_seconds = _bare_write(frame, Path(spec["scratch"]) / f"write-{os.getpid()}.duckdb")
    return {"seconds": seconds, "float_seconds": float_seconds, "write_seconds": write_seconds,
            "rows": frame.height, **memory}


def _bare_write(frame: Any, db: Path) -> float:
    """Seconds to write an already parsed frame into a new DuckDB file: the floor of any import's write."""
    from finance.store.database import connect_file

    try:
        con = connect_file(db)  # opened as the store opens its files, so the floor is the store's
        con.execute("CREATE TABLE t (customer_id VARCHAR, date DATE, revenue DECIMAL(18,4), "
                    "gross_margin DECIMAL(18,4))")
        start = time.perf_counter()
        con.execute("BEGIN")
        for part in frame.iter_slices(1_000_000):
            con.register("part", part.to_arrow())
            con.execute("INSERT INTO t SELECT * FROM part")
            con.unregister("part")
        con.execute("COMMIT")
        seconds = time.perf_counter() - start
        con.close()
        return seconds
    finally:
        for leftover in (db, db.with_name(db.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _step_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    from finance.ingest.prepare import prepare

    csv = Path(spec["data"]) / "revenue.csv"
    peak = _Peak()
    seconds, prepared = _timed(lambda: prepare("revenue", csv))
    if not prepared.ok:
        raise SystemExit(f"revenue.csv did not validate: {prepared.errors[:3]}")
    return {"seconds": seconds, **peak.bytes()}


def _step_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    from finance.store.database import Store

    data = Path(spec["data"])
    db = Path(spec["scratch"]) / f"ingest-{os.getpid()}.duckdb"
    # A copy of the database that already holds spend, funnel and customers (imported once, in
    # another process), so this process's memory before the step is the libraries' and the store's.
    shutil.copyfile(spec["pre_db"], db)
    try:
        with Store(db) as store:
            peak = _Peak()
            seconds, result = _timed(lambda: store.import_file("revenue", data / "revenue.csv"))
            memory = peak.bytes()
            if result.status != "imported":
                raise SystemExit(f"revenue.csv: {result.status} {result.errors[:3]}")
            return {"seconds": seconds, "rows": result.rows, **memory}
    finally:
        for leftover in (db, db.with_name(db.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _used_arrow_bytes(store: Any) -> int:
    """Arrow size of the columns the metrics read (every column but the import bookkeeping).

    A column ``Store.dataset()`` does not read (NULL in every row, or not needed) is not counted.
    """
    used = {"spend": ["period_start", "period_end", "category", "channel", "amount"],
            "funnel": ["period_start", "period_end", "channel", "leads", "visitors", "event_attendees", "mqls",
                       "sqls", "opportunities"],
            "customers": ["customer_id", "acquired_on", "channel", "segment"],
            "revenue": ["source_row", "customer_id", "date", "revenue", "gross_margin", "channel", "segment"]}
    total = 0
    read = store.dataset_columns()
    for kind, columns in used.items():
        present = [c for c in columns if c in read[kind]]
        if present:
            total += store.query(f"SELECT {', '.join(present)} FROM {kind}").estimated_size()
    return int(total)


def _step_recompute(spec: dict[str, Any]) -> dict[str, Any]:
    from finance.domain.assumptions import Assumptions
    from finance.metrics.params import metric_params
    from finance.metrics.table import compute
    from finance.store.database import Store

    assumptions = Assumptions()
    # As the app and the CLI do: read the rows in force, close the store, then compute.
    peak = _Peak()
    with Store(Path(spec["db"]), read_only=True) as store:
        load, data = _timed(store.dataset)
    per_breakdown = {}
    for by in BREAKDOWNS:
        # The churn formula: what this benchmark measures is the data path at scale, the same work the
        # pandas baseline does. The models' own cost is measured on the demo by bench/ltv_speed.py.
        seconds, _ = _timed(functools.partial(compute, data, metric_params(assumptions, grain="quarter", by=by,
                                                                                method="formula")))
        per_breakdown[by or "pooled"] = seconds
    memory = peak.bytes()
    del data
    with Store(Path(spec["db"]), read_only=True) as store:
        arrow = _used_arrow_bytes(store)
    return {"seconds": load + sum(per_breakdown.values()), "load": load, "compute": sum(per_breakdown.values()),
            **{f"compute_{k}": v for k, v in per_breakdown.items()}, "arrow_bytes": arrow,
            **memory}


def cohort_aggregation(data: Any, by: str | None) -> Any:
    """The unavoidable part of cohort LTV: customer activity and margin summed per cohort and age."""
    import polars as pl

    from finance.domain.assumptions import Assumptions
    from finance.ltv.base import customer_activity
    from finance.metrics.params import metric_params
    from finance.store.dataset import default_as_of

    params = metric_params(Assumptions(), grain="quarter", by=by, method="formula")
    as_of = default_as_of(data)
    _, margins = customer_activity(data.as_of(as_of), params.ltv, "quarter", by, as_of)
    return margins.group_by("cohort", "dim", "age").agg(pl.col("margin").sum())


def _step_cohort(spec: dict[str, Any]) -> dict[str, Any]:
    from finance.store.database import Store

    with Store(Path(spec["db"]), read_only=True) as store:
        data = store.dataset()
    peak = _Peak()
    per_breakdown = {}
    for by in BREAKDOWNS:
        seconds, _ = _timed(functools.partial(cohort_aggregation, data, by))
        per_breakdown[by or "pooled"] = seconds
    memory = peak.bytes()
    return {"seconds": sum(per_breakdown.values()), **{f"cohort_{k}": v for k, v in per_breakdown.items()},
            **memory}


def _step_pandas(spec: dict[str, Any]) -> dict[str, Any]:
    db = Path(spec["db"])
    peak = _Peak()
    load, frames = _timed(lambda: pandas_frames(db))
    seconds, table = _timed(lambda: pandas_pooled_metrics(frames))
    memory = peak.bytes()
    check = compare_with_core(table, db)
    return {"seconds": seconds, "load": load, **memory, **check}


def compare_with_core(table: Any, db: Path) -> dict[str, Any]:
    """The pandas baseline against ``metrics.compute`` (pooled): CAC to the cent, LTV relative error."""
    import pandas as pd

    from finance.domain.assumptions import Assumptions
    from finance.metrics.params import metric_params
    from finance.metrics.table import compute, money
    from finance.store.database import Store

    with Store(db, read_only=True) as store:
        rows = compute(store.dataset(), metric_params(Assumptions(), grain="quarter", method="formula")).rows
    core = {rec["period_label"]: rec for rec in rows.iter_rows(named=True)}
    mismatched, worst = [], 0.0
    for rec in table.to_dict("records"):
        mine = core.get(rec["period"])
        theirs_cac = money(mine["cac"]) if mine else None
        cents = rec["cac_cents"]
        ours_cac = None if pd.isna(cents) else f"{Decimal(int(cents)) / 100:.2f}"
        if ours_cac != theirs_cac:
            mismatched.append(rec["period"])
        if mine and mine["ltv"] is not None and isinstance(rec["ltv"], float) and math.isfinite(rec["ltv"]):
            worst = max(worst, abs(rec["ltv"] - mine["ltv"]) / max(abs(mine["ltv"]), 1e-12))
    return {"cac_mismatches": mismatched, "ltv_max_rel_diff": worst, "periods": len(core)}


CHILD_STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "parse": _step_parse, "prepare": _step_prepare, "ingest": _step_ingest, "recompute": _step_recompute,
    "cohort": _step_cohort, "pandas": _step_pandas,
}


def _run_child(step: str, spec: dict[str, Any], module: str = "bench.harness") -> dict[str, Any]:
    """One step in a fresh process (``python -m module --child step``): its last line of output, as JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR),
                                                                        os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", module, "--child", step, "--spec", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=PROJECT_DIR, timeout=CHILD_TIMEOUT,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------------------
# The parent: sizes, rounds, report
# ---------------------------------------------------------------------------------------------

@dataclass
class SizeResult:
    label: str
    customers: int
    rows: int = 0
    csv_bytes: int = 0
    setup_seconds: float = 0.0
    wall_seconds: float = 0.0
    rounds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ui: dict[str, float] | None = None
    ui_note: str = ""

    def median(self, step: str, key: str = "seconds") -> float:
        """The median over rounds; NaN for a step or figure this run did not measure."""
        values = [r[key] for r in self.rounds.get(step, []) if key in r]
        return float(statistics.median(values)) if values else math.nan


def parse_size(text: str) -> tuple[str, int]:
    """``1e5`` -> (label, customers): about 7.1 revenue rows per customer."""
    rows = float(text)
    if not math.isfinite(rows) or rows < ROWS_PER_CUSTOMER:
        raise argparse.ArgumentTypeError(f"size {text!r}: a number of revenue rows such as 1e5")
    customers = rows / ROWS_PER_CUSTOMER
    return text, max(1, int(round(customers, -3)) if rows >= 1e5 else round(customers))


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def prepare_size(work: Path, label: str, customers: int, log: Callable[[str], None]) -> SizeResult:
    """Generate the ledger once (reused if ``work`` already holds it) and build the base database."""
    from bench.samplegen import generate
    from finance.store.database import Store

    result = SizeResult(label, customers)
    kinds_before = ("spend", "funnel", "customers")
    start = time.perf_counter()
    data = work / f"ledger-{customers}"
    stamp = data / "bench.json"
    wanted = {"customers": customers, "seed": SEED}
    if not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
        log(f"[{label}] generating {customers:,} customers into {data}")
        generate(data, customers=customers, seed=SEED)
        stamp.write_text(json.dumps(wanted))
    for name, kinds in (("pre", ("spend", "funnel", "customers")), ("base", (*kinds_before, "revenue"))):
        db = work / f"{name}-{customers}.duckdb"
        db_stamp = work / f"{name}-{customers}.json"
        if db.exists() and db_stamp.exists() and json.loads(db_stamp.read_text()) == wanted:
            continue
        db.unlink(missing_ok=True)
        log(f"[{label}] building the database {db} ({', '.join(kinds)})")
        with Store(db) as store:
            for kind in kinds:
                imported = store.import_file(kind, data / f"{kind}.csv")
                if imported.status != "imported":
                    raise RuntimeError(f"{kind}.csv: {imported.status} {imported.errors[:3]}")
        db_stamp.write_text(json.dumps(wanted))
    result.rows = _count_rows(data / "revenue.csv")
    result.csv_bytes = (data / "revenue.csv").stat().st_size
    result.setup_seconds = time.perf_counter() - start
    return result


def run_warm_ui(db: Path, runs: int) -> dict[str, float]:
    """``bench/warm_interaction.py`` against ``db``: medians in milliseconds."""
    proc = subprocess.run([sys.executable, str(WARM_SCRIPT), "--runs", str(runs), "--db", str(db)],
                          capture_output=True, text=True, cwd=PROJECT_DIR, timeout=CHILD_TIMEOUT, check=False,
                          env={**os.environ, "FINANCE_DB": str(db)})
    if proc.returncode != 0:
        raise RuntimeError(f"warm_interaction failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    out = proc.stdout
    floor = re.search(r"harness baseline .*: median ([\d.]+) ms", out)
    warm = re.search(r"warm interaction, \d+ reruns: median ([\d.]+) ms, p95 ([\d.]+) ms", out)
    own = re.search(r"own share .*: median ([-\d.]+) ms", out)
    if not (floor and warm and own):
        raise RuntimeError(f"could not read warm_interaction's output:\n{out}")
    return {"median_ms": float(warm.group(1)), "p95_ms": float(warm.group(2)), "harness_ms": float(floor.group(1)),
            "own_ms": float(own.group(1)), "runs": runs}


def run(sizes: Sequence[tuple[tuple[str, int], int]], work: Path, *, skip_ui: bool, ui_runs: int,
        log: Callable[[str], None] = print,
        on_size: Callable[[list[SizeResult]], None] | None = None,
        steps: Sequence[str] = STEPS) -> list[SizeResult]:
    """Measure every size: ((label, customers), rounds) each; steps interleaved within a round."""
    results = []
    for (label, customers), rounds in sizes:
        began = time.perf_counter()
        size = prepare_size(work, label, customers, log)
        spec = {"data": str(work / f"ledger-{customers}"), "db": str(work / f"base-{customers}.duckdb"),
                "pre_db": str(work / f"pre-{customers}.duckdb"), "scratch": str(work)}
        size.rounds = {step: [] for step in steps}
        for r in range(rounds):
            for step in steps:
                measured = _run_child(step, spec)
                size.rounds[step].append(measured)
                log(f"[{label}] round {r + 1}/{rounds} {step}: {measured['seconds']:.3f} s, "
                    f"peak +{measured['peak_increment'] / 2**20:.0f} MiB")
        if not skip_ui:
            log(f"[{label}] warm interaction ({ui_runs} reruns)")
            try:
                size.ui = run_warm_ui(work / f"base-{customers}.duckdb", ui_runs)
                log(f"[{label}] warm interaction median {size.ui['median_ms']:.0f} ms")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # report it; keep the other figures
                size.ui_note = f"the warm interaction run failed: {str(exc).strip().splitlines()[-1]}"
                log(f"[{label}] {size.ui_note}")
        size.wall_seconds = time.perf_counter() - began
        results.append(size)
        if on_size:
            on_size(results)
    return results


# ---------------------------------------------------------------------------------------------
# Ratios and the report
# ---------------------------------------------------------------------------------------------

def verdict(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    op, bound = TARGETS[name]
    if op == "<=":
        met = value <= bound
    elif op == ">=":
        met = value >= bound
    else:
        low, high = bound
        met = low <= value <= high
    return "met" if met else "**not met**"


def target_text(name: str) -> str:
    op, bound = TARGETS[name]
    if op == "between":
        low, high = bound
        return f"{low:g} to {high:g}"
    return f"{'≤' if op == '<=' else '≥'} {bound:g}"


def size_ratios(size: SizeResult) -> dict[str, float]:
    """The ratios of one size that the targets speak of (medians over rounds)."""
    ingest, parse = size.median("ingest"), size.median("parse")
    recompute = size.median("recompute")
    return {
        "ingest_vs_parse": ingest / parse,
        "validation_share": size.median("prepare") / ingest,
        "recompute_vs_cohort": size.median("recompute", "compute") / size.median("cohort"),
        "pandas_vs_compute": size.median("pandas") / size.median("recompute", "compute_pooled"),
        "ingest_peak_vs_csv": size.median("ingest", "peak_increment") / size.csv_bytes,
        "recompute_peak_vs_arrow": size.median("recompute", "peak_increment") / size.median("recompute", "arrow_bytes"),
        "recompute_with_load_vs_cohort": recompute / size.median("cohort"),
    }


def _times(value: float, of: str) -> str:
    return f"{value:.1f}x {of}" if math.isfinite(value) else ""


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def size_table(size: SizeResult) -> list[str]:
    ratios = size_ratios(size)
    med = size.median
    rows = [
        ("bare parse: `pl.read_csv` (Date, Decimal(18,4))", med("parse"), "baseline", "", ""),
        ("bare parse, Float64 money, String date (info)", med("parse", "float_seconds"),
         f"{med('parse', 'float_seconds') / med('parse'):.2f}x parse", "", ""),
        ("bare write: the parsed frame into a new DuckDB file (info)", med("parse", "write_seconds"),
         _times(med("parse", "write_seconds") / med("parse"), "parse"), "", ""),
        ("ingest: `Store.import_file('revenue')`", med("ingest"), _times(ratios["ingest_vs_parse"], "parse"),
         target_text("ingest_vs_parse"), verdict("ingest_vs_parse", ratios["ingest_vs_parse"])),
        ("ingest over bare parse + bare write (info)", med("ingest"),
         _times(med("ingest") / (med("parse") + med("parse", "write_seconds")), "parse + write"), "", ""),
        ("validation: `ingest.prepare` (no write)", med("prepare"),
         f"{ratios['validation_share']:.0%} of ingest", "≤ 20%",
         verdict("validation_share", ratios["validation_share"])),
        ("store read: `Store.dataset()` (info)", med("recompute", "load"), "", "", ""),
        ("recompute: `compute` x3 (pooled, channel, segment)", med("recompute", "compute"),
         f"{ratios['recompute_vs_cohort']:.2f}x cohort agg.", target_text("recompute_vs_cohort"),
         verdict("recompute_vs_cohort", ratios["recompute_vs_cohort"])),
        ("recompute incl. store read (info)", med("recompute"),
         f"{ratios['recompute_with_load_vs_cohort']:.2f}x cohort agg.", "", ""),
        ("cohort aggregation x3 (`customer_activity` + group-by)", med("cohort"), "baseline", "", ""),
        ("recompute pooled only: `compute(by=None)`", med("recompute", "compute_pooled"), "baseline", "", ""),
        ("pandas pooled metrics (vectorised)", med("pandas"),
         f"pandas is {ratios['pandas_vs_compute']:.2f}x `compute(by=None)`", target_text("pandas_vs_compute"),
         verdict("pandas_vs_compute", ratios["pandas_vs_compute"])),
        ("pandas read from DuckDB `.df()` (info)", med("pandas", "load"), "", "", ""),
    ]
    lines = [f"### {size.label} ({size.rows:,} revenue rows, {size.customers:,} customers, "
             f"revenue.csv {_mib(size.csv_bytes)})", "",
             f"Median of {len(size.rounds['parse'])} round(s); the size took {size.wall_seconds:.0f} s in all "
             f"(ledger and base database {size.setup_seconds:.0f} s).", "",
             "| step | seconds | ratio | target | verdict |", "|---|---:|---|---|---|"]
    for name, seconds, ratio, target, met in rows:
        if math.isfinite(seconds):  # a step this run did not measure has no row
            lines.append(f"| {name} | {seconds:.3f} | {'' if 'nan' in ratio else ratio} | {target} | {met} |")
    lines += ["", "Peak resident memory of each step (own increase over the process's RSS just before it; "
              "absolute peak in brackets):", "",
              "| step | peak increase | absolute peak | ratio | target | verdict |", "|---|---:|---:|---|---|---|"]
    arrow = size.median("recompute", "arrow_bytes")
    for step in (s for s in STEPS if s in size.rounds):
        inc, absolute = med(step, "peak_increment"), med(step, "peak_rss")
        ratio = target = met = ""
        if step == "ingest":
            ratio = f"{ratios['ingest_peak_vs_csv']:.1f}x CSV ({_mib(size.csv_bytes)})"
            target, met = target_text("ingest_peak_vs_csv"), verdict("ingest_peak_vs_csv", ratios["ingest_peak_vs_csv"])
        elif step == "recompute":
            ratio = f"{ratios['recompute_peak_vs_arrow']:.1f}x Arrow ({_mib(arrow)})"
            target = target_text("recompute_peak_vs_arrow")
            met = verdict("recompute_peak_vs_arrow", ratios["recompute_peak_vs_arrow"])
        lines.append(f"| {step} | {_mib(inc)} | {_mib(absolute)} | {ratio} | {target} | {met} |")
    if size.rows >= LARGE_ROWS:
        worst = max((med(step, "peak_rss") for step in ("ingest", "recompute") if step in size.rounds),
                    default=math.nan)
        lines += ["", f"The 1e8 bound (every step's absolute peak under {TARGETS['large_peak_gib'][1]:g} GiB, "
                  f"ingest and recompute): the larger absolute peak is {worst / 2**30:.2f} GiB: "
                  f"{verdict('large_peak_gib', worst / 2**30)}."]
    pandas = size.rounds["pandas"][-1] if size.rounds.get("pandas") else None
    if pandas is not None:
        lines += ["", "Check: the pandas baseline's CAC per quarter equals `compute`'s to the cent in "
                  f"{pandas['periods'] - len(pandas['cac_mismatches'])} of {pandas['periods']} quarters"
                  + (f" (differs in {', '.join(pandas['cac_mismatches'])})" if pandas["cac_mismatches"] else "")
                  + "; its formula LTV per cohort differs from the core's by at most "
                  f"{pandas['ltv_max_rel_diff']:.1e} (relative)."]
    if size.ui:
        lines += ["", f"Warm interaction (Overview and filter variants, {size.ui['runs']:.0f} reruns under AppTest): "
                  f"median {size.ui['median_ms']:.0f} ms, p95 {size.ui['p95_ms']:.0f} ms; AppTest's own floor "
                  f"(one-line page) {size.ui['harness_ms']:.0f} ms, so the dashboard's share is "
                  f"{size.ui['own_ms']:.0f} ms."]
    return lines


def cross_size_lines(results: Sequence[SizeResult]) -> tuple[list[str], list[str]]:
    """Scaling and UI tables across sizes, and the list of targets not met."""
    lines: list[str] = []
    by_rows = sorted(results, key=lambda s: s.rows)
    pairs = [(a, b) for a in by_rows for b in by_rows if 5 <= b.rows / a.rows <= 20]
    if pairs:
        lines += ["### Scaling (time at the larger size over time at the smaller)", "",
                  "| step | sizes | rows ratio | time ratio | target (1e7 / 1e6) | verdict |",
                  "|---|---|---:|---:|---|---|"]
        for small, big in pairs:
            applies = small.label in ("1e6", "1000000") and big.label in ("1e7", "10000000")
            for step, key in (("ingest", "seconds"), ("recompute (compute x3)", "compute"), ("parse", "seconds")):
                name = step.split(" ")[0]
                ratio = big.median(name, key) / small.median(name, key)
                shown = target_text("scaling") if applies and name != "parse" else "info"
                met = verdict("scaling", ratio) if applies and name != "parse" else ""
                lines.append(f"| {step} | {big.label} / {small.label} | {big.rows / small.rows:.2f} | {ratio:.2f} "
                             f"| {shown} | {met} |")
        lines.append("")
    with_ui = [s for s in by_rows if s.ui]
    if len(with_ui) >= 2:
        first, last = with_ui[0], with_ui[-1]
        assert first.ui and last.ui
        ratio = last.ui["median_ms"] / first.ui["median_ms"]
        lines += ["### Warm interaction across sizes", "",
                  "| size | median ms | p95 ms | dashboard's share ms |", "|---|---:|---:|---:|"]
        for s in with_ui:
            assert s.ui
            lines.append(f"| {s.label} | {s.ui['median_ms']:.0f} | {s.ui['p95_ms']:.0f} | {s.ui['own_ms']:.0f} |")
        lines += ["", f"Largest over smallest: {ratio:.2f}x (target {target_text('ui_largest_vs_1e5')}, smallest "
                  f"size {first.label}): {verdict('ui_largest_vs_1e5', ratio)}.", ""]
    return lines, []


def missed_targets(results: Sequence[SizeResult]) -> list[str]:
    out = []
    names = {"ingest_vs_parse": "ingest over bare parse", "validation_share": "validation's share of ingest",
             "recompute_vs_cohort": "recompute (compute x3) over the cohort aggregation x3",
             "pandas_vs_compute": "pandas' time over `compute(by=None)`'s (how many times faster the core is)",
             "ingest_peak_vs_csv": "ingest peak memory over CSV size",
             "recompute_peak_vs_arrow": "recompute peak memory over Arrow size"}
    for size in results:
        for key, value in size_ratios(size).items():
            if key in names and verdict(key, value) not in ("met", "n/a"):
                op, bound = TARGETS[key]
                if key == "validation_share":
                    text, target = f"{value:.0%}", f"≤ {bound:.0%}"
                else:
                    text, target = f"{value:.2f}x", f"{target_text(key)}x"
                how = (f"{value / bound:.2f} times the bound" if op == "<="
                       else f"{bound / value:.2f} times short of it")
                out.append(f"- {size.label}: {names[key]} is {text}; the target is {target} ({how}).")
    return out


def machine() -> list[str]:
    cpu = "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    ram = "unknown"
    try:
        found = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        ram = f"{int(found.group(1)) / 2**20:.1f} GiB" if found else ram
    except OSError:
        pass
    versions = []
    for module in ("polars", "duckdb", "pandas", "streamlit", "numpy"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} (not installed)")
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 0)
    return [f"- CPU: {cpu}; {len(cores)} core(s) usable ({os.cpu_count()} online)", f"- RAM: {ram}",
            f"- OS: {platform.platform()}", f"- Python {platform.python_version()}; " + ", ".join(versions)]


def report(results: Sequence[SizeResult], command: str, findings: str = "") -> str:
    lines = ["# Benchmarks", "",
             f"Written by `python -m bench.harness` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
             "The machine is shared and noisy: the ratios between steps measured in the same run "
             "matter, not the absolute seconds.", "", "## Machine", "", *machine(), "", "## Command", "",
             f"    {command}", "",
             "## Method", "",
             f"- Ledgers from `bench.samplegen.generate(seed={SEED})`, about {ROWS_PER_CUSTOMER} revenue rows per "
             "customer; generated once per size and reused across rounds.",
             "- " + ", ".join(f"{len(s.rounds['parse'])} round(s) at {s.label}" for s in results)
             + "; in each round every step runs once, each in a fresh Python process, "
             "in the order " + ", ".join(STEPS) + ". Figures are medians over the rounds.",
             "- Times cover the step only: imports of the libraries are outside the clock, and ingest starts "
             "from a copy of a database that already holds spend, funnel and customers. A ratio is the ratio of "
             "the two steps' medians.",
             "- Peak memory: the child resets its high-water mark (`/proc/self/clear_refs`) just before the step; "
             "the figure is `VmHWM` minus the `VmRSS` at that moment, so it excludes the interpreter and libraries.",
             "- Recompute is `metrics.compute` at quarter grain with `metric_params(Assumptions(), method='formula')` "
             "(the churn formula LTV with its range; the models' own cost is `bench/ltv_speed.py`'s) for by=None, "
             "channel and segment, on the frames `Store.dataset()` "
             "read. Its baseline is the cohort aggregation (`ltv.customer_activity` + the margin sum per cohort, "
             "breakdown and age) for the same three breakdowns. The pandas baseline computes the pooled "
             "quarterly metrics only (spend by category, new customers, fully loaded CAC, margin per cohort, "
             "formula LTV point estimate, no interval), so it is compared with `compute(by=None)`; both start "
             "from data already in memory (their reads are shown apart).",
             "- Warm interaction: `bench/warm_interaction.py` (AppTest, every view warmed first) against each "
             "size's database.", "", "## Results", ""]
    for size in results:
        lines += [*size_table(size), ""]
    cross, _ = cross_size_lines(results)
    lines += cross
    missed = missed_targets(results)
    lines += ["## What the figures say", ""]
    lines += (["Targets not met:", "", *missed, ""] if missed else ["Every target measured here is met.", ""])
    for s in results:
        if s.ui_note:
            lines += [f"At {s.label}, {s.ui_note}.", ""]
    if not any(s.ui for s in results):
        lines += ["The warm interaction was not measured in this run (`--skip-ui`).", ""]
    largest = {s.label for s in results}
    if not ({"1e6", "1e7"} <= largest):
        lines += ["The 1e7 / 1e6 scaling target was not measured in this run (it needs both sizes).", ""]
    if findings:
        lines += [findings.strip(), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.harness", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6", help="revenue-row sizes, comma separated (default 1e5,1e6)")
    parser.add_argument("--rounds", default="3",
                        help="rounds per size (default 3), or one count per size: 3,3,1")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "BENCHMARKS.md")
    parser.add_argument("--work", type=Path, default=None, help="where ledgers and databases go (default: a temp dir)")
    parser.add_argument("--skip-ui", action="store_true", help="do not measure the warm interaction latency")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"the steps to measure (default all: {','.join(STEPS)}); a 1e8 run takes "
                        "parse,ingest,recompute")
    parser.add_argument("--ui-runs", type=int, default=24, help="timed reruns of the warm interaction (default 24)")
    parser.add_argument("--findings", type=Path, default=None,
                        help="a Markdown file appended to the report's 'what the figures say'")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw measurements as JSON")
    parser.add_argument("--render", type=Path, nargs="+", default=None,
                        help="write the report from earlier --json files instead of measuring")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILD_STEPS[args.child](json.loads(args.spec))))
        return 0
    command = "python -m bench.harness " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    findings = args.findings.read_text() if args.findings else ""
    if args.render:
        results, commands = [], []
        for path in args.render:
            saved = json.loads(path.read_text())
            commands.append(saved["command"])
            results += [SizeResult(**size) for size in saved["sizes"]]
        args.out.write_text(report(results, "\n    ".join(commands), findings) + "\n")
        return 0
    sizes = [parse_size(s.strip()) for s in args.sizes.split(",") if s.strip()]
    rounds = [int(r) for r in args.rounds.split(",")]
    if len(rounds) == 1:
        rounds *= len(sizes)
    if len(rounds) != len(sizes) or min(rounds) < 1:
        parser.error("--rounds: one count of at least 1, or one per size")
    work = args.work or Path(tempfile.mkdtemp(prefix="finance-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    def save(done: list[SizeResult]) -> None:  # after every size, so a late failure loses nothing
        if args.json:
            args.json.write_text(json.dumps({"command": command.strip(), "sizes": [s.__dict__ for s in done]},
                                            indent=1))

    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if not steps or set(steps) - set(STEPS):
        parser.error(f"--steps: choose from {', '.join(STEPS)}")
    results = run(list(zip(sizes, rounds, strict=True)), work, skip_ui=args.skip_ui, ui_runs=args.ui_runs,
                  log=lambda m: print(m, file=sys.stderr, flush=True), on_size=save,
                  steps=[s for s in STEPS if s in steps])
    text = report(results, command.strip(), findings)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["cohort_aggregation", "compare_with_core", "main", "pandas_frames", "pandas_pooled_metrics", "run"]
