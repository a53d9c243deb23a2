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

import os
import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

import polars as pl

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


@cache
def spark_sql(select: str) -> str:
    """A step of the reduction in Spark's SQL dialect (SQLGlot's translation of DuckDB's)."""
    import sqlglot

    return str(sqlglot.transpile(select, read="duckdb", write="spark")[0])


def session(master: str | None = None, *, app: str = "ltv-cac-summaries") -> Any:
    """A Spark session: ``master`` if given, else Spark Connect at ``$SPARK_REMOTE`` if set, else local mode
    on this machine's cores. Dates are read and written in UTC; the web UI is off."""
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


def read_table(spark: Any, path: str, fmt: str, columns: Mapping[str, str]) -> Any:
    """The ``columns`` of a table stored at ``path`` (a file, a folder or a glob; ``fmt`` one of ``FORMATS``),
    cast to the store's types; a missing column is refused, naming it and the file."""
    if fmt not in FORMATS:
        raise ValueError(f"{path}: the format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "false")
    frame = reader.load(path)
    present = {name.lower(): name for name in frame.columns}
    required = [c for c in columns if c not in ("gross_margin", "channel", "segment", "billing_interval",
                                                 "source_row")]
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)}; expected {', '.join(columns)}")
    from pyspark.sql import functions as F

    return frame.select(*[(F.col(present[c]) if c in present else F.lit(None)).cast(t).alias(c)
                          for c, t in columns.items()])


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
    with warnings.catch_warnings():
        # PySpark checks the pandas version before any Arrow collection, and warns of pandas 3; none is used here.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        arrow = frame.select(*columns).toArrow()
    got = pl.from_arrow(arrow)
    assert isinstance(got, pl.DataFrame)
    return got.select(pl.col(c).cast(_polars_type(t)) for c, t in columns.items())


def _polars_type(sql: str) -> pl.DataType:
    if sql.startswith("DECIMAL"):
        precision, scale = (int(v) for v in sql[len("DECIMAL("):-1].split(","))
        return pl.Decimal(precision, scale)
    return _POLARS_TYPES[sql]
