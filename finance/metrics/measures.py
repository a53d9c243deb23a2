"""Every figure of a metric row, declared once: its name, unit, business label and meaning.

The metric table's JSON, the exports' number formats, the dashboard's table columns and the
formatters read the unit and label from here, so a figure is called and written the same way
everywhere. A measure is summed when rows roll up (a channel selection, a trailing window); a
ratio names its numerator and denominator and is formed again from their sums, never averaged.

Units: ``money`` (exact, in the company's currency), ``count``, ``ratio`` (``3.04x``), ``fraction``
(written as a percentage), ``months``, ``text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["money", "count", "ratio", "fraction", "months", "text"]


@dataclass(frozen=True)
class Figure:
    """One column of the metric table."""

    name: str
    label: str
    unit: Unit
    description: str
    numerator: str | None = None
    """For a ratio: the summed figure on top (spend, LTV x customers, ...)."""
    denominator: str | None = None
    """For a ratio: the summed figure below (new customers, leads, CAC, ...)."""



FIGURES: tuple[Figure, ...] = (
    Figure("spend", "Marketing spend", "money",
           "Fully loaded marketing spend: every cost category except sales."),
    Figure("spend_sm", "Sales & marketing spend", "money", "All spend, sales included."),
    Figure("new_customers", "New customers", "count", "Customers acquired in the period."),
    Figure("leads", "Leads", "count", "Leads from the funnel file."),
    Figure("cac_media", "Media CAC", "money", "Digital advertising spend per new customer.",
           "spend_media", "new_customers"),
    Figure("cac", "Fully loaded CAC", "money", "Marketing spend per new customer.", "spend", "new_customers"),
    Figure("cac_sm", "S&M CAC", "money", "Sales and marketing spend per new customer.", "spend_sm", "new_customers"),
    Figure("cpl", "Cost per lead", "money", "Channel-attributed marketing spend per lead.", "direct_spend", "leads"),
    Figure("cpa", "Cost per acquisition", "money", "Channel-attributed marketing spend per new customer.",
           "direct_spend", "new_customers"),
    Figure("cost_per_visitor", "Cost per visitor", "money", "Channel-attributed marketing spend per visitor.",
           "direct_spend", "visitors"),
    Figure("cost_per_attendee", "Cost per event attendee", "money", "Events spend per attendee.",
           "spend_events", "event_attendees"),
    Figure("ltv", "LTV", "money", "Lifetime gross margin per new customer, discounted, over the horizon."),
    Figure("ltv_low", "LTV, low end of range", "money", "The low end of LTV's stated range."),
    Figure("ltv_high", "LTV, high end of range", "money", "The high end of LTV's stated range."),
    Figure("ltv_cac", "LTV:CAC", "ratio", "LTV over fully loaded CAC.", "ltv", "cac"),
    Figure("ltv_cac_low", "LTV:CAC, low end of range", "ratio", "The low end of LTV over CAC.", "ltv_low", "cac"),
    Figure("ltv_cac_high", "LTV:CAC, high end of range", "ratio", "The high end of LTV over CAC.", "ltv_high", "cac"),
    Figure("p_below_1", "Chance LTV:CAC is below 1x", "fraction",
           "Probability, under the LTV model's measured error, that the ratio is below 1."),
    Figure("p_below_target", "Chance LTV:CAC is below target", "fraction",
           "Probability that the ratio is below the target LTV:CAC assumption."),
    Figure("band", "Band", "text", "Where LTV:CAC falls against the band edges."),
    Figure("payback_months", "Payback", "months", "Months until cumulative margin per customer covers CAC."),
    Figure("roi", "Marketing ROI", "fraction", "(LTV x new customers - spend) / spend, from the row's own sums."),
    Figure("status", "Data status", "text", "Whether the revenue ledger covers every month of the period."),
)

BY_NAME = {figure.name: figure for figure in FIGURES}


def names(unit: Unit) -> tuple[str, ...]:
    """The figures of one unit, in row order."""
    return tuple(f.name for f in FIGURES if f.unit == unit)


def label(name: str) -> str:
    """The business label of a figure, or of a category's spend column; the name itself otherwise."""
    figure = BY_NAME.get(name)
    return figure.label if figure else name


def unit(name: str) -> Unit:
    """The unit of a figure; money for the per-category spend and CAC columns; text otherwise."""
    figure = BY_NAME.get(name)
    if figure is not None:
        return figure.unit
    return "money" if name.startswith(("spend_", "cac_")) or name == "direct_spend" else "text"
