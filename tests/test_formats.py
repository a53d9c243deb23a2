"""One rule per unit (finance.present.formats): checked against hand-worked values and Python's own decimal rounding."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from finance.present import formats


@pytest.mark.parametrize(("value", "currency", "text"), [
    (1234.5, "USD", "$1,234.50"),
    (2.675, "USD", "$2.68"),  # half-up from the shortest repr, not the binary float below 2.675
    (np.float64(2.675), "USD", "$2.68"),
    (Decimal("-50"), "USD", "-$50.00"),
    (-0.004, "USD", "$0.00"),  # a rounded zero has no sign
    (1234.5, "EUR", "€1,234.50"),
    (1234.5, "JPY", "¥1,235"),  # no minor unit
    (1234.5, "CHF", "CHF 1,234.50"),
    (None, "USD", "n/a"),
    (float("nan"), "USD", "n/a"),
    (float("inf"), "USD", "n/a"),
])
def test_money(value: object, currency: str, text: str) -> None:
    assert formats.money(value, currency) == text


@pytest.mark.parametrize(("value", "text"), [
    (412_500, "$412.5K"),  # one decimal from 100 of the unit up
    (41_250, "$41.25K"),
    (990_600, "$990.6K"),
    (2_770_000, "$2.77M"),
    (999_999.99, "$1.00M"),  # never "$1000.0K"
    (3_200_000_000, "$3.20B"),
    (980.4, "$980.40"),  # below a thousand, the exact amount
    (-412_500, "-$412.5K"),
    (None, "n/a"),
])
def test_money_compact(value: object, text: str) -> None:
    assert formats.money_compact(value) == text


def test_a_range_names_its_unit_once_and_money_ends_may_be_whole() -> None:
    assert formats.money(1033.67, whole=True) == "$1,034" and formats.money(1122.5, whole=True) == "$1,123"
    assert formats.money(-0.4, "EUR", whole=True) == "€0" and formats.money(None, whole=True) == "n/a"
    assert formats.span(5, 6, formats.months) == "5 to 6 months"
    assert formats.span(1, 2.5, formats.months) == "1 to 2.5 months"
    assert formats.span(5, float("inf"), formats.months) == "5 months to beyond horizon"  # no unit to share
    assert formats.span(2647, 2875, formats.count) == "2,647 to 2,875"
    assert formats.span(4.32, 5.27, formats.ratio) == "4.32x to 5.27x"


def test_money_agrees_with_decimal_rounding_on_random_amounts() -> None:
    rng = random.Random(20261205)
    for _ in range(2_000):
        cents = Decimal(rng.randrange(-10**12, 10**12)) / 1000  # three decimals: every rounding case
        expected = abs(cents.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        sign = "-" if cents.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) < 0 else ""
        assert formats.money(cents) == f"{sign}${expected:,.2f}"


@pytest.mark.parametrize(("value", "edges", "text"), [
    (3.04, None, "3.04x"),
    (3.0, None, "3.00x"),
    (2.996, (1, 2, 3, 5), "2.996x"),  # 3.00x would contradict its band (below 3)
    (2.996, None, "3.00x"),
    (float("inf"), None, "n/a"),
])
def test_ratio(value: float, edges: tuple[float, ...] | None, text: str) -> None:
    assert formats.ratio(value, edges) == text


def test_percent_count_months_and_day() -> None:
    from datetime import date

    assert formats.percent(0.125) == "12.5%"
    assert formats.percent(-0.0004) == "0.0%"
    assert formats.percent(0.051, signed=True) == "+5.1%"
    assert formats.percent(-0.051, signed=True) == "-5.1%"
    assert formats.count(1234.5) == "1,235" and formats.count(None) == "n/a"
    assert formats.months(1) == "1 month" and formats.months(7.5) == "7.5 months" and formats.months(12) == "12 months"
    assert formats.months(float("inf")) == "beyond horizon" and formats.months(None) == "n/a"
    assert formats.day(date(2026, 12, 5)) == "05 Dec 2026"


def test_duration() -> None:
    assert formats.duration(0.4) == "under 1 s" and formats.duration(0.5) == "1 s"  # half-up to whole seconds
    assert formats.duration(19.6) == "20 s" and formats.duration(60) == "1 min"
    assert formats.duration(125.2) == "2 min 5 s" and formats.duration(3599.5) == "60 min"
    assert formats.duration(None) == "n/a" and formats.duration(float("nan")) == "n/a" and formats.duration(-1) == "n/a"
