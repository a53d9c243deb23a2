"""Publishing the board pack, and what has changed since a pack was published.

``publish`` renders the pack (``finance.present.report``) as PDF and XLSX and stores both with a manifest
(``finance.store.packs``): the figures the pack showed, at the precision it showed them; the imports in force
(ids, files, hashes, periods); the assumptions; the method, request and spend basis; who published it and when.
The stored files are what every later download returns, byte for byte.

``diff`` computes the same figures from the data as it is now and names each one that moved, by how much, and
the import or assumption change since publication that can account for it: a figure of spend or CAC moves with
the spend imports of its quarter and the allocation and lag assumptions; new customers with the customer
imports; LTV with the revenue and customer imports and the margin, discount and horizon; the ratios, payback and
ROI with both. A figure that moved with none of them moved with the model check (its LTV models re-fitted).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finance.domain.assumptions import LABELS, Assumptions
from finance.domain.money import money_text
from finance.domain.periods import add_quarters
from finance.ltv import backtest
from finance.ltv.base import Method
from finance.metrics import measures
from finance.metrics.params import resolve
from finance.present import formats, report
from finance.present.i18n import _
from finance.store import packs
from finance.store.database import Store, StoreError

FIGURES = ("spend", "new_customers", "cac", "cac_sm", "ltv", "ltv_cac", "payback_months", "roi")
"""The figures a manifest keeps for each quarter up to the pack's."""
CHANNEL_FIGURES = ("spend", "new_customers", "cac", "ltv", "ltv_cac")
"""The figures it keeps for each channel in the pack's quarter."""

_DRIVERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "spend": (frozenset({"spend"}), frozenset({"allocation", "lag_quarters", "fiscal_year_start"})),
    "new_customers": (frozenset({"customers", "revenue"}), frozenset({"fiscal_year_start"})),
    "ltv": (frozenset({"revenue", "customers"}),
            frozenset({"default_gross_margin", "annual_discount_rate", "horizon_months", "fiscal_year_start"})),
}
_DRIVERS["cac"] = _DRIVERS["cac_sm"] = (_DRIVERS["spend"][0] | _DRIVERS["new_customers"][0],
                                        _DRIVERS["spend"][1] | _DRIVERS["new_customers"][1])
_DRIVERS["ltv_cac"] = _DRIVERS["payback_months"] = _DRIVERS["roi"] = (
    _DRIVERS["cac"][0] | _DRIVERS["ltv"][0], _DRIVERS["cac"][1] | _DRIVERS["ltv"][1])
"""Per figure: the import kinds and the assumptions it is computed from."""
MAX_PUT_BACK = 4
"""Assumption changes ``diff`` puts back one at a time to see what each moved (each is a recomputation)."""
_DATED = frozenset({"spend", "customers", "funnel"})
"""Import kinds that move a quarter's figures only when they cover it (revenue moves every cohort's LTV)."""


def written(measure: str, value: Any) -> str | None:
    """A figure as the pack shows it, as exact text: money to the cent, ratios to 0.01x, payback to 0.1 month,
    ROI to 0.1%; None when unknown."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    unit = measures.unit(measure)
    if unit == "money":
        return money_text(value)
    if unit == "count":
        return str(int(value))
    if unit == "fraction":
        return f"{Decimal(str(value)) * 100:.1f}"
    return f"{float(value):.1f}" if measure == "payback_months" else f"{float(value):.2f}"


def figures(quarterly: pl.DataFrame, by_channel: pl.DataFrame, period: str) -> dict[str, Any]:
    """The figures of a pack: each quarter's up to ``period`` (with its first and last day), and each channel's in
    ``period``, as ``written``."""
    quarters = {}
    for row in quarterly.sort("period").iter_rows(named=True):
        start = row["period"]
        end = add_quarters(start, 1) - timedelta(days=1)
        quarters[row["period_label"]] = {"start": start.isoformat(), "end": end.isoformat(),
                                         **{m: written(m, row.get(m)) for m in FIGURES}}
    channels = {str(row["channel"]): {m: written(m, row.get(m)) for m in CHANNEL_FIGURES}
                for row in by_channel.filter(pl.col("period_label") == period).iter_rows(named=True)
                if row["channel"] is not None}
    return {"quarters": quarters, "channels": channels}


def _imports(frame: pl.DataFrame) -> list[dict[str, Any]]:
    active = frame.filter(pl.col("status") == "active").sort("import_id")
    return [{"import_id": r["import_id"], "kind": r["kind"], "file_name": r["file_name"], "sha256": r["sha256"],
             "rows": r["row_count"], "period_start": r["period_start"].isoformat(),
             "period_end": r["period_end"].isoformat(), "imported_at": r["imported_at"].isoformat(sep=" "),
             "imported_by": r["imported_by"]} for r in active.iter_rows(named=True)]


def state(path: Path | str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The imports in force and the assumptions (every one, defaults included) as a manifest keeps them: read
    before a pack is made, so ``store`` can tell when they changed while it was being made."""
    with Store(path, read_only=True) as store:
        return _state(store)


def _state(store: Store) -> tuple[list[dict[str, Any]], dict[str, str]]:
    return _imports(store.imports()), resolve(store.assumptions()).assumptions.to_settings()


def publish(path: Path | str, *, period: str | None = None, scenario: str | None = None, method: Method = "auto",
            user: str | None = None) -> packs.Pack:
    """Make the pack of ``period`` (as ``report.gather`` chooses it), render both files, and store them with
    their manifest (``store``). Whatever ``gather`` and the renderers raise, nothing is stored."""
    before = state(path)
    pack = report.gather(path, period=period, scenario=scenario, method=method, prepared_by=user)
    return store(path, pack, report.to_pdf(pack), report.to_xlsx(pack), before, method=method, scenario=scenario,
                 user=user)


def store(path: Path | str, pack: report.BoardPack, pdf: bytes, xlsx: bytes,
          before: tuple[list[dict[str, Any]], dict[str, str]], *, method: Method = "auto", scenario: str | None = None,
          user: str | None = None) -> packs.Pack:
    """Store ``pack``'s rendered files as published, with its manifest. ``before``: the ``state`` read before the
    pack was made; ``StoreError`` when the data or assumptions changed since (it is not published: publish
    again)."""
    with Store(path, user=user) as opened:
        imports, assumptions = _state(opened)
        if (imports, assumptions) != before:
            raise StoreError("the data or the assumptions changed while the pack was being made, so it was not "
                             "published: publish it again")
        manifest = {
            "period": pack.period, "company": pack.company, "currency": pack.currency, "method": method,
            "scenario": scenario, "request": pack.request.name, "request_source": pack.request_source,
            "spend_basis": pack.spend_basis, "as_of": pack.as_of.isoformat(),
            "prepared_on": pack.prepared_on.isoformat(), "prepared_by": user, "data_version": pack.data_version,
            "figures": figures(pack.quarterly, pack.by_channel, pack.period),
            "imports": imports, "assumptions": assumptions,
            "files": {"pdf": {"bytes": len(pdf), "sha256": packs.sha256(pdf)},
                      "xlsx": {"bytes": len(xlsx), "sha256": packs.sha256(xlsx)}},
        }
        return packs.publish(opened, pack.period, manifest, pdf, xlsx, user)


# ---------------------------------------------------------------------------------------------
# What changed since
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """An import added or undone, or an assumption changed, since a pack was published."""

    key: str
    """``import 7`` or ``assumption default_gross_margin``: what a moved figure names."""
    action: str
    """``added`` or ``undone`` (an import), ``changed`` (an assumption)."""
    kind: str | None = None
    """The import's kind; None for an assumption."""
    start: date | None = None
    end: date | None = None
    assumption: str | None = None
    number: int | None = None
    file_name: str | None = None
    before: str | None = None
    after: str | None = None
    who: str | None = None
    when: date | None = None

    @property
    def label(self) -> str:
        """What a moved figure names it by: ``import #7``, or the assumption's key."""
        if self.assumption is not None:
            return _(LABELS[self.assumption]) if self.assumption in LABELS else self.assumption
        return _("import #{number}").format(number=self.number)

    @property
    def text(self) -> str:
        """The change in words, in the language (names from the data as they are: the caller escapes them)."""
        by = _(" by {who} on {when}").format(who=self.who or _("unknown"), when=formats.day(self.when)) \
            if self.when is not None else ""
        if self.assumption is not None:
            return _("assumption {name} changed from {before} to {after}").format(
                name=self.assumption, before=self.before, after=self.after) + by
        words = (_("import #{number} ({kind}, {file}, {start} to {end}) added") if self.action == "added" else
                 _("import #{number} ({kind}, {file}, {start} to {end}) undone or replaced"))
        return words.format(number=self.number, kind=self.kind, file=self.file_name, start=formats.day(self.start),
                            end=formats.day(self.end)) + by

    def explains(self, measure: str, start: date, end: date) -> bool:
        """Whether this change can move ``measure`` of the quarter ``start``..``end``."""
        kinds, keys = _DRIVERS[measure]
        if self.assumption is not None:
            return self.assumption in keys
        if self.kind not in kinds:
            return False
        if self.kind in _DATED and self.start is not None and self.end is not None:
            return self.start <= end and self.end >= start
        return True


@dataclass(frozen=True)
class Moved:
    """A figure of the pack that reads otherwise now: its quarter, channel (None: all), measure, the text it had
    and has (None: unknown), and the changes that can account for it."""

    period: str
    channel: str | None
    measure: str
    before: str | None
    after: str | None
    causes: tuple[str, ...]

    @property
    def change(self) -> Decimal | None:
        if self.before is None or self.after is None:
            return None
        return Decimal(self.after) - Decimal(self.before)


@dataclass(frozen=True)
class PackDiff:
    """What changed since pack ``pack_id`` (of ``period``) was published."""

    pack_id: int
    period: str
    published_at: datetime
    published_by: str | None
    currency: str
    moved: tuple[Moved, ...]
    causes: tuple[Cause, ...]
    moves: Mapping[str, set[FigureKey]] | None = None
    """Per assumption put back to find what it moved (``diff``): the figures it moved."""

    @property
    def changed(self) -> bool:
        return bool(self.moved)

    def moves_nothing(self, cause: Cause) -> bool:
        """Whether ``cause`` moved none of the pack's figures (an assumption put back that changes none, or an
        import no moved figure is put down to)."""
        if self.moves is not None and cause.key in self.moves:
            return not self.moves[cause.key]
        return not any(cause.key in m.causes for m in self.moved)


def causes(manifest: Mapping[str, Any], imports: pl.DataFrame, assumptions: Mapping[str, str],
           changes: pl.DataFrame) -> tuple[Cause, ...]:
    """The imports added and undone, and the assumptions changed, since the pack of ``manifest``: from the
    imports log, the assumptions now, and the change log (who changed an assumption, and when)."""
    then = {int(i["import_id"]): i for i in manifest["imports"]}
    now = {int(r["import_id"]): r for r in imports.filter(pl.col("status") == "active").iter_rows(named=True)}
    out = []
    for number in sorted(set(now) - set(then)):
        r = now[number]
        out.append(Cause(f"import {number}", "added", r["kind"], r["period_start"], r["period_end"], number=number,
                         file_name=r["file_name"], who=r["imported_by"], when=r["imported_at"].date()))
    for number in sorted(set(then) - set(now)):
        i = then[number]
        out.append(Cause(f"import {number}", "undone", i["kind"], date.fromisoformat(i["period_start"]),
                         date.fromisoformat(i["period_end"]), number=number, file_name=i["file_name"]))
    published = manifest.get("published_at")
    for key in sorted(set(assumptions) | set(manifest["assumptions"])):
        before, after = manifest["assumptions"].get(key), assumptions.get(key)
        if before == after:
            continue
        who, when = _who_changed(changes, key, published)
        out.append(Cause(f"assumption {key}", "changed", assumption=key, before=before, after=after, who=who,
                         when=when))
    return tuple(out)


def _who_changed(changes: pl.DataFrame, key: str, since: str | None) -> tuple[str | None, date | None]:
    """Who last changed assumption ``key`` after ``since``, and on which day (UTC), from the change log."""
    for at, by, detail in changes.select("changed_at", "changed_by", "detail").iter_rows():
        if since is not None and at.isoformat(sep=" ") < since:
            continue
        if key in json.loads(detail):
            return by, at.date()
    return None, None


FigureKey = tuple[str, str | None, str]
"""A figure of a pack: its quarter, channel (None: all channels) and measure."""


def figure_values(figs: Mapping[str, Any], period: str) -> dict[FigureKey, str | None]:
    """``figures`` flat: each figure's key and text."""
    out: dict[FigureKey, str | None] = {}
    for label, values in figs["quarters"].items():
        out.update({(label, None, m): values.get(m) for m in FIGURES})
    for channel, values in figs["channels"].items():
        out.update({(period, channel, m): values.get(m) for m in CHANNEL_FIGURES})
    return out


def compare(manifest: Mapping[str, Any], now: Mapping[str, Any], found: Iterable[Cause],
            moves: Mapping[str, set[FigureKey]] | None = None) -> tuple[Moved, ...]:
    """Every figure of ``manifest`` that reads otherwise in ``now`` (``figures``), with the causes that can move
    it; ``moves``: for a cause tried by putting it back (an assumption), the figures that doing so changes, so it
    is named only for those."""
    found = tuple(found)
    tried = moves or {}

    def why(key: FigureKey, start: date, end: date) -> tuple[str, ...]:
        return tuple(c.key for c in found if c.explains(key[2], start, end)
                     and (c.key not in tried or key in tried[c.key]))

    moved = []
    then_quarters, now_quarters = manifest["figures"]["quarters"], now["quarters"]
    for label, before in then_quarters.items():
        after = now_quarters.get(label, {})
        start, end = date.fromisoformat(before["start"]), date.fromisoformat(before["end"])
        for measure in FIGURES:
            if before.get(measure) != after.get(measure):
                moved.append(Moved(label, None, measure, before.get(measure), after.get(measure),
                                   why((label, None, measure), start, end)))
    quarter = then_quarters[manifest["period"]]
    start, end = date.fromisoformat(quarter["start"]), date.fromisoformat(quarter["end"])
    then_channels, now_channels = manifest["figures"]["channels"], now["channels"]
    for channel in sorted(set(then_channels) | set(now_channels)):
        before, after = then_channels.get(channel, {}), now_channels.get(channel, {})
        for measure in CHANNEL_FIGURES:
            if before.get(measure) != after.get(measure):
                moved.append(Moved(manifest["period"], channel, measure, before.get(measure), after.get(measure),
                                   why((manifest["period"], channel, measure), start, end)))
    return tuple(moved)


def current_figures(data: Any, assumptions: Assumptions, method: Method, check: Any, period: str) -> dict[str, Any]:
    """The figures of a pack of ``period`` made from ``data`` now (none when it has no such quarter any more)."""
    try:
        _pooled, _quarters, chosen, _start, quarterly, by_channel = report.metric_frames(
            data, assumptions, method, check, period)
    except ValueError:
        return {"quarters": {}, "channels": {}}
    return figures(quarterly, by_channel, chosen)


def diff(path: Path | str, pack_id: int | None = None) -> PackDiff:
    """What changed since pack ``pack_id`` (default: the latest) was published, from the store as it is now."""
    with Store(path, read_only=True) as store:
        pack = packs.get(store, pack_id) if pack_id is not None else packs.latest(store)
        if pack is None:
            raise StoreError("no pack is published yet (python -m finance report --publish)")
        data, stored, imports = store.dataset(), store.assumptions(), store.imports()
        changes = store.changes(actions=["assumptions"])
    manifest = {**pack.manifest, "published_at": pack.published_at.isoformat(sep=" ")}
    resolved = resolve(stored)
    assumptions = resolved.assumptions
    check = backtest.stored_or_run(Path(path), imports, data, resolved.params.ltv)
    now = current_figures(data, assumptions, manifest["method"], check, pack.period)
    settings = assumptions.to_settings()
    found = causes(manifest, imports, settings, changes)
    # Each assumption changed since is put back alone: the figures that then read otherwise are the ones it moved.
    moves: dict[str, set[FigureKey]] = {}
    changed = [c for c in found if c.assumption is not None and c.assumption in manifest["assumptions"]]
    if len(changed) <= MAX_PUT_BACK:
        values = figure_values(now, pack.period)
        for cause in changed:
            key = str(cause.assumption)
            back = Assumptions.from_settings({**settings, key: manifest["assumptions"][key]})
            other = figure_values(current_figures(data, back, manifest["method"], check, pack.period), pack.period)
            moves[cause.key] = {k for k, v in values.items() if other.get(k) != v}
    return PackDiff(pack.pack_id, pack.period, pack.published_at, pack.published_by, manifest["currency"],
                    compare(manifest, now, found, moves), found, moves)


def shown(measure: str, text: str | None, currency: str) -> str:
    """A manifest figure for people, in the language: money in the currency, 3.04x, 7.3 months, 41.2%."""
    if text is None:
        return formats.na()
    unit = measures.unit(measure)
    if unit == "money":
        return formats.money(Decimal(text), currency)
    if unit == "count":
        return formats.count(int(text))
    if unit == "fraction":
        return formats.percent(Decimal(text) / 100)
    return formats.months(Decimal(text)) if measure == "payback_months" else formats.ratio(Decimal(text))


def write_file(pack: packs.Pack, kind: str, out: Path) -> int:
    """Write a published pack's PDF or XLSX to ``out`` exactly as stored (atomically); its size."""
    data = pack.pdf if kind == "pdf" else pack.xlsx
    out = Path(out)
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".part", delete=False) as f:
        f.write(data)
        temp = Path(f.name)
    temp.chmod(0o644)
    temp.replace(out)
    return len(data)
