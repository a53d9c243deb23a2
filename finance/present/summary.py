"""The headline in words: the finding a CFO reads first, and the mix behind it.

The Overview and the board pack's executive summary say the same sentences, from the same metric
rows (``finance.metrics.table``) and the same split (``finance.metrics.mix``). Names of segments
and channels come from the data and stay plain text: callers print these sentences with
``finance.domain.literal`` (screen) or as escaped text (PDF), never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from finance.domain.assumptions import RANGE_WIDTH
from finance.domain.schema import CATEGORIES
from finance.metrics.mix import Mix
from finance.metrics.table import MetricsResult
from finance.metrics.targets import Targets, misses
from finance.present import formats
from finance.present.i18n import N_, _, ngettext

BAND_WORDS = {"unprofitable": N_("unprofitable"), "at risk": N_("at risk"), "healthy": N_("healthy"),
              "strong": N_("strong"), "under-investing?": N_("under-investing?")}
"""The health bands (``finance.domain.schema.BAND_LABELS``) as each language writes them."""
MODEL_WORDS = {"formula": N_("the churn formula"), "bgnbd": N_("BG/NBD"), "sbg": N_("sBG retention")}
"""Each LTV model in a sentence (``finance.metrics.table.MODEL_WORDS``, in the language)."""
METHOD_WORDS = {"auto": N_("recommended"), "formula": N_("churn formula"), "bgnbd": N_("purchase model"),
                "cohort": N_("cohort retention")}
"""Each LTV method in a sentence (``finance.metrics.table.METHOD_WORDS``, in the language)."""
STATUS_WORDS = {"complete": N_("complete"), "partial": N_("partial"), "awaiting revenue": N_("awaiting revenue")}
"""A period's standing against the revenue ledger (``finance.metrics.table.STATUSES``), in the language."""
KIND_WORDS = {"spend": N_("spend"), "funnel": N_("funnel"), "customers": N_("customers"), "revenue": N_("revenue"),
              "gl": N_("GL")}
"""The kinds of imported file (``finance.domain.schema.KINDS``) in a sentence (the general ledger as finance
teams write it: GL)."""
def kind_name(kind: str) -> str:
    """A kind of file as a label starts it, in the language: "Spend", "GL" (only the first letter raised)."""
    word = _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind
    return word[:1].upper() + word[1:]


CAC_BASIS_WORDS = {"marketing": N_("fully loaded CAC (every cost category but sales)"),
                   "sales_and_marketing": N_("S&M CAC (every cost category, sales included)")}
"""The CAC a ratio divides by, in words (``finance.metrics.table.CAC_BASIS_WORDS``, in the language)."""


def band_words() -> dict[str, str]:
    """Each health band and its words in the language being written in (for ``pl.Expr.replace``)."""
    return {name: _(words) for name, words in BAND_WORDS.items()}


def status_words() -> dict[str, str]:
    """Each period status and its words in the language being written in (for ``pl.Expr.replace``)."""
    return {name: _(words) for name, words in STATUS_WORDS.items()}


def band(name: str | None) -> str:
    """A health band in the language; ``n/a`` when unknown."""
    return _(BAND_WORDS.get(name, name)) if name else formats.na()


def interval() -> str:
    """The width of every stated range: ``80%`` (``80 %`` in French)."""
    return formats.percent(RANGE_WIDTH, places=0)


def chance(p: float) -> str:
    """A chance as a CFO reads it: ``<1%``, ``38%``, ``>99%``."""
    if p < 0.005:
        return "<" + formats.percent(0.01, places=0)
    if p > 0.995:
        return ">" + formats.percent(0.99, places=0)
    return formats.percent(p, places=0)


def chance_text(row: Mapping[str, Any], target: float) -> str:
    """'<1% chance below 1x, 38% below the 3x target' from a row's p_below_1 and p_below_target; '' if unknown."""
    below_1, below_target = row.get("p_below_1"), row.get("p_below_target")
    if below_1 is None or below_target is None:
        return ""
    return _("{below_1} chance below {one}, {below_target} below the {target} target").format(
        below_1=chance(below_1), one=formats.threshold(1), below_target=chance(below_target),
        target=formats.threshold(target))


def model_sentence(result: MetricsResult, label: str | None = None) -> str:
    """Which model valued each segment, and how well the method forecast in the back-test: plain text
    (``MetricsResult.model_sentence`` in the language). ``label`` names the method."""
    by_model: dict[str, list[str]] = {}
    for segment, model in sorted(result.ltv.models.items()):
        by_model.setdefault(model, []).append(result.ltv.group_name((segment,)))
    parts = [_("{model} for {segments}").format(model=_(MODEL_WORDS[m]) if m in MODEL_WORDS else m,
                                                segments=", ".join(segs)) for m, segs in by_model.items()]
    name = label or (_(METHOD_WORDS[result.ltv.method]) if result.ltv.method in METHOD_WORDS else result.ltv.method)
    text = formats.aside(_("LTV by the {method} method").format(method=name), formats.clauses(parts))
    check = result.check
    if check is None:
        return formats.sentences(text, _("The model check against this history is still running."))
    by_horizon = check.scores.get(result.ltv.method, {}).get("", {})
    horizon = next((h for h in ("12", "6", "3") if by_horizon.get(h) and by_horizon[h].mape is not None), None)
    if horizon is None:
        return formats.sentences(text, _("Too little history for a back-test yet: each segment's model was chosen "
                                         "by the shape of its payments."))
    score = by_horizon[horizon]
    held = _("; its {interval} range held {coverage} of the time").format(
        interval=formats.percent(check.interval, places=0), coverage=formats.percent(score.coverage, places=0)) \
        if score.coverage is not None else ""
    return formats.sentences(text, ngettext(
        "In back-tests at {cutoffs} past quarter-end its {horizon}-month forecasts were within {error} on average "
        "(bias {bias}){held}.",
        "In back-tests at {cutoffs} past quarter-ends its {horizon}-month forecasts were within {error} on average "
        "(bias {bias}){held}.", len(check.cutoffs)).format(
        cutoffs=len(check.cutoffs), horizon=horizon, error=formats.percent(score.mape),
        bias=formats.percent(score.bias, signed=True), held=held))


def finding(row: Mapping[str, Any], period: str, target: float, mix: Mix | None = None,
            prior: Mapping[str, Any] | None = None, prior_label: str | None = None) -> str:
    """One sentence: where LTV:CAC stands against the target in ``period``, and what carries it."""
    ratio = row.get("ltv_cac")
    if ratio is None:
        return _("{period} has no LTV:CAC yet: it has no new customers or no spend to set against them.").format(
            period=period)
    words = {"ratio": formats.ratio(ratio), "period": period, "target": formats.threshold(target)}
    if prior is not None and prior.get("ltv_cac") is not None and prior_label:
        words |= {"prior": formats.ratio(prior["ltv_cac"]), "prior_period": prior_label}
        head = (_("LTV:CAC was {ratio} in {period}, above the {target} target, against {prior} in {prior_period}")
                if ratio >= target else
                _("LTV:CAC was {ratio} in {period}, below the {target} target, against {prior} in {prior_period}"))
    else:
        head = (_("LTV:CAC was {ratio} in {period}, above the {target} target") if ratio >= target else
                _("LTV:CAC was {ratio} in {period}, below the {target} target"))
    head = head.format(**words)
    carrier = mix.carrier if mix is not None else None
    if carrier is not None:
        rest_share = 1.0 - carrier.part.customer_share
        rest = formats.ratio(carrier.rest_ratio) if carrier.rest_ratio is not None else formats.na()
        return _("{headline}; but {name}, {share} of new customers, carries it: the other {rest_share} "
                 "return {rest}.").format(headline=head, name=carrier.part.name,
                                          share=formats.percent(carrier.part.customer_share, places=0),
                                          rest_share=formats.percent(rest_share, places=0), rest=rest)
    return _("{headline}.").format(headline=head)


def mix_note(mix: Mix, target: float) -> str | None:
    """When one part carries the headline: who, how many, and LTV:CAC without it; else None."""
    carrier = mix.carrier
    if carrier is None:
        return None
    part = carrier.part
    rest = formats.ratio(carrier.rest_ratio) if carrier.rest_ratio is not None else formats.na()
    rest_band = f" ({band(carrier.rest_band)})" if carrier.rest_band else ""
    return _("{name} carries the headline: {customers} new customers ({share}) bring {margin_share} of the "
             "lifetime margin at {ratio}. Without them, LTV:CAC is {rest}{band}, below the {target} target.").format(
        name=part.name, customers=formats.count(part.new_customers),
        share=formats.percent(part.customer_share, places=0), margin_share=formats.percent(part.margin_share, places=0),
        ratio=formats.ratio(part.ltv_cac), rest=rest, band=rest_band, target=formats.threshold(target))


def months_change(now: int | None, before: int | None, prior: str | None = None) -> str | None:
    """'+2 months vs 2025-Q3', or 'unchanged from 2025-Q3'; without ``prior``, '+2 months' or 'unchanged';
    None when either is unknown."""
    if now is None or before is None:
        return None
    if now == before:
        return _("unchanged from {period}").format(period=prior) if prior else _("unchanged")
    change = ngettext("{change} month", "{change} months", abs(now - before)).format(change=f"{now - before:+d}")
    return versus(change, prior)


def versus(change: str, prior: str | None) -> str:
    """A change and what it is against: '+5.1% vs 2025-Q3'; the change alone without ``prior``."""
    return _("{change} vs {period}").format(change=change, period=prior) if prior else change


def ratio_change(now: float | None, before: float | None, prior: str | None = None) -> str | None:
    """'+0.55x vs 2025-Q3' (without ``prior``, '+0.55x'); None when either is unknown."""
    if now is None or before is None:
        return None
    difference = now - before
    return versus(f"{'+' if difference >= 0 else ''}{formats.ratio(difference)}", prior)


def ltv_cac_detail(row: Mapping[str, Any], target: float) -> str:
    """'range 3.91x to 6.12x; <1% chance below 1x, 4% below the 3x target', or what of it is known."""
    parts = []
    if row.get("ltv_cac_low") is not None and row.get("ltv_cac_high") is not None:
        parts.append(_("range {low} to {high}").format(low=formats.ratio(row["ltv_cac_low"]),
                                                       high=formats.ratio(row["ltv_cac_high"])))
    if chance := chance_text(row, target):
        parts.append(chance)
    return formats.clauses(parts)


PREPAID_LISTED = 3
"""Prepaid costs a sentence names one by one; the rest are counted."""


def _outside(prepaid: pl.DataFrame) -> Any:
    """What of the prepaid costs (``Dataset.prepaid``) falls outside the loaded months, exactly."""
    return sum(prepaid.get_column("before").to_list() + prepaid.get_column("after").to_list())


def basis_words(result: MetricsResult, currency: str) -> str:
    """The spend's basis in a few words, for a table of assumptions: 'cash (as paid)', or 'accrual (service periods
    amortised by month)', with what falls outside the loaded months when anything does."""
    if result.params.spend_basis != "accrual":
        return _("cash (each cost in the period paid)")
    words = _("accrual (service periods amortised by month)")
    prepaid = result.prepaid
    if prepaid is None or prepaid.is_empty():
        return words
    return _("{basis}; {amount} outside the months loaded, in no figure").format(
        basis=words, amount=formats.money(_outside(prepaid), currency))


def basis_sentence(result: MetricsResult, currency: str) -> str:
    """Which basis the spend is on, and, on accrual, what falls outside the loaded months: plain text (names from
    the data unescaped: the caller escapes for where it writes)."""
    if result.params.spend_basis != "accrual":
        return _("Spend on the cash basis: each cost in the period it was paid, its service period aside.")
    text = _("Spend on the accrual basis: a cost with a service period (an annual contract, an event deposit, a "
             "retainer) is spread over the months of the service, to the cent.")
    prepaid = result.prepaid
    if prepaid is None or prepaid.is_empty():
        return text
    rows = prepaid.iter_rows(named=True)
    named = [_("{who} {amount} ({service_start} to {service_end})").format(
        who=row["vendor"] or row["description"] or _(CATEGORIES[row["category"]].label),
        amount=formats.money(row["before"] + row["after"], currency),
        service_start=formats.day(row["service_start"]), service_end=formats.day(row["service_end"]))
        for row in list(rows)[:PREPAID_LISTED]]
    if prepaid.height > PREPAID_LISTED:
        named.append(_("{count} more").format(count=prepaid.height - PREPAID_LISTED))
    outside = _outside(prepaid)
    first, last = prepaid.row(0, named=True)["first"], prepaid.row(0, named=True)["last"]
    return formats.then(text, _("{amount} of it falls in months outside those the spend covers ({first} to {last}) "
                                 "and is in no figure here: {costs}.").format(
        amount=formats.money(outside, currency), first=formats.month(first), last=formats.month(last),
        costs="; ".join(named)))


def targets_sentence(period: str, row: Mapping[str, Any], channels: Any, targets: Targets,
                     currency: str) -> tuple[str, bool]:
    """The period's figures against every target in force, in words, and whether any was missed: 'Targets in
    2025-Q4: LTV:CAC 5.02x against 3.00x, met; CAC payback 14 months against 12 months, missed; ...'. Names from
    the data are as they are: the caller escapes them."""
    period_rows = channels.filter(pl.col("period_label") == period) if "channel" in channels.columns else channels
    missed = misses(pl.DataFrame([row]).select("period", "period_label", "ltv_cac", "payback_months"),
                    period_rows, targets)
    measures = set(missed.get_column("measure").to_list())
    parts = [_("LTV:CAC {value} against {target}, {verdict}").format(
        value=formats.ratio(row.get("ltv_cac")), target=formats.threshold(targets.ltv_cac),
        verdict=_("missed") if "ltv_cac" in measures else _("met") if row.get("ltv_cac") is not None else _("unknown"))]
    if targets.payback_months:
        payback = row.get("payback_months")
        parts.append(_("CAC payback {value} against {target}, {verdict}").format(
            value=formats.months(payback) if payback is not None else formats.na(),
            target=formats.months(targets.payback_months),
            verdict=_("missed") if "payback_months" in measures else _("met") if payback is not None else _("unknown")))
    if targets.cac:
        over = missed.filter(pl.col("measure") == "cac")
        parts.append(_("every channel's CAC within its target") if over.is_empty() else _(
            "CAC over target: {channels}").format(channels=", ".join(
                _("{channel} {value} against {target}").format(
                    channel=r["channel"], value=formats.money(r["value"], currency),
                    target=formats.money(r["target"], currency)) for r in over.iter_rows(named=True))))
    return _("Targets in {period}: {parts}.").format(period=period, parts="; ".join(parts)), not missed.is_empty()
