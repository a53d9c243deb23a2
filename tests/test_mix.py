"""The mix behind a headline LTV:CAC (finance.metrics.mix), on small tables worked by hand."""

from __future__ import annotations

import polars as pl

from finance.metrics.mix import headline_mix


def _rows(parts: list[tuple[str, int, float, float]]) -> tuple[dict[str, float], pl.DataFrame]:
    """(segment, new customers, spend, LTV) rows, and the pooled row they add up to."""
    frame = pl.DataFrame(parts, schema=["segment", "new_customers", "spend", "ltv"], orient="row").with_columns(
        ltv_cac=pl.col("ltv") / (pl.col("spend") / pl.col("new_customers")), band=pl.lit("x"))
    customers = sum(p[1] for p in parts)
    spend = sum(p[2] for p in parts)
    margin = sum(p[1] * p[3] for p in parts)
    return {"new_customers": customers, "spend": spend, "ltv": margin / customers, "ltv_cac": margin / spend}, frame


def test_a_small_valuable_segment_that_lifts_the_headline_over_the_target_is_named() -> None:
    pooled, parts = _rows([("DTC", 900, 900_000.0, 300.0), ("Enterprise", 50, 300_000.0, 80_000.0)])
    mix = headline_mix(pooled, parts, "segment", 3.0)
    assert pooled["ltv_cac"] >= 3.0  # (270,000 + 4,000,000) / 1,200,000 = 3.56x
    assert mix.carrier is not None and mix.carrier.part.name == "Enterprise"
    assert mix.carrier.rest_ratio == 900 * 300.0 / 900_000.0  # 0.30x without Enterprise
    assert [p.name for p in mix.parts] == ["DTC", "Enterprise"]  # most new customers first
    assert abs(sum(p.margin_share for p in mix.parts) - 1) < 1e-12


def test_no_carrier_when_the_rest_also_meets_the_target_or_the_top_is_most_customers() -> None:
    balanced, parts = _rows([("A", 500, 500_000.0, 4_000.0), ("B", 100, 200_000.0, 20_000.0)])
    assert headline_mix(balanced, parts, "segment", 3.0).carrier is None  # A alone is 4x
    majority, parts = _rows([("A", 100, 500_000.0, 1_000.0), ("B", 600, 100_000.0, 4_000.0)])
    assert majority["ltv_cac"] >= 3.0
    assert headline_mix(majority, parts, "segment", 3.0).carrier is None  # B is most of the customers
    below, parts = _rows([("A", 900, 900_000.0, 300.0), ("B", 50, 300_000.0, 20_000.0)])
    assert below["ltv_cac"] < 3.0
    assert headline_mix(below, parts, "segment", 3.0).carrier is None  # no headline over the target to carry
