"""The shared sidebar: the view every page shows, kept in the URL, and the context each run hands the page.

The entry script draws it once per run (:func:`sidebar`); a page asks for the result (:func:`context`).
"""

from __future__ import annotations

import streamlit as st

from finance.app.auth import gate
from finance.app.context import Context
from finance.app.legacy_router import require_frame
from finance.app.loaders import (
    check_progress,
    load_dataset,
    load_metrics,
    model_check,
    prepare_db,
    readable_version,
    sentence,
)
from finance.app.views import BASIS_CHOICES, GRAIN_CHOICES, ViewState, map_range
from finance.domain import literal
from finance.ltv.base import METHODS
from finance.metrics.params import resolve
from finance.present.i18n import LANGUAGES, N_, _, known, set_language
from finance.store.database import StoreError, default_db_path

METHOD_LABELS = {"auto": N_("Recommended (per segment)"),
                 "formula": N_("Formula (ARPA x margin / churn)"), "cohort": N_("Cohort retention (sBG)"),
                 "bgnbd": N_("Purchase model (BG/NBD)")}
"""Each LTV method as the picker shows it (in English: ``_(METHOD_LABELS[m])`` where it is shown)."""
METHOD_HELP = N_("Recommended: for each segment, the model whose forecasts were closest in the back-test "
                 "(the LTV page's model check).")
WINDOW_LABELS = {None: N_("Each period"), 0: N_("Each period"), 3: N_("Trailing 3 months"),
                 6: N_("Trailing 6 months"), 12: N_("Trailing 12 months")}
GRAIN_LABELS = {"quarter": N_("Quarter"), "month": N_("Month")}
BASIS_LABELS = {"accrual": N_("Accrual"), "cash": N_("Cash")}
WINDOW_OPTIONS = (0, 3, 6, 12)  # 0 = each period alone (a select box cannot show None as a choice)


def _choices(path: str, version: tuple[int, ...], grain: str) -> tuple[tuple[str, ...], tuple[str, ...],
                                                                       tuple[str, ...]]:
    base = load_metrics(path, version, grain, None, None, "formula").rows
    periods = tuple(base.get_column("period_label").to_list()) if not base.is_empty() else ()
    channel_rows = load_metrics(path, version, grain, None, "channel", "formula").rows
    segment_rows = load_metrics(path, version, grain, None, "segment", "formula").rows
    channels = tuple(sorted(set(channel_rows.get_column("channel").drop_nulls().to_list()))) \
        if not channel_rows.is_empty() else ()
    segments = tuple(sorted(set(segment_rows.get_column("segment").drop_nulls().to_list()))) \
        if not segment_rows.is_empty() else ()
    return periods, channels, segments


def choose_language() -> str:
    """Set and return this run's language: the URL's (``?lang=fr``) when the URL says something new
    (a shared link, a pasted URL), else the session's choice, as :func:`sidebar` reads the rest of the view.

    Called before anything is drawn, so the page titles and the sidebar are in that language.
    """
    state = st.session_state
    asked = ViewState.from_query(st.query_params.to_dict())
    incoming = asked.to_query()
    if "view.loaded_from" not in state or (incoming and state.get("view.loaded_from") != incoming):
        code = asked.language
    else:
        code = known(state.get("view.language"))
    set_language(code)
    return code


def sidebar() -> Context:
    """Render the shared sidebar and return the page context; the URL mirrors every choice."""
    try:
        path = prepare_db(str(default_db_path()))
        version = readable_version(path)
        dataset, stored, demo = load_dataset(path, version)
    except StoreError as exc:  # busy with nothing read yet, or a file that cannot be opened
        st.error(literal.markdown(sentence(str(exc))))
        st.stop()
    assumptions = resolve(stored).assumptions
    requested = ViewState.from_query(st.query_params.to_dict())
    periods, channels, segments = _choices(path, version, requested.grain)
    view = requested.clamp(periods, channels, segments)
    state = st.session_state
    # Widgets start from the URL when it says something new (a shared link, a pasted URL), then
    # keep the user's choices. Switching pages clears the URL's query: that keeps the state, and
    # the query is written back below.
    incoming = view.to_query()
    fresh_session = "view.loaded_from" not in state
    if fresh_session or (incoming and state.get("view.loaded_from") != incoming):
        state["view.loaded_from"] = view.to_query()
        state["view.grain"] = view.grain
        state["view.window"] = view.window or 0
        state["view.method"] = view.method
        if periods:
            state["view.from"], state["view.to"] = view.period_range(periods)  # type: ignore[misc]
        state["view.channels"] = list(view.channels)
        state["view.segments"] = list(view.segments)
        state["view.sales"] = view.include_sales
        state["view.basis"] = view.basis or "accrual"
        state["view.language"] = view.language
    kept = (state.get("view.from"), state.get("view.to"))
    if periods and all(isinstance(p, str) for p in kept) and not all(p in periods for p in kept):
        # The periods were renamed under the pickers (the fiscal year changed): keep the same months.
        state["view.from"], state["view.to"] = (map_range((str(kept[0]), str(kept[1])), periods,
                                                          assumptions.fiscal_year_start) or (periods[0], periods[-1]))
    with st.sidebar:
        language = st.selectbox("Language · Langue · 言語", tuple(LANGUAGES), key="view.language",
                                format_func=LANGUAGES.__getitem__)
        st.header(_("View"))
        # each choice's words made now, in this run's language (a format function may be called later)
        grain_words = {g: _(GRAIN_LABELS[g]) for g in GRAIN_CHOICES}
        grain = st.segmented_control(_("Grain"), GRAIN_CHOICES, key="view.grain",
                                     format_func=grain_words.__getitem__) or "quarter"
        if grain != requested.grain:
            # The grain just changed: the pickers get the new grain's periods, and the range the
            # same months in them (the quarters containing the months chosen, or the reverse).
            shown = (state.get("view.from"), state.get("view.to"))
            previous = (str(shown[0]), str(shown[1])) if all(isinstance(p, str) for p in shown) \
                else view.period_range(periods)
            periods, channels, segments = _choices(path, version, grain)
            if periods:
                state["view.from"], state["view.to"] = (map_range(previous, periods, assumptions.fiscal_year_start)
                                                        or (periods[0], periods[-1]))
        start: str | None = None
        end: str | None = None
        if periods:
            pick = st.columns(2)
            start = pick[0].selectbox(_("From"), periods, key="view.from")
            end = pick[1].selectbox(_("To"), periods, key="view.to")
            if start and end and start > end:
                start, end = end, start
        window_words = {w: _(WINDOW_LABELS[w]) for w in WINDOW_OPTIONS}
        window = st.selectbox(_("Window"), WINDOW_OPTIONS, key="view.window",
                              format_func=window_words.__getitem__) or None
        method_words = {m: _(METHOD_LABELS[m]) for m in METHODS}
        method = st.selectbox(_("LTV method"), METHODS, key="view.method",
                              format_func=method_words.__getitem__, help=_(METHOD_HELP))
        chosen_channels = st.multiselect(_("Channels"), channels, key="view.channels",
                                         placeholder=_("All channels"))
        chosen_segments = st.multiselect(_("Segments"), segments, key="view.segments",
                                         placeholder=_("All segments"))
        include_sales = st.toggle(_("Include sales costs (S&M CAC)"), key="view.sales")
        service_periods = dataset.has_service_periods()
        basis = None
        if service_periods:
            basis_words = {b: _(BASIS_LABELS[b]) for b in BASIS_CHOICES}
            chosen_basis = st.segmented_control(
                _("Spend basis"), BASIS_CHOICES, key="view.basis", format_func=basis_words.__getitem__,
                help=_("Accrual: a cost with a service period (an annual contract, a deposit, a retainer) counts in "
                       "the months of the service. Cash: every cost counts in the period it was paid."))
            basis = "cash" if chosen_basis == "cash" else None
        if demo:
            st.caption(_("Demo data: {company}").format(company=literal.markdown(demo)))
    current = ViewState(grain=grain, period_from=start if start != (periods[0] if periods else None) else None,
                        period_to=end if end != (periods[-1] if periods else None) else None,
                        window=window, method=method, channels=tuple(chosen_channels),
                        segments=tuple(chosen_segments), include_sales=include_sales, basis=basis,
                        language=known(language))
    query = current.to_query()
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    state["view.loaded_from"] = query
    check, run = model_check(path, version) if periods else (None, None)
    if run is not None:
        with st.sidebar:
            check_progress(path, run)
    return Context(path, version, current, assumptions, demo, periods, channels, segments, check is not None,
                   service_periods)


def context() -> Context:
    """The context the entry script computed for this run."""
    require_frame()
    choose_language()
    if not st.session_state.pop("frame.ran", False):
        # A page run on its own (a cold server's first deep link, the test harness's reruns):
        # the entry script's gate did not run, so it runs here.
        gate()
    ctx = st.session_state.get("context")
    if ctx is None:
        ctx = sidebar()
        st.session_state["context"] = ctx
    return ctx  # type: ignore[no-any-return]
