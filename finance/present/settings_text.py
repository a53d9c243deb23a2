"""The assumptions, the change log and the import history in words: what the Assumptions and Data
pages show a CFO.

Each assumption is written by its unit (a margin as a percentage, the horizon in months, band edges
as multiples, the fiscal year's first month by name), and a change-log entry as "label: before ->
after" rather than the JSON the store keeps. Values come from the store, so they are plain text.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl
from babel.dates import get_month_names

from finance.domain import literal
from finance.domain.assumptions import LABELS, Assumptions
from finance.domain.schema import MONEY_KINDS, file_kind
from finance.ingest.sources import SourceMapping
from finance.present import formats
from finance.present.i18n import N_, _, locale, ngettext
from finance.present.summary import KIND_WORDS, kind_name

ALLOCATION_WORDS = {"spend": N_("their direct spend"), "customers": N_("their new customers")}
SETTING_WORDS = {"demo_company": N_("Company name (demo)"), "currency": N_("Currency")}
"""Names for people of the store's other settings (the rest are written with spaces for underscores)."""


def assumption_value(name: str, value: Any) -> str:
    """One assumption's value as people read it: 70.0%, 36 months, 1x, 2x, 3x, 5x, April; an unset one
    (``None``, as the change log records a first change) is its default."""
    if value is None:
        if name not in LABELS:
            return _("not set")
        value = getattr(Assumptions(), name)
    try:
        if name in ("default_gross_margin", "annual_discount_rate"):
            return formats.percent(Decimal(str(value)))
        if name == "horizon_months":
            return formats.months(int(value))
        if name == "lag_quarters":
            quarters = int(value)
            return _("none") if quarters == 0 else ngettext("{quarters} quarter", "{quarters} quarters",
                                                             quarters).format(quarters=quarters)
        if name == "fiscal_year_start":
            month = int(value)
            if not 1 <= month <= 12:
                raise IndexError(month)
            return str(get_month_names("wide", locale=locale())[month]) if not formats.language_is_default() \
                else calendar.month_name[month]
        if name == "target_ratio":
            return formats.threshold(float(value))
        if name == "target_payback_months":
            return _("none") if int(value) == 0 else formats.months(int(value))
        if name == "reconcile_share":
            return formats.percent(Decimal(str(value)), places=2)
        if name == "reconcile_amount":
            amount = Decimal(str(value))
            return formats.count(int(amount)) if amount == amount.to_integral_value() else str(amount)
        if name == "band_edges":
            edges = value if isinstance(value, tuple | list) else str(value).replace(";", ",").split(",")
            return ", ".join(formats.threshold(float(e)) for e in edges)
    except (ValueError, InvalidOperation, IndexError):
        return str(value)  # a stored value that no longer parses: shown as it is
    if name == "allocation":
        return _(ALLOCATION_WORDS[str(value)]) if str(value) in ALLOCATION_WORDS else str(value)
    return str(value)


def assumption_texts(assumptions: Assumptions) -> list[tuple[str, str]]:
    """(label, value in words) for every assumption, in the order the page and the pack list them."""
    return [(_(label), assumption_value(name, getattr(assumptions, name))) for name, label in LABELS.items()]


def change_text(action: str, detail: str | None) -> str:
    """A change-log entry in words: 'Default gross margin: 70.0% -> 65.0%; Acquisition lag: none -> 1 quarter'."""
    try:
        parsed: Any = json.loads(detail) if detail else {}
    except ValueError:
        return str(detail)
    if not isinstance(parsed, Mapping):
        return str(detail)
    if action == "assumptions":
        parts = []
        for name, change in parsed.items():
            if isinstance(change, Mapping):
                label = _(LABELS[name]) if name in LABELS else name.replace("_", " ")
                parts.append(f"{label}: {assumption_value(name, change.get('from'))} → "
                             f"{assumption_value(name, change.get('to'))}")
        return formats.clauses(parts) or _("no change")
    if action == "currency" and "from" in parsed and "to" in parsed:
        rows = sum(int(n) for per_kind in (parsed.get("converted") or {}).values() if isinstance(per_kind, Mapping)
                   for n in per_kind.values() if isinstance(n, int))
        return ngettext("Reporting currency: {before} → {after} ({rows} row converted again)",
                        "Reporting currency: {before} → {after} ({rows} rows converted again)", rows).format(
            before=parsed["from"], after=parsed["to"], rows=formats.count(rows))
    if "key" in parsed and str(parsed["key"]).startswith("source."):
        return _source_text(str(parsed["key"]), parsed.get("to"))
    if "key" in parsed:
        key = str(parsed["key"])
        label = _(SETTING_WORDS[key]) if key in SETTING_WORDS else key.replace("_", " ").replace(".", ": ").capitalize()
        before = parsed.get("from")
        shown = _("not set") if before is None else before
        return f"{label}: {shown} → {parsed.get('to')}"
    return "; ".join(f"{str(k).replace('_', ' ')}: {v}" for k, v in parsed.items())


def _source_text(key: str, stored: Any) -> str:
    """A remembered source mapping in words: which file layout, and how much of it is mapped."""
    kind = key.split(".")[1] if key.count(".") >= 2 else "file"
    mapping = SourceMapping.from_json(kind, key, stored if isinstance(stored, str) else None)
    counted = []
    if mapping.columns:
        counted.append(ngettext("{count} column", "{count} columns", len(mapping.columns)))
    if mapping.categories:
        counted.append(ngettext("{count} category label", "{count} category labels", len(mapping.categories)))
    if mapping.channels:
        counted.append(ngettext("{count} channel value", "{count} channel values", len(mapping.channels)))
    sizes = [len(part) for part in (mapping.columns, mapping.categories, mapping.channels) if part]
    counted = [words.format(count=formats.count(size)) for words, size in zip(counted, sizes, strict=True)]
    kind_words = _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind
    name = (_("{kind} files laid out like {name}").format(kind=kind_words, name=mapping.name) if mapping.name
            else _("a layout of {kind} files").format(kind=kind_words))
    return _("How to read {files}: {mapped} mapped").format(files=name, mapped=", ".join(counted) or _("nothing"))


STORE_REFUSED = re.compile(r"the reporting currency stays (?P<before>\w+): (?P<missing>\d+) rate\(s\) missing to "
                           r"convert the stored amounts to (?P<after>\w+): (?P<detail>.*)", re.DOTALL)
"""The store's refusal of a reporting currency for want of rates (``finance.store.fx.set_reporting_currency``)."""


def currency_refusal(message: str) -> str:
    """Why the reporting currency was not changed, in words and Markdown-safe: the store's refusal for
    want of exchange rates in the language (the rows it names as the store wrote them), another as it is."""
    found = STORE_REFUSED.fullmatch(message)
    if found is None:
        return _("Nothing was changed: {reason}").format(reason=literal.markdown(message))
    missing = int(found["missing"])
    return ngettext("Nothing was changed: the reporting currency stays {before}, because {missing} exchange rate is "
                    "missing to convert the stored amounts to {after}: {detail}",
                    "Nothing was changed: the reporting currency stays {before}, because {missing} exchange rates "
                    "are missing to convert the stored amounts to {after}: {detail}", missing).format(
        before=found["before"], after=found["after"], missing=formats.count(missing),
        detail=literal.markdown(found["detail"]))


def import_history(log: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The store's import log as the Data page shows it: one line per import, every value in words
    (dates as 05 Dec 2026 14:05, in UTC, totals in the currency or as counts, nothing shown as None),
    its headers and words in the language being written in; file names and people as stored."""

    def when(moment: Any, who: Any, zone: str = " UTC") -> str:
        if moment is None:
            return ""
        written = f"{formats.day(moment)} {moment:%H:%M}{zone}"
        return _("{moment} by {person}").format(moment=written, person=who) if who else written

    def counted(total: Any, kind: str) -> str:
        number, written = int(total), formats.count(total)
        if kind == "customers":
            return ngettext("{count} customer", "{count} customers", number).format(count=written)
        if kind == "funnel":
            return ngettext("{count} lead", "{count} leads", number).format(count=written)
        return f"{written} {file_kind(kind).measure}"

    rows = []
    for rec in log.iter_rows(named=True):
        start, end = rec.get("period_start"), rec.get("period_end")
        total, kind = rec.get("total"), str(rec["kind"])
        status = rec.get("status")
        rows.append([
            f"#{rec['import_id']}", kind_name(kind),
            rec.get("file_name") or "", rec.get("row_count"),
            _("{start}\u2013{end}").format(start=formats.month(start), end=formats.month(end)) if start and end
            else "",  # an en dash
            # money in the currency; a count with what it counts (customers, leads)
            "" if total is None else (formats.money(total, currency) if kind in MONEY_KINDS else counted(total, kind)),
            when(rec.get("imported_at"), rec.get("imported_by"), zone=""),
            _("in force") if status == "active" else (
                _("undone {moment}").format(moment=when(rec.get("undone_at"), rec.get("undone_by")))
                if status == "undone" else str(status or "")),
        ])
    names = ["#", _("Kind"), _("File"), _("Rows"), _("Covers"), _("Total"), _("Imported (UTC)"), _("Status")]
    types = [pl.String, pl.String, pl.String, pl.Int64, pl.String, pl.String, pl.String, pl.String]
    return pl.DataFrame(rows, schema=dict(zip(names, types, strict=True)), orient="row")

