"""The Planner page's session in the app layer: everything the page does besides drawing.

The planner's working state is one object (``finance.planning.session.PlanSession``, kept in
``st.session_state``); this module builds it from the session's state, turns the page's widget edits
into its transitions, reads and writes the saved scenarios, and makes the board pack of the plan on
the page. ``pages/planner.py`` reads what these return and draws it, with ``finance.app.plan_widgets``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
import streamlit as st

from finance.app.auth import current_actor
from finance.app.context import Context
from finance.app.loaders import load_pack, load_projection, read_store, writable_store
from finance.domain import literal
from finance.domain.schema import CATEGORIES
from finance.planning import plans as sc
from finance.planning.curves import PlanError
from finance.planning.session import PackPlan, PlanSession
from finance.present import phrases
from finance.present.i18n import _
from finance.store.dataset import SHARED

SESSION = "plan.session"
"""The session state's key of the working :class:`PlanSession`."""
SHARED_PERCENT = "plan.shared"
"""The shared-costs input's key: shared lines at this percentage of their entered amounts."""
FLASH = "plan.flash"
"""A note for the next run (a scenario saved), shown once."""


# --- the working plan ---------------------------------------------------------------------------

def saved_scenarios(path: str) -> pl.DataFrame:
    """The saved scenarios, one row each (``finance.planning.plans.list_scenarios``)."""
    with read_store(path) as store:
        return sc.list_scenarios(store)


def start_options(basis: sc.PlanningBasis, saved_names: Sequence[str]) -> dict[str, str]:
    """Where a working plan can start, each with its label: last quarter, the trailing average, a saved scenario."""
    return {"last_quarter": _("Last quarter's spend ({period})").format(period=basis.last_label),
            "trailing_average": _("Average quarter of the last four"),
            **{f"saved:{name}": _("Saved scenario: {name}").format(name=name) for name in saved_names}}


def working_session(ctx: Context, basis: sc.PlanningBasis, start: str) -> tuple[PlanSession, list[str]]:
    """This session's working plan, and a message for each result dropped because it no longer fits.

    The working plan is reloaded only when the user picks another start or a new quarter is planned,
    not whenever the database changes (saving a scenario must not throw away the edits): new data
    only recomputes the results on the new basis. The shared-costs input follows the plan.
    """
    state = st.session_state
    session: PlanSession | None = state.get(SESSION)
    messages: list[str] = []
    if session is None or session.start != start or session.period != basis.period:
        saved_as = None
        if start.startswith("saved:"):
            with read_store(ctx.path) as store:
                scenario = sc.load_scenario(store, start.removeprefix("saved:"))
            start_lines, saved_as = scenario.lines, (scenario.name, scenario.kind)
        else:
            start_lines = basis.starts[start]
        if session is None:
            session = state[SESSION] = PlanSession(basis, start_lines, start=start, saved_as=saved_as)
        else:
            session.load(basis, start_lines, start=start, saved_as=saved_as)
    else:
        messages = session.rebase(basis)
    if state.get(SHARED_PERCENT, 100.0) != session.shared_percent:  # a new start or an adopted plan: as entered
        state[SHARED_PERCENT] = session.shared_percent
    return session, messages


def shared_changed() -> None:
    """The shared-costs input's callback: the working plan's shared lines at the percentage entered."""
    st.session_state[SESSION].scale_shared(Decimal(str(st.session_state[SHARED_PERCENT])) / 100)


def shared_words() -> str:
    """The marker of lines with no channel (``finance.store.dataset.SHARED``) in the language."""
    return _("(shared)")


def editor_frame(lines: Sequence[sc.PlanLine]) -> pl.DataFrame:
    """The plan editor's table: channel and cost category (each its key and its words) and amount of each line.
    The keys are what the edited table is read back by (``edit``); the words are what the editor shows."""
    return pl.DataFrame({
        "channel": [ln.channel for ln in lines],
        "channel_shown": [shared_words() if ln.channel == SHARED else ln.channel for ln in lines],
        "category": [ln.category for ln in lines],
        "category_label": [_(CATEGORIES[ln.category].label) for ln in lines],
        "amount": [float(ln.amount) for ln in lines],
    }, schema={"channel": pl.String, "channel_shown": pl.String, "category": pl.String, "category_label": pl.String,
               "amount": pl.Float64})


def edit(session: PlanSession, edited: Any) -> None:
    """The plan editor's table, amounts to the cent, as the working plan (PlanError names bad lines)."""
    session.edit(sc.lines_from_frame(pl.DataFrame(edited).with_columns(pl.col("amount").round(2).cast(pl.String))))


def projected(ctx: Context, lines: Sequence[sc.PlanLine], name: str) -> sc.Projection:
    """The plan's projection, cached per data version, LTV method and lines."""
    return load_projection(ctx.path, ctx.version, ctx.view.method, tuple(lines), name, False, ctx.checked)


# --- optimise -----------------------------------------------------------------------------------

def bounds_frame(session: PlanSession) -> pl.DataFrame:
    """The bounds editor's table: each channel's default minimum and maximum for the working plan, unlocked."""
    basis = session.basis
    low, high = sc.default_bounds(basis, session.working)
    return pl.DataFrame({"channel": list(basis.channels),
                         "minimum": [round(low[c], 2) for c in basis.channels],
                         "maximum": [round(high[c], 2) for c in basis.channels],
                         "locked": [False] * len(basis.channels)})


def optimise(session: PlanSession, total: float, bounds_edit: pl.DataFrame) -> None:
    """Optimise the split of ``total`` within the bounds as edited (PlanError if no split fits)."""
    bounds = sc.Bounds(
        minimum=dict(zip(bounds_edit["channel"], bounds_edit["minimum"].fill_null(0.0), strict=True)),
        maximum=dict(zip(bounds_edit["channel"], bounds_edit["maximum"].fill_null(float("inf")), strict=True)),
        locked=tuple(bounds_edit.filter(pl.col("locked"))["channel"]))
    session.optimise(Decimal(str(round(total, 2))), bounds)


# --- scenarios ----------------------------------------------------------------------------------

def save_scenario(ctx: Context, session: PlanSession, name: str, kind: str, note: str, overwrite: bool) -> None:
    """Save the working plan as scenario ``name`` (an editor's change; PlanError or StoreError if refused)
    and leave a note for the next run."""
    settings = {"start": session.start, "shared_pct": st.session_state[SHARED_PERCENT]}
    with writable_store(ctx.path, "saving a scenario") as store:
        saved = sc.save_scenario(store, sc.Scenario(name, session.period, kind, note, session.working, settings),
                                 overwrite=overwrite)
    session.mark_saved(saved.name, saved.kind)
    st.session_state[FLASH] = _("Saved '{name}'.").format(name=literal.markdown(" ".join(name.split())))


def flash() -> str | None:
    """The note left for this run, once."""
    return st.session_state.pop(FLASH, None)  # type: ignore[no-any-return]


def delete_scenario(ctx: Context, name: str) -> None:
    """Delete saved scenario ``name`` (an editor's change; PlanError or StoreError if refused)."""
    with writable_store(ctx.path, "deleting a scenario") as store:
        sc.delete_scenario(store, name)


def candidates(ctx: Context, session: PlanSession, baseline: sc.Projection,
               plan: sc.Projection) -> dict[str, sc.Projection]:
    """The plans to compare besides the saved ones: the baseline, the working plan and its optimised split
    (the session's: the last optimise of this working plan, else the default split)."""
    return {baseline.name: baseline, plan.name: plan,
            _("Optimised split"): projected(ctx, session.optimised_lines(), _("Optimised split"))}


def compared(ctx: Context, shown: Mapping[str, sc.Projection],
             chosen: Sequence[str]) -> tuple[list[sc.Projection], list[str]]:
    """The projections of the plans ``chosen`` (of ``shown``, else saved scenarios), and a note for each
    saved one that cannot be projected on this basis."""
    projections, problems = [], []
    for label in chosen:
        if label in shown:
            projections.append(shown[label])
            continue
        with read_store(ctx.path) as store:
            scenario = sc.load_scenario(store, label)
        try:
            projections.append(projected(ctx, scenario.lines, label))
        except PlanError as exc:
            problems.append(f"{literal.markdown(label)}: {literal.markdown(phrases.text(exc))}")
    return projections, problems


# --- the board pack -----------------------------------------------------------------------------

def pack_request(session: PlanSession, picked: str | None) -> PackPlan | None:
    """The pack's budget request: ``""`` is the working plan on the page with its optimised split (no saved
    scenario has an empty name); otherwise the pack reads the saved scenario ``picked`` itself."""
    return session.pack_plan() if picked == "" else None


PACK_SECONDS = {"pdf": 12.0, "xlsx": 3.0}
"""How long a board pack takes to make, until one has been made here: the last one's time is used after."""


def pack_estimate(kind: str) -> float:
    """About how long the next board pack of ``kind`` takes: the last one made by this server, else a
    typical time on a small machine."""
    return PACK_SECONDS[kind]


def prepare_pack(ctx: Context, picked: str | None, request: PackPlan | None, kind: str,
                 say: Callable[[str], object] = lambda _words: None) -> float:
    """Render the board pack (``kind``: pdf or xlsx) of this request and data version, through one cached
    loader, saying each step through ``say``; returns the seconds it took (the next estimate)."""
    from finance.present import report  # rendering pulls in the PDF toolchain: import it only here

    began = time.perf_counter()
    actor = current_actor()
    by = (actor.email or actor.name) if actor is not None else None
    say(_("Gathering the figures, the plan and its projection..."))
    pack = load_pack(ctx.path, ctx.version, ctx.view.method, request, picked or None, ctx.checked, by,
                     ctx.view.language)
    say(_("Drawing the charts and laying out the pages in Chromium...") if kind == "pdf" else
        _("Writing the sheets..."))
    st.session_state[f"plan.pack.{kind}.bytes"] = report.to_pdf(pack) if kind == "pdf" else report.to_xlsx(pack)
    st.session_state[f"plan.pack.{kind}.stamp"] = (picked, ctx.version, request, ctx.view.language)
    taken = time.perf_counter() - began
    PACK_SECONDS[kind] = taken
    return taken


def prepared_pack(ctx: Context, picked: str | None, request: PackPlan | None, kind: str) -> bytes | None:
    """The board pack file made for this very plan, request and data version, if any: one made for
    another is not offered for download."""
    state = st.session_state
    if f"plan.pack.{kind}.bytes" in state and state.get(f"plan.pack.{kind}.stamp") == (picked, ctx.version, request,
                                                                                     ctx.view.language):
        return state[f"plan.pack.{kind}.bytes"]  # type: ignore[no-any-return]
    return None
