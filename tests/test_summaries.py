"""The store's summaries of the ledger (finance.store.summaries): every figure made from them is the figure
the ledger gives, to the last bit, and they follow every change to the rows in the same transaction.

The reference is the metric core reading the ledger's rows itself (Polars), an independent computation
of the same figures: the summaries are made by SQL in DuckDB, from the store's views.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bench.samplegen import generate
from finance.ltv.base import LTVSettings
from finance.metrics.table import MetricParams, compute
from finance.store import summaries
from finance.store.database import Store
from finance.store.dataset import Dataset

METHODS = ("formula", "cohort", "bgnbd", "auto")
BREAKDOWNS = (None, "channel", "segment", "channel_segment")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate(tmp_path_factory.mktemp("company"), customers=2500, seed=11, start_year=2023, quarters=8)


def _store(path: Path, files: dict[str, Path]) -> Path:
    with Store(path, keep_backups=0) as store:
        for kind in ("spend", "funnel", "customers", "revenue"):
            assert store.import_file(kind, files[kind]).status == "imported"
    return path


def _same_figures(data: Dataset, params: MetricParams) -> None:
    assert data.summary is not None
    kept, ledger = compute(data, params), compute(replace(data, summary=None), params)
    assert_frame_equal(kept.rows, ledger.rows, check_exact=True)
    assert kept.ltv.notes == ledger.ltv.notes
    assert kept.ltv.params == ledger.ltv.params


@pytest.mark.parametrize("method", METHODS)
def test_every_figure_from_the_summaries_is_the_ledgers_to_the_last_bit(
        company: dict[str, Path], tmp_path: Path, method: str) -> None:
    with Store(_store(tmp_path / "c.duckdb", company), read_only=True) as store:
        data = store.dataset()
    assert data.summary is not None and data.summary.as_of == date(2024, 12, 31)
    for by in BREAKDOWNS:
        _same_figures(data, MetricParams(grain="quarter", by=by, ltv=LTVSettings(method=method)))
    _same_figures(data, MetricParams(grain="month", ltv=LTVSettings(method=method, default_gross_margin=0.4137)))
    _same_figures(data, MetricParams(grain="quarter", fiscal_year_start=4, by="channel",
                                     ltv=LTVSettings(method=method)))


def test_a_figure_as_of_another_day_reads_the_ledger(company: dict[str, Path], tmp_path: Path) -> None:
    with Store(_store(tmp_path / "c.duckdb", company), read_only=True) as store:
        data = store.dataset()
    assert data.summary is not None
    earlier = date(2024, 9, 30)
    assert data.summary_for(earlier) is None and data.as_of(earlier).summary is None
    params = MetricParams(grain="quarter", as_of=earlier, ltv=LTVSettings(method="formula"))
    assert_frame_equal(compute(data, params).rows, compute(replace(data, summary=None), params).rows,
                       check_exact=True)
    # Cut at its own end, the summary still answers, without the customers acquired later.
    end = data.as_of(data.summary.as_of)
    assert end.summary is not None and end.summary.acquired_by == data.summary.as_of
    _same_figures(end, MetricParams(grain="quarter", by="segment", ltv=LTVSettings(method="formula")))


def test_the_ledger_is_read_only_when_a_figure_needs_it(company: dict[str, Path], tmp_path: Path) -> None:
    """The dataset holds the summaries, not the ledger: the figures as of its end are made with the store's file
    gone; one as of an earlier day reads the rows then, the same rows as a dataset that read them at once; and
    a ledger changed in between is refused, not mixed with the rest of the data."""
    from finance.store import reading
    from finance.store.errors import StoreError

    path = _store(tmp_path / "c.duckdb", company)
    with Store(path, read_only=True) as store:
        data = store.dataset()
        columns = reading.dataset_columns(store)
        eager = Dataset.from_frames(**{kind: store.query(f"SELECT {', '.join(names)} FROM {kind}")
                                       for kind, names in columns.items() if names})
    at_end = MetricParams(grain="quarter", by="channel", ltv=LTVSettings(method="auto"))
    earlier = MetricParams(grain="quarter", as_of=date(2024, 9, 30), ltv=LTVSettings(method="formula"))
    away = path.rename(tmp_path / "elsewhere.duckdb")
    figures = compute(data, at_end)  # no file to read: the summaries answer alone
    away.rename(path)
    assert_frame_equal(figures.rows, compute(eager, at_end).rows, check_exact=True)
    assert_frame_equal(compute(data, earlier).rows, compute(eager, earlier).rows, check_exact=True)
    with Store(path, read_only=True) as store:
        stale = store.dataset()
    with Store(path, keep_backups=0) as store:
        last = store.one("SELECT max(import_id) FROM imports WHERE kind = 'revenue' AND status = 'active'")
        store.undo(int(last[0]))  # type: ignore[index]
    with pytest.raises(StoreError, match="changed after these figures' data were read"):
        compute(stale, earlier)
    assert_frame_equal(compute(data, earlier).rows, compute(eager, earlier).rows, check_exact=True)  # read before


def _reduced(store: Store) -> dict[str, pl.DataFrame]:
    """The kept tables, sorted, and the same reduction run afresh over the rows in force."""
    kept = summaries.read(store)
    assert kept is not None
    fresh = duckdb.connect()
    try:
        for kind in ("customers", "revenue"):
            fresh.register(kind, store.query(f"SELECT * FROM {kind}").to_arrow())
        has_customers = bool(fresh.execute("SELECT count(*) > 0 FROM customers").fetchall()[0][0])
        for name, select in summaries.steps(has_customers):
            fresh.execute(f"CREATE TEMP TABLE {name} AS {select}")
        again = {name: fresh.sql(f"SELECT {', '.join(summaries.COLUMNS[name])} FROM {name}").pl()
                 for name in summaries.TABLES}
    finally:
        fresh.close()
    keys = {"summary_customers": ["customer_id"], "summary_margins": ["acquired_month", "channel", "segment", "age"]}
    for name, frame in (("summary_customers", kept.customers), ("summary_margins", kept.margins)):
        assert_frame_equal(frame.sort(keys[name]), again[name].sort(keys[name]), check_exact=True,
                           check_dtypes=False)
    return {"customers": kept.customers, "margins": kept.margins}


def _later_quarter(files: dict[str, Path], folder: Path) -> Path:
    """The ledger's last quarter again, every amount doubled: a replacement of that quarter."""
    rows = pl.read_csv(files["revenue"], infer_schema=False)
    late = rows.filter(pl.col("date") >= "2024-10-01").with_columns(
        (pl.col(c).cast(pl.Float64) * 2).round(2).cast(pl.String) for c in ("revenue", "cost") if c in rows.columns)
    path = folder / "revenue-q4.csv"
    late.write_csv(path)
    return path


def test_the_summaries_follow_every_change_in_its_transaction(company: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with Store(db, keep_backups=0) as store:
        for kind in ("spend", "customers"):
            assert store.import_file(kind, company[kind]).status == "imported"
        assert summaries.read(store) is None  # no revenue yet: nothing to summarise
        first = store.import_file("revenue", company["revenue"])
        whole = _reduced(store)
        # A refused import changes neither the rows nor their summaries.
        refused = store.import_file("revenue", _later_quarter(company, tmp_path))
        assert refused.status == "rejected" and _reduced(store)["margins"].equals(whole["margins"])
        replaced = store.import_file("revenue", _later_quarter(company, tmp_path), replace=True)
        assert replaced.status == "imported" and replaced.replaced == [first.import_id]
        doubled = _reduced(store)
        assert doubled["customers"].get_column("revenue_total").sum() > whole["customers"].get_column(
            "revenue_total").sum()
        store.undo(replaced.import_id, backup_first=False)
        assert_frame_equal(_reduced(store)["customers"].sort("customer_id"), whole["customers"].sort("customer_id"),
                           check_exact=True)
        # No revenue left: no summary, and the figures read the (empty) ledger.
        store.undo(first.import_id, backup_first=False)
        assert summaries.read(store) is None
    with Store(db, read_only=True) as store:
        assert store.dataset().summary is None


def test_a_change_of_reporting_currency_converts_the_summaries_with_the_rows(
        company: dict[str, Path], tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    day, lines = date(2022, 12, 1), ["date,currency,rate,base"]
    while day <= date(2025, 1, 31):
        lines.append(f"{day.isoformat()},USD,1.0{day.toordinal() % 90 + 10},EUR")
        day += timedelta(days=1)
    rates.write_text("\n".join(lines) + "\n")
    from finance.ingest.fx import read_rates
    db = _store(tmp_path / "c.duckdb", company)
    with Store(db, keep_backups=0) as store:
        before = _reduced(store)
        store.import_rates(read_rates(rates))
        store.set_reporting_currency("EUR")
        after = _reduced(store)
        assert after["customers"].get_column("revenue_total").sum() != before["customers"].get_column(
            "revenue_total").sum()
        data = store.dataset()
    _same_figures(data, MetricParams(grain="quarter", by="channel", ltv=LTVSettings(method="formula")))


def test_a_file_from_before_the_summaries_gets_them_when_a_writer_opens_it(
        company: dict[str, Path], tmp_path: Path) -> None:
    db = _store(tmp_path / "c.duckdb", company)
    with Store(db, keep_backups=0) as store:
        want = _reduced(store)
        for name in (*summaries.TABLES, "summary_state"):
            store.con.execute(f"DROP TABLE {name}")
        store.con.execute("UPDATE settings SET value = '5' WHERE key = 'schema_version'")
    with Store(db, read_only=True) as store:  # a reader does not migrate: it reads the ledger
        data = store.dataset()
        assert data.summary is None
    with Store(db, keep_backups=0) as store:
        got = _reduced(store)
        data = store.dataset()
    assert_frame_equal(got["customers"].sort("customer_id"), want["customers"].sort("customer_id"), check_exact=True)
    _same_figures(data, MetricParams(grain="quarter", ltv=LTVSettings(method="auto")))
