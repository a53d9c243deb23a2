"""The three LTV methods on the demo company: intervals, fitted parameters, and the months
already lived, which every method must take from the data, not from its model."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from finance.demo import SAMPLE_DIR, build_demo_db
from finance.ltv.base import LTVSettings
from finance.metrics.table import MetricParams, compute
from finance.store.database import Store

from .conftest import run_cli_json


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_db(path)
    return path


def _observed_ltv_2023_q1(horizon: int, discount: float) -> float:
    """Independent: discounted margin per customer of the 2023-Q1 cohort over its first months."""
    acquired: dict[str, date] = {}
    with (SAMPLE_DIR / "customers.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            day = date.fromisoformat(row["acquired_on"])
            if day < date(2023, 4, 1):
                acquired[row["customer_id"]] = day
    by_age: dict[int, float] = defaultdict(float)
    with (SAMPLE_DIR / "revenue.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            start = acquired.get(row["customer_id"])
            if start is None:
                continue
            day = date.fromisoformat(row["date"])
            age = max(0, (day.year - start.year) * 12 + day.month - start.month)
            if age < horizon:
                by_age[age] += float(row["gross_margin"])
    total = sum(v / (1 + discount) ** (age / 12) for age, v in by_age.items())
    return total / len(acquired)


@pytest.mark.parametrize("method", ["formula", "cohort", "bgnbd"])
def test_a_fully_observed_cohort_is_its_data_under_every_method(demo: Path, method: str) -> None:
    # 2023-Q1 customers have at least 33 months of history at 2025-12-31: a 24-month LTV is all observed
    settings = LTVSettings(method=method, horizon_months=24)
    with Store(demo, read_only=True) as store:
        result = compute(store.dataset(), MetricParams(ltv=settings))
    first = result.to_json()["rows"][0]
    assert first["period"] == "2023-Q1"
    expected = _observed_ltv_2023_q1(24, 0.10)
    assert float(first["ltv"]) == pytest.approx(expected, abs=0.01)
    assert first["ltv_low"] == first["ltv"] == first["ltv_high"]  # nothing left to project: no uncertainty


SEGMENTS = ("Enterprise B2B", "SMB", "DTC")


@pytest.mark.parametrize(("method", "names"), [
    ("formula", {"monthly_churn"}),
    ("cohort", {"alpha", "beta"}),
    ("bgnbd", {"r", "alpha", "a", "b"}),
])
def test_each_method_reports_its_fitted_parameters_and_intervals(demo: Path, method: str, names: set[str]) -> None:
    code, out = run_cli_json("metrics", "--db", demo, "--ltv-method", method)
    assert code == 0
    model = out["ltv_model"]
    assert model["method"] == method
    # every segment is fitted on its own, and says so in its parameters' names; a model that cannot
    # describe a segment gives way to the churn formula, and the notes say why
    own = {"formula": "formula", "cohort": "sbg", "bgnbd": "bgnbd"}[method]
    model_names = {"formula": {"monthly_churn"}, "sbg": {"alpha", "beta"}, "bgnbd": {"r", "alpha", "a", "b"}}
    for entry in model["segments"]:
        segment = entry["segment"]
        expected = names if entry["model"] == own else model_names[entry["model"]]
        assert {f"{segment}: {n}" for n in expected} <= set(model["params"]), (segment, model["params"])
        if entry["model"] != own:
            assert entry["model"] == "formula"
            assert any(note.startswith(f"{segment}:") and "the churn formula is used" in note
                       for note in model["notes"]), model["notes"]
    assert sum(entry["model"] == own for entry in model["segments"]) >= 2  # DTC and SMB at least
    assert all(v > 0 for v in model["params"].values())
    assert {s["segment"] for s in model["segments"]} == set(SEGMENTS)
    for segment in model["segments"]:
        assert segment["customers"] > 100 and segment["parameters"]
        assert all(p["value"] >= 0 for p in segment["parameters"])
    diagnostics = model["diagnostics"]
    assert sum(v for k, v in diagnostics.items() if k.endswith(": customers")) == 20000
    if method != "formula":  # a maximum-likelihood fit reports its log-likelihood (negative)
        assert any(k.endswith("log_likelihood") and v < 0 for k, v in diagnostics.items())
    for row in out["rows"]:
        assert float(row["ltv_low"]) <= float(row["ltv"]) <= float(row["ltv_high"])
        assert row["ltv_cac_low"] <= row["ltv_cac"] <= row["ltv_cac_high"]
    young = out["rows"][-1]  # the newest cohort is mostly projected: a real interval
    assert float(young["ltv_high"]) > float(young["ltv_low"])


def test_a_model_that_cannot_be_fitted_falls_back_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "tiny.duckdb"
    with Store(db) as store:
        path = tmp_path / "r.csv"
        path.write_text("customer_id,date,revenue\nA,2025-01-05,10.00\nB,2025-02-05,12.00\n")
        store.import_file("revenue", path)
    code, out = run_cli_json("metrics", "--db", db, "--ltv-method", "cohort", "--grain", "month")
    assert code == 0
    assert any("sBG:" in note and "the churn formula is used" in note for note in out["ltv_model"]["notes"])
    assert [row["ltv"] is not None for row in out["rows"]] == [True, True]  # every cohort still has an LTV


@pytest.mark.parametrize("method", ["formula", "cohort"])
def test_a_ledger_aggregated_in_partitions_of_customers_gives_the_same_ltv(
        demo: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ACTIVITY_PARTITION_ROWS the customer-month sums are made a partition of customers at a
    time; every cohort's LTV, interval, curve and the CAC must come out as in one pass."""
    from finance.ltv import base as ltv

    with Store(demo, read_only=True) as store:
        data = store.dataset()
    rows = data.revenue.select(pl.len()).collect().item()
    params = MetricParams(grain="quarter", by="segment", ltv=LTVSettings(method=method))
    whole = compute(data, params).rows
    monkeypatch.setattr(ltv, "ACTIVITY_PARTITION_ROWS", rows // 7)  # eight partitions
    parted = compute(data, params).rows
    assert parted.select("period_label", "segment", "new_customers", "cac").equals(
        whole.select("period_label", "segment", "new_customers", "cac"))
    for column in ("ltv", "ltv_low", "ltv_high", "ltv_cac"):
        for a, b in zip(parted[column].to_list(), whole[column].to_list(), strict=True):
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-6), column
    assert whole["ltv"].drop_nulls().len() >= 8  # the comparison reached real cohorts


def test_bgnbd_projection_is_never_another_cohorts_when_an_id_is_reused() -> None:
    """Cohorts of one size, each freed before the next is made (so CPython hands the next one the same
    id): each one's expected margin is its own, as computed with nothing cached."""
    from finance.ltv.methods import bgnbd
    from finance.ltv.methods.common import StratumFit, Units

    log_params = np.log(np.array([0.25, 4.0, 0.8, 2.5]))
    fit = StratumFit(("all",), "bgnbd", ("r", "alpha", "a", "b"), log_params, np.eye(4), 3,
                     {"margin_pct": 0.7, "mean_spend": 50.0})
    method = bgnbd.BGNBD

    def cohort(frequency: int) -> Units:
        return Units(np.zeros(3, dtype=np.int64), np.array([6, 9, 12]), np.ones(3),
                     {"frequency": np.full(3, float(frequency)), "recency": np.full(3, 20.0),
                      "T": np.full(3, 40.0), "monetary_value": np.full(3, 50.0)})

    alone, ids = [], set()
    for frequency in range(8):  # each with nothing cached
        bgnbd._PURCHASES.clear()
        units = cohort(frequency)
        ids.add(id(units))
        alone.append(method.expected_margin(fit, units, 24, log_params))
        bgnbd._PURCHASES.clear()
        del units
    assert len(ids) < 8  # ids are reused once their objects are freed: the case the cache must tell apart
    assert not np.array_equal(alone[0], alone[1])
    for frequency in range(8):  # one after another, the cache kept
        units = cohort(frequency)
        assert np.array_equal(method.expected_margin(fit, units, 24, log_params), alone[frequency]), frequency
        del units
