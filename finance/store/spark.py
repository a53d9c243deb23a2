"""The ledger's reduction on Apache Spark, for a ledger that lives in a data lake.

The store reduces its ledger with DuckDB (``finance.store.summaries``). A company whose revenue
ledger is 10^9 rows in Parquet, Delta or CSV files on S3, ADLS or GCS runs the very same reduction,
the SQL of ``summaries.STEPS`` translated to Spark SQL by SQLGlot, on its Spark cluster; only the two
summary tables (a row per customer, a row per cohort, channel, segment and month of age) come back.

Spark runs in local mode unless told otherwise: ``master`` (``spark://host:7077``, ``yarn``) or, for
Spark Connect (Databricks, EMR Serverless, Dataproc), the ``SPARK_REMOTE`` environment variable.
PySpark is imported only here, on demand: the dashboard never needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import polars as pl

from finance.domain.money import money_text
from finance.domain.periods import month_end
from finance.store import summaries
from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.summaries import COLUMNS, TABLES, steps

_POLARS_TYPES: dict[str, pl.DataType] = {"VARCHAR": pl.String(), "DATE": pl.Date(), "BIGINT": pl.Int64(),
                                         "DOUBLE": pl.Float64()}

FORMATS = ("parquet", "csv", "delta")
"""How a ledger in a lake may be stored."""

LEDGER_COLUMNS = {"customer_id": "string", "date": "date", "revenue": "decimal(18,4)",
                  "gross_margin": "decimal(18,4)", "channel": "string", "segment": "string",
                  "source_row": "bigint"}
"""The revenue columns the reduction reads, as the store keeps them (``finance.ingest.prepare.STORAGE_SCHEMAS``)."""
CUSTOMER_COLUMNS = {"customer_id": "string", "acquired_on": "date", "channel": "string", "segment": "string",
                    "billing_interval": "string"}


@lru_cache(maxsize=32)
def spark_sql(select: str) -> str:
    """A step of the reduction in Spark's SQL dialect (SQLGlot's translation of DuckDB's)."""
    import sqlglot

    return str(sqlglot.transpile(select, read="duckdb", write="spark")[0])


def session(master: str | None = None, *, app: str = "ltv-cac-summaries") -> Any:
    """A Spark session: ``master`` if given, else Spark Connect at ``$SPARK_REMOTE`` if set, else local mode
    on this machine's cores. Dates are read and written in UTC; the web UI is off."""
    # PySpark checks the pandas version before any Arrow exchange and warns of pandas 3; no pandas is used here.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    elif os.environ.get("SPARK_REMOTE"):
        builder = builder.remote(os.environ["SPARK_REMOTE"])
    else:
        builder = builder.master(f"local[{os.cpu_count() or 1}]")
    if not os.environ.get("SPARK_REMOTE"):
        builder = (builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", str(max(2, 4 * (os.cpu_count() or 1))))
                   .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g")))
    return builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()


OPTIONAL = ("gross_margin", "cost", "channel", "segment", "billing_interval", "source_row")
"""Columns a lake table may lack (null for every row)."""
SHOWN_PROBLEMS = 5


def format_of(path: str) -> str:
    """The format a lake path is most likely in: CSV by its extension, Delta by its log, else Parquet."""
    if path.lower().rstrip("/").endswith((".csv", ".csv.gz")):
        return "csv"
    if not path.startswith(("s3:", "s3a:", "gs:", "abfss:", "wasbs:", "hdfs:", "dbfs:")) and \
            os.path.isdir(os.path.join(path, "_delta_log")):
        return "delta"
    return "parquet"


def read_table(spark: Any, path: str, fmt: str, columns: Mapping[str, str]) -> Any:
    """The ``columns`` of a table stored at ``path`` (a file, a folder or a glob; ``fmt`` one of ``FORMATS``),
    in the store's types. Refused (``ValueError``) for a missing column, or for values that are missing where
    they are needed or are not of their type: the message names the file, the column, the value and what was
    expected, for the first few, and how many rows in all."""
    if fmt not in FORMATS:
        raise ValueError(f"{path}: the format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "false")
    try:
        frame = reader.load(path)
    except Exception as exc:  # Spark's own error: a path not found, Delta without its jars on the classpath
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (" (Delta tables need the Delta Lake jars on Spark's classpath, as on Databricks or EMR)"
                if fmt == "delta" else "")
        raise ValueError(f"{path}: Spark could not read it as {fmt}{hint}: {first}") from None
    present = {name.lower(): name for name in frame.columns}
    missing = [c for c in columns if c not in OPTIONAL and c not in present]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)}; expected {', '.join(columns)}")
    from pyspark.sql import functions as F

    raw = frame.select(*[(F.col(present[c]) if c in present else F.lit(None)).alias(f"raw_{c}") for c in columns],
                       F.input_file_name().alias("file"))
    typed = raw.select("*", *[F.col(f"raw_{c}").try_cast(t).alias(c) for c, t in columns.items()])
    checks = []
    for column, sql_type in columns.items():
        value, text = F.col(column), F.col(f"raw_{column}")
        expected = {"date": "a date (YYYY-MM-DD)", "bigint": "a whole number"}.get(
            sql_type, "an amount with at most 4 decimals" if sql_type.startswith("decimal") else "text")
        if column not in OPTIONAL:
            checks.append((value.isNull() & text.isNull(), column, f"a value is needed ({expected})"))
        checks.append((value.isNull() & text.isNotNull(), column, f"expected {expected}"))
    problems = typed.select(F.explode(F.array(*[
        F.when(bad, F.struct(F.lit(column).alias("column"), F.lit(what).alias("what"),
                             F.col(f"raw_{column}").cast("string").alias("value"), F.col("file").alias("file")))
        for bad, column, what in checks])).alias("p")).where(F.col("p").isNotNull()).select("p.*")
    found = problems.limit(SHOWN_PROBLEMS).collect()
    if found:
        total = problems.count()
        shown = "; ".join(f"{r['file'] or path}: column {r['column']}, value "
                          f"{'(empty)' if r['value'] is None else repr(r['value'])}: {r['what']}" for r in found)
        raise ValueError(f"{path}: {total} value(s) refused, nothing was imported: {shown}"
                         + (f"; and {total - len(found)} more" if total > len(found) else ""))
    return typed.select(*columns)


def margin_from_cost(ledger: Any) -> Any:
    """The ledger's ``LEDGER_COLUMNS``, a row's gross margin its revenue minus its cost where it gives no margin
    (as an import into the store does, ``finance.ingest.prepare``)."""
    from pyspark.sql import functions as F

    margin = F.coalesce(F.col("gross_margin"), (F.col("revenue") - F.col("cost")).cast("decimal(18,4)"))
    return ledger.withColumn("gross_margin", margin).select(*LEDGER_COLUMNS)


def reduce(spark: Any, customers: Any, revenue: Any) -> dict[str, pl.DataFrame]:
    """Run ``summaries.steps`` on Spark over these two DataFrames; the kept tables, collected, in the store's
    column types. Only they cross from the cluster to the driver."""
    customers.createOrReplaceTempView("customers")
    revenue.createOrReplaceTempView("revenue")
    out: dict[str, pl.DataFrame] = {}
    for name, select in steps(bool(customers.limit(1).count())):
        frame = spark.sql(spark_sql(select))
        if name in TABLES:
            out[name] = collect(frame, COLUMNS[name])
        else:
            frame.createOrReplaceTempView(name)
    return out


def collect(frame: Any, columns: Mapping[str, str]) -> pl.DataFrame:
    """A Spark result as a Polars frame with the store's types (through Arrow)."""
    arrow = frame.select(*columns).toArrow()
    got = pl.from_arrow(arrow)
    assert isinstance(got, pl.DataFrame)
    return got.select(pl.col(c).cast(_polars_type(t)) for c, t in columns.items())


def _polars_type(sql: str) -> pl.DataType:
    if sql.startswith("DECIMAL"):
        precision, scale = (int(v) for v in sql[len("DECIMAL("):-1].split(","))
        return pl.Decimal(precision, scale)
    return _POLARS_TYPES[sql]


def import_ledger(db: Connection, location: str, *, fmt: str | None = None, customers: str | None = None,
                  customers_format: str | None = None, master: str | None = None,
                  spark: Any = None) -> dict[str, Any]:
    """Reduce the revenue ledger at ``location`` (a lake path: a file, a folder or a glob) on Spark and keep its
    summaries in the store, in one transaction: the ledger stays where it is.

    The customers are the store's own unless ``customers`` names a lake table of them. Every value is
    checked first (``read_table``): a refused ledger changes nothing. A store whose ledger is its own (revenue
    rows imported from files) is refused: one ledger per store. A later lake import replaces the earlier one
    (it is marked undone, by this one). ``spark`` is a session to use (else one is started: ``session``).
    """
    from finance.store.imports import LAKE_IMPORT, record_import
    from finance.store.settings import log_change

    own = db.one("SELECT count(*) FROM revenue")
    if own and own[0]:
        raise StoreError(f"this store holds {own[0]:,} revenue rows of its own: its ledger is here, not in a lake. "
                         "Undo those revenue imports first to keep the ledger in the lake instead")
    fmt = fmt or format_of(location)
    spark = spark if spark is not None else session(master)
    ledger = margin_from_cost(read_table(spark, location, fmt, {**LEDGER_COLUMNS, "cost": "decimal(18,4)"}))
    if customers is not None:
        people = read_table(spark, customers, customers_format or format_of(customers), CUSTOMER_COLUMNS)
    else:
        people = spark.createDataFrame(db.query(f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM customers").to_arrow(),
                                       schema=", ".join(f"{c} {t}" for c, t in CUSTOMER_COLUMNS.items()))
    from pyspark.sql import functions as F

    month = F.trunc("date", "month")
    periods = collect(ledger.groupBy(month.alias("start")).agg(F.count("*").alias("rows"),
                                                              F.sum("revenue").alias("total")),
                      {"start": "DATE", "rows": "BIGINT", "total": "DECIMAL(38,4)"}).sort("start")
    if periods.is_empty():
        raise ValueError(f"{location}: the ledger has no rows; nothing was imported")
    tables = reduce(spark, people, ledger)
    files = sorted(str(f) for f in ledger.inputFiles()) if hasattr(ledger, "inputFiles") else [location]
    starts: list[date] = periods.get_column("start").to_list()
    rows, total = int(periods.get_column("rows").sum()), Decimal(str(periods.get_column("total").sum()))
    first, ledger_end = starts[0], month_end(starts[-1])
    fingerprint = hashlib.sha256(json.dumps({"location": location, "files": files, "rows": rows,
                                             "total": str(total)}).encode()).hexdigest()
    period_json = [{"period": p["start"].strftime("%Y-%m"), "start": p["start"].isoformat(),
                    "end": month_end(p["start"]).isoformat(), "rows": int(p["rows"]), "total": money_text(p["total"])}
                   for p in periods.iter_rows(named=True)]
    options = {"engine": "spark", "format": fmt, "location": location, "customers": customers}
    with db.transaction() as con:
        own = db.one("SELECT count(*) FROM revenue")
        if own and own[0]:
            raise StoreError("revenue rows were imported into this store while the lake ledger was reduced; "
                             "nothing was changed")
        earlier = [int(i) for (i,) in db.rows(
            f"SELECT import_id FROM imports WHERE kind = 'revenue' AND status = 'active' AND {LAKE_IMPORT} "
            "ORDER BY import_id")]
        import_id = int(db.one("SELECT nextval('import_ids')")[0])  # type: ignore[index]
        now = datetime.now(UTC).replace(tzinfo=None)
        if earlier:
            con.execute(f"UPDATE imports SET status = 'undone', undone_at = ?, undone_by = ? WHERE import_id IN "
                        f"({', '.join('?' * len(earlier))})", [now, f"lake import #{import_id}", *earlier])
        record_import(db, import_id, "revenue", location, fingerprint, rows, (first, ledger_end), total, period_json,
                      now, db.user, earlier, 0, json.dumps(options, sort_keys=True))
        summaries.replace_with(db, tables, ledger_end, rows, location)
        log_change(db, "import", {"import_id": import_id, "kind": "revenue", "file": location, "rows": rows,
                                  "replaced": earlier, "engine": "spark", "format": fmt})
    return {"status": "imported", "kind": "revenue", "engine": "spark", "format": fmt, "location": location,
            "import_id": import_id, "rows": rows, "total": money_text(total), "period_start": first.isoformat(),
            "period_end": ledger_end.isoformat(), "replaced_imports": earlier,
            "customers": tables["summary_customers"].height, "files": len(files)}
