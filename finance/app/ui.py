"""Streamlit glue shared by the entry script and the pages: the store, caches, the sidebar.

Caches are keyed by simple values (the database file's version, the view's fields) and
bounded. Nothing here computes a metric: it calls the core and hands frames to the charts.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from finance.app.views import GRAIN_CHOICES, ViewState, map_range
from finance.demo import build_demo_db
from finance.domain import literal
from finance.domain.access import (
    LOCAL,
    LOOPBACK_HOSTS,
    AccessConfigError,
    AccessPolicy,
    Actor,
    Decision,
    decide,
    host_allowed,
)
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest
from finance.ltv.base import METHODS, LTVResult, cohort_margin_matrix
from finance.metrics import measures
from finance.metrics.params import metric_params, resolve
from finance.metrics.table import MetricsResult, compute, on_cac_basis, rollup
from finance.planning.plans import PlanLine, PlanningBasis, Projection, optimise, planning_basis, project
from finance.planning.session import PackPlan
from finance.present import exports, formats
from finance.store.database import DEMO_SETTING, ENV_DB, Store, StoreBusy, StoreError, default_db_path
from finance.store.dataset import Dataset, default_as_of

ChartSource = Literal["rows", "costed", "cohorts"]
"""What a chart draws: the view's metric rows, those whose CAC is known, or the cohort matrix."""

METHOD_LABELS = {"auto": "Recommended (best back-tested model per segment)",
                 "formula": "Formula (ARPA x margin / churn)", "cohort": "Cohort retention (sBG)",
                 "bgnbd": "Purchase model (BG/NBD)"}
WINDOW_LABELS = {None: "Each period", 0: "Each period", 3: "Trailing 3 months", 6: "Trailing 6 months",
                 12: "Trailing 12 months"}
WINDOW_OPTIONS = (0, 3, 6, 12)  # 0 = each period alone (a select box cannot show None as a choice)


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def auth_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (OpenID Connect sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


def _header(name: str) -> str | None:
    """A header of the request that opened this session (None under AppTest, which has none)."""
    try:
        value = st.context.headers.get(name)
    except Exception:  # no request behind this run (a bare script)
        return None
    return value if isinstance(value, str) else None


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case and the rest exactly as written (paths keep their case)."""
    return text[:1].upper() + text[1:]


def _is_loopback(address: str | None) -> bool:
    if address is None:
        return False
    if address in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def current_actor() -> Actor | None:
    """The session's user from the server's own state (``st.user``), never from anything the browser
    sends: the local user when sign-in is not configured, None when not let in."""
    if not auth_configured():
        return LOCAL
    try:
        return _decision().actor
    except AccessConfigError:
        return None


def can_edit() -> bool:
    """Whether to draw the controls that change data (each change checks again: ``require_editor``)."""
    actor = current_actor()
    return actor is not None and actor.can_edit


def _decision() -> Decision:
    """The signed-in user's role from ``[access]`` and their token's claims (AccessConfigError if misconfigured)."""
    return decide(st.user.to_dict(), AccessPolicy.from_config(st.secrets.get("access")), time.time())


def gate() -> Actor:
    """Let the session in, or show why not and stop the run. Called before any page runs.

    - No sign-in configured: the app serves this computer only. It refuses to show anything
      when the server listens beyond localhost or the browser connects from another address,
      and says on every page that it is unauthenticated.
    - Sign-in configured: a signed-out session sees only the sign-in button; an expired token
      signs the session out; a user with no role, or a wrong ``[access]`` section, is refused.
    """
    if st.get_option("server.trustedUserHeaders"):
        st.error("server.trustedUserHeaders is set: identities taken from request headers can be forged, so "
                 "this dashboard refuses to run. Remove it and use sign-in (.streamlit/secrets.example.toml).")
        st.stop()
    if not auth_configured():
        host = _header("host")
        if host is not None and not host_allowed(host, LOOPBACK_HOSTS):
            # behind finance/app/server.py this never runs: the server refuses the request first
            st.error("This dashboard answers only to localhost, 127.0.0.1 and [::1] while sign-in is not "
                     "configured; open it by one of those names.")
            st.stop()
        bound = st.get_option("server.address")
        client = st.context.ip_address  # None for a loopback peer; a string otherwise (not a str under AppTest)
        if not _is_loopback(bound) or (isinstance(client, str) and not _is_loopback(client)):
            st.error("Sign-in is not configured, so this dashboard only serves the computer it runs on. "
                     f"It is listening on {bound or 'every network address'}: start it with "
                     "`--server.address localhost`, or configure sign-in (see .streamlit/secrets.example.toml).")
            st.stop()
        st.sidebar.warning("Unauthenticated: sign-in is not configured. This dashboard serves this computer "
                           "only, and anyone using it can change the data.", icon=":material/lock_open:")
        return LOCAL
    try:
        decision = _decision()
    except AccessConfigError as exc:
        st.error(f"Access is misconfigured, so nobody is let in: {literal.markdown(exc)}. Fix .streamlit/secrets.toml "
                 "(see .streamlit/secrets.example.toml).")
        st.stop()
    if decision.outcome == "expired":
        st.logout()
        st.stop()
    if decision.actor is None:
        st.title("LTV:CAC dashboard")
        st.markdown(literal.markdown(decision.message))
        if decision.outcome == "signed_out":
            providers = [key for key, value in st.secrets["auth"].items() if isinstance(value, Mapping)]
            for provider in providers or [None]:
                label = f"Sign in with {provider}" if provider else "Sign in"
                if st.button(label, type="primary", key=f"auth.login.{provider or 'default'}"):
                    if provider:
                        st.login(provider)
                    else:
                        st.login()
        elif st.button("Sign out", key="auth.logout"):
            st.logout()
        st.stop()
    actor = decision.actor
    with st.sidebar:
        st.caption(f"Signed in as **{literal.markdown(actor.name)}** ({literal.markdown(actor.email or 'no e-mail')}), "
                   f"{actor.role}.")
        if st.button("Sign out", key="auth.logout"):
            st.logout()
    return actor


def require_editor(action: str) -> Actor:
    """The signed-in editor, checked again on the server right before a change; anyone else gets
    an error and the run stops, whatever the browser sent (a hidden button, a crafted message)."""
    actor = current_actor()
    if actor is None or not actor.can_edit:
        who = f"{literal.markdown(actor.name)} is a viewer" if actor else "you are not signed in"
        st.error(f"Not allowed: {action} needs the editor role, and {who}. Nothing was changed.")
        st.stop()
    return actor


@contextmanager
def writable_store(path: str, action: str) -> Iterator[Store]:
    """The only way a page opens the store for writing: an editor's, recorded as theirs."""
    actor = require_editor(action)
    with Store(path, user=actor.audit_name) as store:
        yield store


@contextmanager
def read_store(path: str) -> Iterator[Store]:
    """A page's own read of the store. While a long import holds the file, the page says so and
    stops (after ``READ_WAIT`` seconds) instead of failing."""
    try:
        store = Store(path, read_only=True, busy_timeout=READ_WAIT)
    except StoreBusy as exc:
        st.warning(f"{literal.markdown(sentence(str(exc)))}.", icon=":material/hourglass_top:")
        st.stop()
    with store:
        yield store


def show_store_error(exc: StoreError) -> None:
    st.error(f"Nothing was changed: {literal.markdown(exc)}")


@st.cache_resource(max_entries=4)
def prepare_db(path: str) -> str:
    """On first run build the demo company's database (the embedded default).

    A database named by $FINANCE_DB is the user's own: created empty, never filled with demo data.
    """
    if ENV_DB not in os.environ:
        build_demo_db(Path(path))
    elif not os.path.exists(path):
        Store(path).close()
    return path


def db_version(path: str) -> tuple[int, int, int, int]:
    """Changes whenever the database changes (the file or its write-ahead log)."""
    stats = []
    for name in (path, path + ".wal"):
        try:
            info = os.stat(name)
            stats += [info.st_mtime_ns, info.st_size]
        except FileNotFoundError:
            stats += [0, 0]
    return tuple(stats)  # type: ignore[return-value]


READ_WAIT = 3.0
"""Seconds a page waits for a writer to finish before it shows the figures as they were."""
_last_read: dict[str, tuple[int, ...]] = {}  # one entry per database path


@st.cache_resource(max_entries=2, ttl=3600)
def load_dataset(path: str, version: tuple[int, ...]) -> tuple[Dataset, dict[str, str], str | None]:
    """The rows in force, the stored assumptions and the demo marker (one read per version)."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return store.dataset(), store.assumptions(), store.setting(DEMO_SETTING)


def readable_version(path: str) -> tuple[int, ...]:
    """The database version to show: the current one, or while a long import holds the file, the
    last one this server read (each change is one transaction, so that is a whole state)."""
    version = db_version(path)
    try:
        load_dataset(path, version)
    except StoreBusy:
        previous = _last_read.get(path)
        if previous is None:
            raise
        st.info("An import is being written to the database; these are the figures from before it. "
                "Refresh in a moment to see it.", icon=":material/hourglass_top:")
        return previous
    _last_read[path] = version
    return version


@dataclass
class CheckRun:
    """A model check being computed for one data version, in its own process."""

    key: str
    process: subprocess.Popen[bytes]
    progress: Path
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: bool = False

    def poll(self) -> CheckRun:
        """Read the progress the process writes, and whether it has ended."""
        try:
            done, total = (int(v) for v in self.progress.read_text().split()[:2])
            self.done, self.total = done, total
        except (OSError, ValueError):
            pass
        code = self.process.poll()
        if code is not None and not self.finished:
            self.finished = True
            if code != 0:
                message = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                self.error = message.strip().splitlines()[-1] if message.strip() else f"exit code {code}"
        return self


_check_runs: dict[str, CheckRun] = {}  # database path -> its newest check run
_check_lock = threading.Lock()


@st.cache_resource(max_entries=4, ttl=3600)
def _check_key(path: str, version: tuple[int, ...]) -> str:
    """The model check's key for this data version (imports in force, as-of, settings)."""
    data, stored, _ = load_dataset(path, version)
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        imports = store.imports()
    settings = resolve(stored).params.ltv
    return backtest.fingerprint(imports, settings, default_as_of(data))


_loaded_checks: dict[tuple[str, str], backtest.ModelCheck] = {}


def _stored_check(path: str, key: str) -> backtest.ModelCheck | None:
    """The stored check, read once; a missing one is looked for again on every run (a file stat)."""
    found = _loaded_checks.get((path, key))
    if found is None:
        found = backtest.load(path, key)
        if found is not None:
            if len(_loaded_checks) >= 8:
                _loaded_checks.pop(next(iter(_loaded_checks)))
            _loaded_checks[(path, key)] = found
    return found


def model_check(path: str, version: tuple[int, ...]) -> tuple[backtest.ModelCheck | None, CheckRun | None]:
    """The back-test of this data version, or the run computing it now.

    A missing check is computed once per data version (after an import, or on the first visit of
    a new database) by ``python -m finance backtest`` in a process of its own, so the dashboard's
    sessions never wait on it, and written beside the database; every session and the command
    line then use it. A run for an older version of the same database is stopped. Until the check
    is there, figures use the shape-based model choice and the prior model error, and pages say
    so with the run's progress.
    """
    key = _check_key(path, version)
    found = _stored_check(path, key)
    if found is not None:
        return found, None
    with _check_lock:
        for other in _check_runs.values():
            other.poll()  # reaps a finished process of any database
        run = _check_runs.get(path)
        if run is not None and run.key != key:
            if run.process.poll() is None:
                run.process.terminate()  # its data version is gone
            run = None
        if run is None:
            folder = backtest.folder_for(path)
            folder.mkdir(parents=True, exist_ok=True)
            progress = folder / f"{key}.progress"
            process = subprocess.Popen(
                [sys.executable, "-m", "finance", "backtest", "--db", path, "--progress", str(progress),
                 "--format", "json", "--quiet"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                cwd=str(Path(__file__).resolve().parents[2]))
            run = _check_runs[path] = CheckRun(key, process, progress)
    return None, run.poll()


def check_progress(path: str, run: CheckRun) -> None:
    """The note while a check runs; reruns the page once the check is stored."""

    @st.fragment(run_every=2)
    def poll() -> None:
        run.poll()
        if _stored_check(path, run.key) is not None:
            st.rerun(scope="app")
        if run.error:
            st.warning(f"The model check could not be completed ({literal.markdown(run.error)}); LTV ranges use "
                       "the prior model error and the recommended method chooses by the shape of the data.")
            return
        total = max(run.total, 1)
        st.progress(run.done / total, text=f"Checking the LTV models against your history: {run.done} of "
                    f"{run.total or '...'} cut-offs. Until then the recommended method chooses by the shape "
                    "of the data and the ranges use a cautious prior.")

    poll()


# 2 grains x 4 windows x 4 breakdowns (none, channel, segment, channel x segment) x 4 methods = 128
# tables per database version: every view fits, so browsing never recomputes a BG/NBD table
# (seconds) that it has already shown.
@st.cache_resource(max_entries=160, ttl=3600, show_spinner="Computing the figures...")
def load_metrics(path: str, version: tuple[int, ...], grain: str, window: int | None, by: str | None,
                 method: str, checked: bool = True) -> MetricsResult:
    """The metric table for a view. A shared resource, not a copy: callers never mutate it
    (Polars frames are immutable), and a warm rerun does not pay to unpickle it. ``checked``
    (part of the cache key) is whether the model check was there when it was computed."""
    data, stored, _ = load_dataset(path, version)
    check = _stored_check(path, _check_key(path, version)) if checked else None
    return compute(data, resolve(stored, grain=grain, window=window, by=by,  # type: ignore[arg-type]
                                 method=method).params, check)  # type: ignore[arg-type]


@st.cache_resource(max_entries=8, ttl=3600)
def load_currency(path: str, version: tuple[int, ...]) -> str:
    """The database's currency (``Store.currency``), read once per version."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return store.currency


@st.cache_resource(max_entries=16, ttl=3600)
def load_cohort_matrix(path: str, version: tuple[int, ...], grain: str) -> pl.DataFrame:
    data, stored, _ = load_dataset(path, version)
    assumptions = resolve(stored).assumptions
    settings = metric_params(assumptions).ltv
    return cohort_margin_matrix(data, grain=grain, as_of=default_as_of(data), settings=settings,  # type: ignore[arg-type]
                                fiscal_year_start=assumptions.fiscal_year_start)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Fitting response curves to the history...")
def load_basis(path: str, version: tuple[int, ...], method: str, checked: bool = False) -> PlanningBasis:
    """The planner's basis (curves, LTVs, starting plans) for the stored assumptions and an LTV method."""
    data, stored, _ = load_dataset(path, version)
    check = _stored_check(path, _check_key(path, version)) if checked else None
    return planning_basis(data, resolve(stored, method=method).params,  # type: ignore[arg-type]
                          check=check)


@st.cache_resource(max_entries=64, ttl=3600)
def load_projection(path: str, version: tuple[int, ...], method: str, lines: tuple[PlanLine, ...], name: str,
                    optimised: bool = False, checked: bool = False) -> Projection:
    """A plan's projection (``optimised``: of its default optimised split), computed once per plan.

    Every rerun of the planner projects the working plan, the baseline and the optimised split
    to compare; only an edit changes them.
    """
    basis = load_basis(path, version, method, checked)
    if optimised:
        lines = tuple(optimise(basis, lines)[0])
    return project(basis, lines, name=name)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)
def load_pack(path: str, version: tuple[int, ...], method: str, request: PackPlan | None,
              scenario: str | None = None, checked: bool = False) -> Any:
    """The board pack (``finance.present.report.BoardPack``) with ``request`` (the planner's working plan and
    the optimised split it shows), else the saved ``scenario``, projected on the planner's own basis:
    the pack's plan is the page's. Built once per plan and data version."""
    from finance.present import report  # the PDF toolchain: only when a pack is asked for

    return report.gather(path, scenario=scenario, method=method, request=request,  # type: ignore[arg-type]
                         basis=load_basis(path, version, method, checked))


@dataclass(frozen=True)
class Context:
    """What every page needs: where the data is, its version, the view and the assumptions."""

    path: str
    version: tuple[int, ...]
    view: ViewState
    assumptions: Assumptions
    demo: str | None
    periods: tuple[str, ...]
    channels: tuple[str, ...]
    segments: tuple[str, ...]

    checked: bool = False
    """Whether the model check of this data version is there (else it is running)."""

    def metrics(self, by: str | None = None, window: int | str | None = "view") -> MetricsResult:
        chosen = self.view.window if window == "view" else window
        return load_metrics(self.path, self.version, self.view.grain, chosen, by, self.view.method,  # type: ignore[arg-type]
                            self.checked)

    def rows(self, by: str | None = None, window: int | str | None = "view") -> pl.DataFrame:
        """The metric rows for the view: its periods and its channel and segment filters.

        The filters combine: the figures are those of the customers in a selected channel and a
        selected segment (``finance.metrics.cac.acquisition``'s channel by segment rows). Totals
        (``by=None``) under a filter are the roll-up of the selected rows: their spend over their
        new customers; a breakdown by channel under a segment filter (or by segment under a
        channel filter) is the roll-up within each channel (segment) of the selected rows.
        With the S&M toggle on, LTV:CAC, its band and range, payback and ROI are all on S&M CAC.
        """
        rows = self._selected(by, window)
        return on_cac_basis(rows, self.metrics(by, window).params, self.cac_basis) if self.view.include_sales \
            else rows

    @property
    def cac_basis(self) -> str:
        """The CAC every ratio of the view divides by (``finance.metrics.CAC_BASES``): the S&M toggle's."""
        return "sales_and_marketing" if self.view.include_sales else "marketing"

    def _selected(self, by: str | None, window: int | str | None) -> pl.DataFrame:
        # Selecting every channel (or segment) is no filter: show the pooled figures.
        channels = self.view.channels if set(self.view.channels) != set(self.channels) else ()
        segments = self.view.segments if set(self.view.segments) != set(self.segments) else ()
        crossed = (by is None and channels and segments) or (by == "channel" and segments) \
            or (by == "segment" and channels)
        if crossed:
            keep = (by,) if by else ()
            return rollup(self._selected("channel_segment", window),
                          self.metrics("channel_segment", window).params, keep)
        if by is None and (channels or segments):
            dimension = "channel" if channels else "segment"
            return rollup(self._selected(dimension, window), self.metrics(dimension, window).params)
        rows = _in_range(self.metrics(by, window).rows, self.view, self.periods)
        if by in ("channel", "channel_segment") and channels:
            rows = rows.filter(pl.col("channel").is_in(channels))
        if by in ("segment", "channel_segment") and segments:
            rows = rows.filter(pl.col("segment").is_in(segments))
        return rows

    def chart(self, builder: Callable[..., go.Figure], by: str | None = None, period: str | None = None, *,
              source: ChartSource = "rows", **options: Any) -> go.Figure:
        """``builder`` (a function of ``finance.present.charts``) drawn for this view, once per view and data version.

        ``source`` is what it draws: the view's metric rows (by ``by``, of one ``period`` when given),
        only the rows whose CAC is known (``"costed"``), or the cohort matrix (``"cohorts"``).
        Building a Plotly figure costs tens of milliseconds; a warm rerun reuses it.
        """
        return _cached_chart(self, builder, by, period, source, tuple(sorted(options.items())))

    @property
    def currency(self) -> str:
        """The database's currency (ISO code): every amount on the page is written in it."""
        return load_currency(self.path, self.version)

    def ltv_model(self) -> LTVResult:
        return self.metrics().ltv

    def cohort_matrix(self) -> pl.DataFrame:
        return load_cohort_matrix(self.path, self.version, self.view.grain)


@functools.lru_cache(maxsize=256)
def _cached_chart(ctx: Context, builder: Callable[..., go.Figure], by: str | None, period: str | None,
                  source: ChartSource, options: tuple[tuple[str, Any], ...]) -> go.Figure:
    if source == "cohorts":
        return builder(ctx.cohort_matrix(), **dict(options), currency=ctx.currency)
    rows = ctx.rows(by)
    if period is not None:
        rows = rows.filter(pl.col("period_label") == period)
    if source == "costed":
        rows = rows.filter(pl.col("spend").is_not_null() & (pl.col("new_customers") > 0))
    return builder(rows, **dict(options), currency=ctx.currency)


def _in_range(rows: pl.DataFrame, view: ViewState, periods: tuple[str, ...]) -> pl.DataFrame:
    selected = view.period_range(periods)
    if not selected or rows.is_empty():
        return rows
    return rows.filter(pl.col("period_label").is_between(pl.lit(selected[0]), pl.lit(selected[1])))


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


def sidebar() -> Context:
    """Render the shared sidebar and return the page context; the URL mirrors every choice."""
    try:
        path = prepare_db(str(default_db_path()))
        version = readable_version(path)
        _, stored, demo = load_dataset(path, version)
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
    kept = (state.get("view.from"), state.get("view.to"))
    if periods and all(isinstance(p, str) for p in kept) and not all(p in periods for p in kept):
        # The periods were renamed under the pickers (the fiscal year changed): keep the same months.
        state["view.from"], state["view.to"] = (map_range((str(kept[0]), str(kept[1])), periods,
                                                          assumptions.fiscal_year_start) or (periods[0], periods[-1]))
    with st.sidebar:
        st.header("View")
        grain = st.segmented_control("Grain", GRAIN_CHOICES, key="view.grain",
                                     format_func=lambda g: g.capitalize()) or "quarter"
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
            start = pick[0].selectbox("From", periods, key="view.from")
            end = pick[1].selectbox("To", periods, key="view.to")
            if start and end and start > end:
                start, end = end, start
        window = st.selectbox("Window", WINDOW_OPTIONS, key="view.window",
                              format_func=lambda w: WINDOW_LABELS[w]) or None
        method = st.selectbox("LTV method", METHODS, key="view.method", format_func=lambda m: METHOD_LABELS[m])
        chosen_channels = st.multiselect("Channels", channels, key="view.channels", placeholder="All channels")
        chosen_segments = st.multiselect("Segments", segments, key="view.segments", placeholder="All segments")
        include_sales = st.toggle("Include sales costs (S&M CAC)", key="view.sales")
        if demo:
            st.caption(f"Demo data: {literal.markdown(demo)}")
    current = ViewState(grain=grain, period_from=start if start != (periods[0] if periods else None) else None,
                        period_to=end if end != (periods[-1] if periods else None) else None,
                        window=window, method=method, channels=tuple(chosen_channels),
                        segments=tuple(chosen_segments), include_sales=include_sales)
    query = current.to_query()
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    state["view.loaded_from"] = query
    check, run = model_check(path, version) if periods else (None, None)
    if run is not None:
        with st.sidebar:
            check_progress(path, run)
    return Context(path, version, current, assumptions, demo, periods, channels, segments, check is not None)


def require_frame() -> None:
    """Rerun through the entry script when a page was run on its own by Streamlit's old router.

    Streamlit starts every server assuming the pre-``st.navigation`` layout whenever a
    ``pages/`` folder exists, until the entry script has once called ``st.navigation``. So the
    first link a cold server gets to a page (``/planner``) runs that page alone, without the
    frame, sidebar or navigation. Clearing the flag and rerunning routes it through ``app.py``.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        # Only a session's first run can be the cold deep link; a later run (Streamlit's test
        # harness resets the flag on every run) must not rerun, or it would drop a widget event.
        if "context" not in st.session_state:
            st.rerun()


def context() -> Context:
    """The context the entry script computed for this run."""
    require_frame()
    if not st.session_state.pop("frame.ran", False):
        # A page run on its own (a cold server's first deep link, the test harness's reruns):
        # the entry script's gate did not run, so it runs here.
        gate()
    ctx = st.session_state.get("context")
    if ctx is None:
        ctx = sidebar()
        st.session_state["context"] = ctx
    return ctx  # type: ignore[no-any-return]


def downloads(frame: pl.DataFrame, name: str, ctx: Context) -> None:
    """CSV and XLSX buttons for a table shown on a page; the XLSX carries the assumptions, and its
    money columns (``finance.metrics.measures``) the database's currency format.

    Text that a spreadsheet would run as a formula is neutralised (finance.present.exports).
    """
    result = ctx.metrics()
    assumptions = {**result.assumptions(), "view": str(ctx.view.to_query() or "defaults")}
    left, right = st.columns([1, 1])
    left.download_button("Download CSV", exports.to_csv_bytes(frame), file_name=f"{name}.csv",
                         mime="text/csv", key=f"download.{name}.csv")
    right.download_button("Download XLSX", exports.to_xlsx_bytes({name: frame}, assumptions, currency=ctx.currency),
                          file_name=f"{name}.xlsx", key=f"download.{name}.xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def no_data(message: str = "No data for this selection yet.") -> None:
    st.info(f"{message} Load spend, funnel, customers and revenue files on the **Data** page "
            "or with `python -m finance import`.")


def column_config(columns: Sequence[str], currency: str, **labels: str) -> dict[str, Any]:
    """The dashboard table's column formats, from each figure's unit in ``finance.metrics.measures``
    (money in the database's currency, ratios as 3.04x, fractions as percentages); ``labels``
    overrides the header shown."""
    config: dict[str, Any] = {}
    for column in columns:
        shown = formats.table_format(measures.unit(column), currency)
        if shown is not None and measures.unit(column) != "count":
            config[column] = st.column_config.NumberColumn(labels.get(column), format=shown)
    return config


def as_of_text(result: MetricsResult) -> str:
    return f"as of {result.as_of:%d %b %Y}"


def method_sentence(result: MetricsResult) -> str:
    """Which models made the LTV and how well they back-tested (``MetricsResult.model_sentence``), Markdown-safe."""
    return literal.markdown(result.model_sentence())


def parameter_text(value: float, unit: str, currency: str) -> str:
    """A fitted parameter in its unit: 4.2%, $1,234.56, 23.1 months, 0.8123."""
    if unit == "percent":
        return formats.percent(value)
    if unit == "money":
        return formats.money(value, currency)
    if unit == "months":
        return formats.months(value)
    return f"{value:,.4g}"


UPLOAD_SUFFIXES = (".csv", ".txt", ".tsv")


class Uploads:
    """This session's copies of uploaded files on disk (the importer reads a path): one per file kind,
    replaced when another file is chosen, removed when it is cleared, and the folder removed when the
    session ends (its state is dropped) or the server stops."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="upload-"))
        self.files: dict[str, tuple[str, Path]] = {}
        weakref.finalize(self, shutil.rmtree, self.folder, True)

    def copy(self, kind: str, upload: Any) -> Path:
        known = self.files.get(kind)
        if known is not None and known[0] == upload.file_id:
            return known[1]
        self.clear(kind)
        suffix = Path(upload.name).suffix.lower()
        path = self.folder / f"{kind}{suffix if suffix in UPLOAD_SUFFIXES else '.csv'}"
        path.write_bytes(upload.getbuffer())
        self.files[kind] = (upload.file_id, path)
        return path

    def clear(self, kind: str) -> None:
        if (known := self.files.pop(kind, None)) is not None:
            known[1].unlink(missing_ok=True)
