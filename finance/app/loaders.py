"""The dashboard's reads and writes of the store, and its caches of what the core computes.

Caches are keyed by simple values (the database file's version, the view's fields) and bounded.
Nothing here computes a metric: it calls the core and hands its results to the pages. The model
check of each data version runs in a process of its own (``model_check``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import polars as pl
import streamlit as st

from finance.app.auth import require_editor
from finance.demo import build_demo_db
from finance.domain import literal
from finance.ltv import backtest
from finance.ltv.base import LTVResult, cohort_margin_matrix
from finance.ltv.methods import MODELS_BY_KEY
from finance.ltv.progress import Progress, Report
from finance.metrics.params import metric_params, resolve
from finance.metrics.reconcile import Reconciliation, from_store
from finance.metrics.table import MetricsResult, cohort_ltv_for, compute
from finance.planning.plans import PlanLine, PlanningBasis, Projection, optimise, planning_basis, project
from finance.planning.session import PackPlan
from finance.present import formats
from finance.present.i18n import DEFAULT_LANGUAGE, _, ngettext
from finance.store import notes, packs, targets
from finance.store.database import DEMO_SETTING, ENV_DB, Store, StoreBusy, StoreError
from finance.store.dataset import Dataset, default_as_of

if TYPE_CHECKING:
    from finance.present.publish import PackDiff


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case and the rest exactly as written (paths keep their case)."""
    return text[:1].upper() + text[1:]


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
        busy = (f"{literal.markdown(sentence(str(exc)))}." if formats.language_is_default() else
                _("The database is busy: another import, undo or change is being written; try again in a moment."))
        st.warning(busy, icon=":material/hourglass_top:")
        st.stop()
    with store:
        yield store


def show_store_error(exc: StoreError) -> None:
    st.error(_("Nothing was changed: {reason}").format(reason=literal.markdown(exc)))


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
        st.info(_("An import is being written to the database; these are the figures from before it. "
                  "Refresh in a moment to see it."), icon=":material/hourglass_top:")
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
            st.warning(_("The model check could not be completed ({reason}); LTV ranges use the prior model error "
                         "and the recommended method chooses by the shape of the data.").format(
                reason=literal.markdown(run.error)))
            return
        total = max(run.total, 1)
        st.progress(run.done / total, text=_(
            "Checking the LTV models against your history: {done} of {total} cut-offs. Until then the recommended "
            "method chooses by the shape of the data and the ranges use a cautious prior.").format(
            done=formats.count(run.done), total=formats.count(run.total) if run.total else "…"))

    poll()


LONG_SECONDS = 2.0
"""A computation whose estimate is longer than this shows what it is doing and the time it has left."""


class ProgressNote:
    """A long computation's progress on the page: what ``finance.metrics.table.compute`` is given
    to report to (``finance.ltv.progress.Report``).

    While the estimate of the time left is under ``LONG_SECONDS`` it shows nothing. From the first
    report past it, an ``st.status`` where the page is says what is being computed and about how
    long it has left, over a bar with the step under way. When all is done the status leaves the
    page (it would otherwise sit among the charts it made way for) and a toast says the time it
    took and the estimate it started from.
    """

    def __init__(self) -> None:
        # Its place on the page is taken whether or not a status is ever shown there, so that a run
        # that computes and one served from the cache lay the page out alike: an element that came
        # and went would shift the ones after it, and Streamlit would redraw them (tabs reset).
        self.slot: Any = st.empty()
        self.status: Any = None
        self.bar: Any = None
        self.estimate = 0.0
        self.shown = 0.0

    def __call__(self, progress: Progress) -> None:
        if self.status is None:
            if progress.step is None or progress.seconds_left < LONG_SECONDS:
                return
            self.estimate = progress.elapsed + progress.seconds_left
            self.status = self.slot.status(self.running(progress), state="running", expanded=True)
            self.bar = self.status.progress(0.0)
        if progress.step is None:
            self.slot.empty()
            st.toast(self.finished(progress), icon=":material/check_circle:")
            return
        self.status.update(label=self.running(progress), expanded=True)  # an update without it folds the status
        group = literal.markdown(progress.group or "")  # a channel's name is text from the data
        # By time rather than by steps; a pace that slows holds the bar rather than moving it back.
        self.shown = max(self.shown, progress.elapsed / max(progress.elapsed + progress.seconds_left, 1e-9))
        step = (_("Fitting {group} ({customers} customers): step {step} of {steps}.") if progress.step.phase == "fit"
                else _("Projecting {group} ({customers} customers): step {step} of {steps}."))
        self.bar.progress(min(self.shown, 1.0), text=step.format(
            group=group, customers=formats.count(progress.step.customers), step=formats.count(progress.done + 1),
            steps=formats.count(progress.total)))

    @staticmethod
    def work(progress: Progress) -> str:
        """"BG/NBD and the churn formula to 20,000 customers in 23 groups", in the page's language."""
        models = [_(MODELS_BY_KEY[m].in_sentence) for m in progress.models if m in MODELS_BY_KEY]
        return ngettext("{models} to {customers} customers in {groups} group",
                        "{models} to {customers} customers in {groups} groups", progress.groups).format(
            models=formats.listed(models) or _("the models"), customers=formats.count(progress.customers),
            groups=formats.count(progress.groups))

    def running(self, progress: Progress) -> str:
        return _("Computing LTV: fitting {work}, about {seconds} left").format(
            work=self.work(progress), seconds=formats.duration(progress.seconds_left))

    def finished(self, progress: Progress) -> str:
        return _("LTV computed: {work} fitted in {seconds} (estimated {estimate})").format(
            work=self.work(progress), seconds=formats.duration(progress.elapsed),
            estimate=formats.duration(self.estimate))


T = TypeVar("T")


@dataclass
class Slot(Generic[T]):
    """One view's result (its metric table, LTV per cohort or planning basis), once computed: the first
    session to ask computes it, the others wait on the lock and share it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    result: T | None = None

    def fill(self, make: Callable[[], T]) -> T:
        """The result, made by ``make`` if no session has made it yet."""
        with self.lock:
            if self.result is None:
                self.result = make()
            return self.result


# 2 grains x 4 windows x 4 breakdowns (none, channel, segment, channel x segment) x 4 methods = 128
# tables per database version: every view fits, so browsing never recomputes a BG/NBD table
# (seconds) that it has already shown.
@st.cache_resource(max_entries=160, ttl=3600, show_spinner=False)
def metrics_slot(path: str, version: tuple[int, ...], grain: str, window: int | None, by: str | None,
                 method: str, checked: bool = True, basis: str | None = None) -> Slot[MetricsResult]:
    """Where a view's metric table is kept (``load_metrics`` fills it once).

    The cache holds the place rather than running the computation: a computation inside a cached
    function could not show its progress, because Streamlit records a cached function's elements
    and replays them on every later hit.
    """
    return Slot()


# 2 grains x 4 breakdowns x 4 methods x checked or not = 64 per database version.
@st.cache_resource(max_entries=80, ttl=3600, show_spinner=False)
def ltv_slot(path: str, version: tuple[int, ...], grain: str, by: str | None, method: str,
             checked: bool = True) -> Slot[LTVResult]:
    """Where a view's LTV per cohort is kept (``load_metrics`` fills it once): a change of the trailing
    window then costs the window's sums, not the LTV models' fits again (the fits are the slow part)."""
    return Slot()


def load_metrics(path: str, version: tuple[int, ...], grain: str, window: int | None, by: str | None,
                 method: str, checked: bool = True, progress: Report | None = None,
                 basis: str | None = None) -> MetricsResult:
    """The metric table for a view, computed once per data version and view and then shared: callers
    never mutate it (Polars frames are immutable), and a warm rerun does not pay to unpickle it.
    ``checked`` (part of the key) is whether the model check was there when it was computed;
    ``progress`` (a ``ProgressNote``) hears how a computation it starts is going."""
    def make() -> MetricsResult:
        data, stored, _ = load_dataset(path, version)
        check = _stored_check(path, _check_key(path, version)) if checked else None
        params = resolve(stored, grain=grain, window=window, by=by, method=method,  # type: ignore[arg-type]
                         basis=basis).params  # type: ignore[arg-type]
        ltv = ltv_slot(path, version, grain, by, method, checked).fill(
            lambda: cohort_ltv_for(data, params, check, progress))
        return compute(data, params, check, progress, ltv=ltv)

    return metrics_slot(path, version, grain, window, by, method, checked, basis).fill(make)


@st.cache_resource(max_entries=8, ttl=3600)
def load_currency(path: str, version: tuple[int, ...]) -> str:
    """The database's currency (``Store.currency``), read once per version."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return store.currency


@st.cache_resource(max_entries=8, ttl=3600)
def load_notes(path: str, version: tuple[int, ...]) -> pl.DataFrame:
    """The notes on the timeline (``finance.store.notes.listed``), once per data version."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return notes.listed(store)


@st.cache_resource(max_entries=8, ttl=3600)
def load_cac_targets(path: str, version: tuple[int, ...]) -> pl.DataFrame:
    """Each channel's CAC target (``finance.store.targets.listed``), once per data version."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return targets.listed(store)


@st.cache_resource(max_entries=8, ttl=3600)
def load_packs(path: str, version: tuple[int, ...]) -> pl.DataFrame:
    """The published packs, newest first, without their files (``finance.store.packs.listed``)."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return packs.listed(store)


def load_published(path: str, pack_id: int) -> packs.Pack:
    """A published pack with its files, as published (read when asked: the files are not kept in memory)."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return packs.get(store, pack_id)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def load_pack_diff(path: str, version: tuple[int, ...], pack_id: int) -> PackDiff:
    """What changed since pack ``pack_id`` was published (``finance.present.publish.diff``), once per data version;
    the command line's ``report --diff`` is the same computation."""
    from finance.present.publish import diff  # the pack's renderers only when a page compares with a pack

    return diff(path, pack_id)


@st.cache_resource(max_entries=8, ttl=3600)
def load_reconciliation(path: str, version: tuple[int, ...], grain: str) -> Reconciliation | None:
    """The spend reconciled to the general ledger at a grain (None without a ledger), once per data version."""
    with Store(path, read_only=True, busy_timeout=READ_WAIT) as store:
        return from_store(store, grain)  # type: ignore[arg-type]


@st.cache_resource(max_entries=16, ttl=3600)
def load_cohort_matrix(path: str, version: tuple[int, ...], grain: str) -> pl.DataFrame:
    data, stored, _ = load_dataset(path, version)
    assumptions = resolve(stored).assumptions
    settings = metric_params(assumptions).ltv
    return cohort_margin_matrix(data, grain=grain, as_of=default_as_of(data), settings=settings,  # type: ignore[arg-type]
                                fiscal_year_start=assumptions.fiscal_year_start)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def basis_slot(path: str, version: tuple[int, ...], method: str, checked: bool = False) -> Slot[PlanningBasis]:
    """Where a view's planning basis is kept (``load_basis`` fills it once, showing its progress)."""
    return Slot()


def load_basis(path: str, version: tuple[int, ...], method: str, checked: bool = False,
               progress: Report | None = None) -> PlanningBasis:
    """The planner's basis (curves, LTVs by channel, starting plans) for the stored assumptions and an
    LTV method, computed once per data version and method; ``progress`` hears how its LTV fits go."""
    def make() -> PlanningBasis:
        data, stored, _ = load_dataset(path, version)
        check = _stored_check(path, _check_key(path, version)) if checked else None
        return planning_basis(data, resolve(stored, method=method).params,  # type: ignore[arg-type]
                              check=check, progress=progress)

    return basis_slot(path, version, method, checked).fill(make)


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
              scenario: str | None = None, checked: bool = False, prepared_by: str | None = None,
              language: str = DEFAULT_LANGUAGE) -> Any:
    """The board pack (``finance.present.report.BoardPack``) with ``request`` (the planner's working plan and
    the optimised split it shows), else the saved ``scenario``, projected on the planner's own basis:
    the pack's plan is the page's; ``prepared_by`` (the signed-in person) is named on its first page.
    Built once per plan, data version, person and ``language`` (the pack is written in this run's language,
    ``finance.present.i18n``: the argument keys the cache)."""
    from finance.present import report  # the PDF toolchain: only when a pack is asked for

    return report.gather(path, scenario=scenario, method=method, request=request,  # type: ignore[arg-type]
                         basis=load_basis(path, version, method, checked), prepared_by=prepared_by)

