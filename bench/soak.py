"""Soak benchmark of the dashboard: thousands of reruns across pages with changing filters.

    .venv/bin/python bench/soak.py [--reruns 2000] [--db PATH] [--json OUT] [--seed 20240601]
                                   [--session-reruns 500] [--sample-every 50] [--max-growth 5]
                                   [--pages overview,cac,...] [--grains quarter,month]
                                   [--methods formula,cohort] [--trace 25]

Runs ``app.py`` under Streamlit's AppTest on the demo company (built with ``finance.demo`` in a
temporary folder; ``--db`` names another database, passed to the app as $FINANCE_DB) and does
``--reruns`` reruns, each after one user action drawn from a seeded random generator: switch to
another page (every page of the navigation), or change one sidebar filter (grain, window, period
from or to, LTV method, channels, segments, the S&M toggle), or a page's own input (the planner's
shared-cost percentage and starting plan, the volume on the CPL & CPA page). A session (one
AppTest, as one browser tab) lasts ``--session-reruns`` reruns; the next one opens from a random
shared link (query string) on a random page, as a pasted URL does. Caches are global, so they
see every session. Every rerun must render without an exception.

The LTV methods default to formula and cohort: one BG/NBD metric table costs 15 to 55 s on the
demo company here (against well under a second for the formula), so with ``bgnbd`` in
``--methods`` the soak is dominated by those computations and takes hours for 2,000 reruns.

A benchmark, not a test: the machine is shared and noisy. What it measures:

- Resident memory (RSS, ``/proc/self/statm``) of this process, which is the server: after every
  rerun (``peak`` is the largest), and every ``--sample-every`` reruns after ``gc.collect()``
  (the "settled" samples, rerun 0 being the first rerun).
- Growth over the last half, robust to noise: ``mid`` is the median of the settled samples taken
  between 40% and 60% of the reruns, ``end`` the median of those in the last tenth (from 90% on);
  growth = (end - mid) / mid, in percent. It must stay under ``--max-growth`` (5%). The plain
  (last sample - sample nearest the midpoint) / that sample is printed beside it for reference.
- Reruns per second over the soak (the demo build and imports excluded), median and p95 rerun.
- Distinct views visited: a view is a page with its URL query (what a link carries). Several
  times more than the largest cache holds, so the caches must evict to stay within their bounds.
- Every Streamlit cache (``st.cache_resource``, ``st.cache_data``) defined in ``finance`` or held
  by Streamlit's registries (page-level ones included) and every ``functools.lru_cache`` of a
  ``finance`` module: entries at the end against the declared bound. A cache without a bound
  (no ``max_entries``, ``maxsize=None``) or over its bound fails the run.
- Session state: its key count (user keys and Streamlit's internal ones) after every rerun. The
  count depends on the page shown and the pages visited before, so each session is checked from
  the rerun at which it has shown every page: over the rest, the median count on each page in the
  second half must not exceed the largest count on that page in the first half. (A page that stops
  early, e.g. on a view with no data, keeps the previous page's widgets for that one rerun: a
  spike, not growth; a leak moves the median.) Sessions that never show every page, as in very
  short soaks, are not checked; the report says how many were.
- Module-level containers (dict, list, set, deque) of ``finance`` modules that grew over the last
  half are listed (information: a cache hand-made from a dict would show here).

Exit status 0 when the growth is under the limit, every cache is bounded and within its bound,
and session state does not grow; 1 otherwise (or when a rerun raised). ``--trace N`` starts
tracemalloc at a quarter of the reruns (the caches warm), snapshots it at the midpoint and at the
end, and prints the N source lines whose live allocations grew the most between the two, with
the traced total at both (Python allocations only: Polars' and DuckDB's native buffers are not
traced, so RSS growth the trace does not show is native memory or the allocator's). Tracing
makes the reruns it covers several times slower.

Notes on the harness. The app runs as ``make run`` serves it: for this computer alone
(``--server.address localhost``, no sign-in configured), the browser on the same machine. A real
server clears ``PagesManager.uses_pages_directory`` for good the first time the entry script calls
``st.navigation``; AppTest resets it before every run, so with a ``pages/`` folder each rerun after
the first would run the page alone (no entry script, no sidebar, the widget change lost). The soak
keeps the flag cleared, as the server does. Page scripts are read from disk at every rerun while
``finance`` is imported once: do not edit the tree during a soak (or soak a copy of it).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGES = ("overview", "cac", "cpl_cpa", "ltv", "planner", "data", "assumptions", "methodology")
GRAINS = ("quarter", "month")
METHODS = ("formula", "cohort", "bgnbd")
DEFAULT_METHODS = ("formula", "cohort")
WINDOWS = (0, 3, 6, 12)
VOLUMES = ("leads", "visitors", "event_attendees")
PLAN_STARTS = ("last_quarter", "trailing_average")
MIB = 1024 * 1024

# Relative weights of the actions a rerun follows; page-specific ones apply on their page only.
ACTION_WEIGHTS = {"page": 24, "grain": 5, "window": 10, "method": 7, "from": 8, "to": 8, "channels": 12,
                  "segments": 8, "sales": 6, "plan.shared": 14, "plan.start": 4, "cpl.volume": 8, "rerun": 2}


class SoakError(RuntimeError):
    """A rerun raised, or the harness lost the page's frame."""


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------

def rss_bytes() -> int:
    """This process's resident set size, from /proc (getrusage's peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def high_water_bytes() -> int | None:
    """VmHWM: the largest RSS the process ever had (the demo build included)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class Growth:
    """RSS growth over the last half of the soak, from the settled samples (rerun, bytes)."""

    start: int
    mid: int
    end: int
    percent: float
    plain_percent: float
    mid_samples: int
    end_samples: int


def growth(samples: list[tuple[int, int]], reruns: int) -> Growth:
    """Median of the samples in [40%, 60%] of the reruns against the median of those from 90% on.

    Windows that hold no sample fall back to the sample nearest their centre.
    """
    if not samples:
        raise ValueError("no memory samples")
    ordered = sorted(samples)

    def window(low: float, high: float) -> list[int]:
        picked = [rss for rerun, rss in ordered if low * reruns <= rerun <= high * reruns]
        if picked:
            return picked
        centre = (low + high) / 2 * reruns
        return [min(ordered, key=lambda s: abs(s[0] - centre))[1]]

    mid_values, end_values = window(0.4, 0.6), window(0.9, 1.0)
    mid, end = int(statistics.median(mid_values)), int(statistics.median(end_values))
    nearest_mid = min(ordered, key=lambda s: abs(s[0] - reruns / 2))[1]
    last = ordered[-1][1]
    return Growth(start=ordered[0][1], mid=mid, end=end, percent=(end - mid) / mid * 100,
                  plain_percent=(last - nearest_mid) / nearest_mid * 100,
                  mid_samples=len(mid_values), end_samples=len(end_values))


# ---------------------------------------------------------------------------------------------
# Caches
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CacheInfo:
    """One cache: how many entries it holds and its bound (None or infinity: unbounded)."""

    name: str
    kind: str  # cache_resource, cache_data or lru_cache
    entries: int
    bound: float | None

    @property
    def bounded(self) -> bool:
        return self.bound is not None and math.isfinite(self.bound)


def cache_problems(caches: Iterable[CacheInfo]) -> list[str]:
    """Why the caches fail the soak: one line per cache without a bound or over its bound."""
    problems = []
    for cache in caches:
        if not cache.bounded:
            what = "maxsize=None" if cache.kind == "lru_cache" else "no max_entries"
            problems.append(f"{cache.name} ({cache.kind}) is unbounded: {what}")
        elif cache.bound is not None and cache.entries > cache.bound:
            problems.append(f"{cache.name} ({cache.kind}) holds {cache.entries} entries, over its bound "
                            f"of {cache.bound:g}")
    return problems


def _registries() -> dict[str, dict[str, Any]]:
    """Streamlit's global caches by kind, then by function key (created ones only)."""
    from streamlit.runtime.caching import cache_data_api, cache_resource_api

    return {"cache_resource": dict(cache_resource_api._resource_caches._function_caches.get(None, {})),
            "cache_data": dict(cache_data_api._data_caches._function_caches.get(None, {}))}


def _live_size(kind: str, cache: Any) -> tuple[int, float]:
    """(entries, bound) of a created Streamlit cache; its bound is infinity when unbounded."""
    if kind == "cache_resource":
        return len(cache._mem_cache), float(cache.max_entries)
    storage = cache.storage
    memory = getattr(storage, "_mem_cache", None)
    return (len(memory) if memory is not None else 0), float(getattr(storage, "max_entries", math.inf))


def collect_caches(modules: Iterable[types.ModuleType], registries: dict[str, dict[str, Any]] | None = None,
                   ) -> list[CacheInfo]:
    """Every cache defined in ``modules`` (Streamlit-decorated or functools.lru_cache) and every
    cache Streamlit's registries hold (``registries``: by kind and function key; the live ones when
    None). A decorated function's bound is its declared ``max_entries``."""
    from streamlit.runtime.caching.cache_type import CacheType
    from streamlit.runtime.caching.cache_utils import CachedFunc

    live = _registries() if registries is None else registries
    seen: set[str] = set()
    found: list[CacheInfo] = []
    for module in modules:
        for attr, obj in sorted(vars(module).items()):
            name = f"{module.__name__}.{attr}"
            if isinstance(obj, CachedFunc):
                info = obj._info
                if getattr(info.func, "__module__", module.__name__) != module.__name__:
                    continue  # imported from another module: reported there
                kind = "cache_resource" if info.cache_type == CacheType.RESOURCE else "cache_data"
                cache = live.get(kind, {}).get(obj._function_key)
                entries = _live_size(kind, cache)[0] if cache is not None else 0
                declared = getattr(info, "max_entries", None)  # both kinds declare one; None: unbounded
                found.append(CacheInfo(name, kind, entries, None if declared is None else float(declared)))
                seen.add(obj._function_key)
            elif isinstance(obj, functools._lru_cache_wrapper):
                if getattr(obj, "__module__", module.__name__) != module.__name__:
                    continue
                usage = obj.cache_info()
                found.append(CacheInfo(name, "lru_cache", usage.currsize,
                                       None if usage.maxsize is None else float(usage.maxsize)))
    for kind, caches in live.items():
        for key, cache in caches.items():
            if key not in seen:  # a cache defined outside those modules (a page's own)
                entries, bound = _live_size(kind, cache)
                found.append(CacheInfo(getattr(cache, "display_name", key), kind, entries, bound))
    return found


def project_modules() -> list[types.ModuleType]:
    """The loaded modules of the ``finance`` package."""
    return [m for n, m in sorted(sys.modules.items()) if (n == "finance" or n.startswith("finance."))
            and isinstance(m, types.ModuleType)]


def container_sizes(modules: Iterable[types.ModuleType]) -> dict[str, int]:
    """len() of every module-level dict, list, set and deque of the modules."""
    sizes = {}
    for module in modules:
        for attr, obj in vars(module).items():
            if isinstance(obj, dict | list | set | collections.deque) and not attr.startswith("__"):
                sizes[f"{module.__name__}.{attr}"] = len(obj)
    return sizes


# ---------------------------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def local_server() -> Iterator[None]:
    """AppTest as a server started for this computer (``--server.address localhost``, no sign-in) and
    a browser on it: every run goes through the entry script's st.navigation, as a running server's
    do, and the browser has no remote address (AppTest's mock client would report a mock object)."""
    from streamlit import config
    from streamlit.runtime import context
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServerPagesManager(PagesManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            PagesManager.uses_pages_directory = False
            super().__init__(*args, **kwargs)

    saved = (app_test.PagesManager, context._get_client_context, config.get_option("server.address"))
    app_test.PagesManager = ServerPagesManager  # type: ignore[misc]
    context._get_client_context = lambda: None
    config.set_option("server.address", "localhost")
    try:
        yield
    finally:
        app_test.PagesManager, context._get_client_context = saved[0], saved[1]  # type: ignore[misc]
        config.set_option("server.address", saved[2])
        PagesManager.uses_pages_directory = None


@dataclass
class Options:
    reruns: int = 2000
    seed: int = 20240601
    session_reruns: int = 500
    sample_every: int = 50
    max_growth: float = 5.0
    pages: tuple[str, ...] = PAGES
    grains: tuple[str, ...] = GRAINS
    methods: tuple[str, ...] = DEFAULT_METHODS
    trace: int = 0
    timeout: float = 600.0


@dataclass(frozen=True)
class StateCount:
    """Session state's key count after one rerun: user keys (``st.session_state``'s own and keyed
    widgets) and all keys (Streamlit's internal ones included)."""

    rerun: int
    session: int
    page: str
    user_keys: int
    all_keys: int


@dataclass
class Record:
    """What the soak saw; the report is built from it."""

    rss: list[tuple[int, int]] = field(default_factory=list)  # after every rerun
    settled: list[tuple[int, int]] = field(default_factory=list)  # after gc.collect()
    seconds: list[float] = field(default_factory=list)
    slow: list[tuple[float, int, str, str]] = field(default_factory=list)  # seconds, rerun, page, action
    views: set[int] = field(default_factory=set)  # hashes of (page, URL query): the harness stays small
    pages: set[str] = field(default_factory=set)
    actions: collections.Counter[str] = field(default_factory=collections.Counter)
    state_keys: list[StateCount] = field(default_factory=list)
    sessions: int = 0


class Soak:
    """Drives one AppTest session after another through random actions."""

    def __init__(self, options: Options, record: Record) -> None:
        self.options = options
        self.record = record
        self.rng = random.Random(options.seed)
        self.at: Any = None
        self.page = "overview"
        self.reruns = 0
        self.session_reruns = 0
        self.known: dict[str, list[str]] = {}  # last options seen: channels, segments, periods per grain

    # -- one rerun ------------------------------------------------------------------------------
    def run(self, action: str) -> None:
        at = self.at
        start = time.perf_counter()
        try:
            at.run(timeout=self.options.timeout)
        except Exception as exc:  # a timeout or a harness error is a failed rerun
            raise SoakError(f"rerun {self.reruns} ({action}) on {self.page}: {exc!r}") from exc
        elapsed = time.perf_counter() - start
        self.record.seconds.append(elapsed)
        self.record.slow = sorted([*self.record.slow, (elapsed, self.reruns, self.page, action)], reverse=True)[:10]
        if at.exception:
            first = at.exception[0]
            raise SoakError(f"rerun {self.reruns} ({action}) on {self.page} raised: {first.value}\n"
                            + "\n".join(first.stack_trace))
        try:
            at.segmented_control(key="view.grain")
        except KeyError as exc:
            raise SoakError(f"rerun {self.reruns} ({action}) on {self.page}: the sidebar is missing") from exc
        self._remember()
        self.record.actions[action] += 1
        self.record.views.add(hash((self.page, tuple(sorted(at.query_params.items())))))
        self.record.pages.add(self.page)
        state = at._session_state._state
        self.record.state_keys.append(StateCount(self.reruns, self.record.sessions, self.page,
                                                 len(at.session_state), len(state)))
        self.record.rss.append((self.reruns, rss_bytes()))
        self.reruns += 1
        self.session_reruns += 1

    def _remember(self) -> None:
        at = self.at
        grain = at.segmented_control(key="view.grain").value or "quarter"
        with contextlib.suppress(KeyError):
            self.known[f"periods.{grain}"] = list(at.selectbox(key="view.from").options)
        for name in ("channels", "segments"):
            with contextlib.suppress(KeyError):
                self.known[name] = list(at.multiselect(key=f"view.{name}").options)

    # -- sessions -------------------------------------------------------------------------------
    def open_session(self) -> None:
        """A new tab from a random shared link, on a random page."""
        from streamlit.testing.v1 import AppTest

        self.at = None
        gc.collect()
        self.record.sessions += 1
        self.session_reruns = 0
        self.at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=self.options.timeout)
        for key, value in self.random_link().items():
            self.at.query_params[key] = value
        self.page = "overview"
        self.run("open link")
        target = self.rng.choice(self.options.pages)
        if target != "overview" and self.reruns < self.options.reruns:
            self.switch(target)

    def random_link(self) -> dict[str, str]:
        rng, query = self.rng, {}
        grain = rng.choice(self.options.grains)
        if grain != "quarter":
            query["grain"] = grain
        if window := rng.choice(WINDOWS):
            query["window"] = str(window)
        method = rng.choice(self.options.methods)
        if method != "formula":
            query["method"] = method
        periods = self.known.get(f"periods.{grain}", [])
        if periods and rng.random() < 0.5:
            low, high = sorted(rng.sample(range(len(periods)), 2)) if len(periods) > 1 else (0, 0)
            query["from"], query["to"] = periods[low], periods[high]
        for name in ("channels", "segments"):
            chosen = self._subset(self.known.get(name, []))
            if chosen:
                query[name] = "|".join(chosen)
        if rng.random() < 0.3:
            query["sm"] = "1"
        return query

    def _subset(self, options: list[str]) -> list[str]:
        """A random selection, mostly small: none (all) a third of the time."""
        if not options or self.rng.random() < 0.33:
            return []
        size = min(len(options), 1 + int(self.rng.expovariate(0.7)))
        return sorted(self.rng.sample(options, size))

    def switch(self, page: str) -> None:
        self.at.switch_page(f"pages/{page}.py")
        self.page = page
        self.run(f"page {page}")

    # -- actions --------------------------------------------------------------------------------
    def step(self) -> None:
        """One user action and its rerun."""
        choices = [a for a in ACTION_WEIGHTS if self._applies(a)]
        action = self.rng.choices(choices, weights=[ACTION_WEIGHTS[a] for a in choices])[0]
        if action == "page":
            self.switch(self.rng.choice([p for p in self.options.pages if p != self.page]))
            return
        try:
            self._change(action)
        except KeyError:  # the widget is not on screen (a page that stopped early): a plain rerun
            action = "rerun"
        self.run(action)

    def _applies(self, action: str) -> bool:
        if action == "page":
            return len(self.options.pages) > 1
        if action == "grain":
            return len(self.options.grains) > 1
        if action == "method":
            return len(self.options.methods) > 1
        if action.startswith("plan."):
            return self.page == "planner"
        if action.startswith("cpl."):
            return self.page == "cpl_cpa"
        return True

    def _change(self, action: str) -> None:
        at, rng = self.at, self.rng
        if action == "grain":
            current = at.segmented_control(key="view.grain").value
            at.segmented_control(key="view.grain").set_value(rng.choice([g for g in self.options.grains
                                                                          if g != current]))
        elif action == "window":
            at.selectbox(key="view.window").set_value(rng.choice(WINDOWS))
        elif action == "method":
            current = at.selectbox(key="view.method").value
            at.selectbox(key="view.method").set_value(rng.choice([m for m in self.options.methods if m != current]))
        elif action in ("from", "to"):
            box = at.selectbox(key=f"view.{action}")
            box.set_value(rng.choice(box.options))  # shown as they are: the label is the value
        elif action in ("channels", "segments"):
            box = at.multiselect(key=f"view.{action}")
            box.set_value(self._subset(list(box.options)))
        elif action == "sales":
            toggle = at.toggle(key="view.sales")
            toggle.set_value(not toggle.value)
        elif action == "plan.shared":
            at.number_input(key="plan.shared").set_value(float(rng.randrange(0, 301, 5)))
        elif action == "plan.start":
            at.selectbox(key="plan.start").set_value(rng.choice(PLAN_STARTS))
        elif action == "cpl.volume":
            at.segmented_control(key="cpl.volume").set_value(rng.choice(VOLUMES))

    # -- the soak -------------------------------------------------------------------------------
    def soak(self, on_sample: Callable[[int], None]) -> None:
        options = self.options
        next_sample = 0
        while self.reruns < options.reruns:
            if self.at is None or (0 < options.session_reruns <= self.session_reruns):
                self.open_session()
            else:
                self.step()
            while self.reruns > next_sample:  # the rerun numbered next_sample has just run
                gc.collect()
                self.record.settled.append((next_sample, rss_bytes()))
                on_sample(next_sample)
                next_sample = next_sample + options.sample_every if next_sample else options.sample_every
        last = self.reruns - 1
        if not self.record.settled or self.record.settled[-1][0] != last:
            gc.collect()
            self.record.settled.append((last, rss_bytes()))


def session_state_growth(counts: list[StateCount], pages: Iterable[str]) -> tuple[list[str], int]:
    """Sessions whose session state grows: (problems, sessions checked).

    The count depends on the page shown (its widgets) and on the pages visited before (the keys
    they set), so a session is checked from the rerun at which it has shown every page: over the
    rest, the median count on each page in the second half must not exceed the largest on that
    page in the first half. (A run stopped early skips Streamlit's removal of stale widgets, so the
    previous page's keys stay for that rerun: a spike that must not count as growth.)
    A session that never shows every page is not checked.
    """
    wanted = set(pages)
    by_session: dict[int, list[StateCount]] = collections.defaultdict(list)
    for count in counts:
        by_session[count.session].append(count)
    problems, checked = [], 0
    for session, entries in sorted(by_session.items()):
        shown: set[str] = set()
        toured = None
        for index, entry in enumerate(entries):
            shown.add(entry.page)
            if shown >= wanted:
                toured = index
                break
        rest = entries[toured:] if toured is not None else []
        if len(rest) < 4:
            continue
        checked += 1
        half = len(rest) // 2
        for page in sorted(wanted):
            first = [e.all_keys for e in rest[:half] if e.page == page]
            second = [e.all_keys for e in rest[half:] if e.page == page]
            if first and second and statistics.median(second) > max(first):
                problems.append(f"session {session}: on {page}, session state grew from at most {max(first)} keys "
                                f"(reruns {rest[0].rerun}-{rest[half - 1].rerun}) to a median of "
                                f"{statistics.median(second):g} (reruns {rest[half].rerun}-{rest[-1].rerun})")
    return problems, checked


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def run_soak(options: Options, db: Path | None = None) -> dict[str, Any]:
    """Build the database if needed, soak, and return the report (``passed`` says the verdict)."""
    from finance.demo import build_demo_db

    if db is None:
        db = Path(tempfile.mkdtemp(prefix="soak-")) / "demo.duckdb"
        build_demo_db(db)
    os.environ["FINANCE_DB"] = str(db)
    record = Record()
    soak = Soak(options, record)
    midpoint = options.reruns // 2
    mid_containers: dict[str, int] = {}
    snapshots: dict[str, Any] = {}

    def on_sample(rerun: int) -> None:
        if options.trace and rerun >= options.reruns // 4 and not tracemalloc.is_tracing() and not snapshots:
            tracemalloc.start(8)
        if rerun >= midpoint and not mid_containers:
            mid_containers.update(container_sizes(project_modules()))
            if options.trace:
                snapshots["mid"] = tracemalloc.take_snapshot()

    error = None
    started = time.perf_counter()
    with local_server():
        try:
            soak.soak(on_sample)
        except SoakError as exc:
            error = str(exc)
    elapsed = time.perf_counter() - started
    if options.trace and tracemalloc.is_tracing():
        snapshots["end"] = tracemalloc.take_snapshot()
        tracemalloc.stop()
    soak.at = None
    gc.collect()

    caches = collect_caches(project_modules())
    problems = cache_problems(caches)
    state_problems, sessions_checked = session_state_growth(record.state_keys, options.pages)
    end_containers = container_sizes(project_modules())
    grown = {name: [mid_containers[name], size] for name, size in end_containers.items()
             if name in mid_containers and size > mid_containers[name]}
    report: dict[str, Any] = {
        "options": {**asdict(options), "db": str(db)},
        "reruns": soak.reruns, "sessions": record.sessions, "seconds": round(elapsed, 1),
        "reruns_per_second": round(soak.reruns / elapsed, 3) if elapsed else None,
        "error": error,
        "distinct_views": len(record.views),
        "distinct_pages": len(record.pages),
        "actions": dict(record.actions.most_common()),
        "caches": [asdict(c) | {"bounded": c.bounded} for c in caches],
        "cache_problems": problems,
        "session_state": {
            "user_keys_end": record.state_keys[-1].user_keys if record.state_keys else None,
            "all_keys_end": record.state_keys[-1].all_keys if record.state_keys else None,
            "all_keys_max": max((s.all_keys for s in record.state_keys), default=None),
            "sessions_checked": sessions_checked,
            "problems": state_problems,
        },
        "module_containers_grown": grown,
        "rss_every_rerun_mib": [[r, round(b / MIB, 1)] for r, b in record.rss],
        "rss_settled_mib": [[r, round(b / MIB, 1)] for r, b in record.settled],
        "session_state_every_rerun": [[c.rerun, c.session, c.page, c.user_keys, c.all_keys]
                                      for c in record.state_keys],
    }
    report["slowest_reruns"] = [{"rerun": r, "page": p, "action": a, "ms": round(t * 1000)}
                                for t, r, p, a in record.slow]
    if record.seconds:
        timings = sorted(record.seconds)
        report["rerun_ms"] = {"median": round(statistics.median(timings) * 1000, 1),
                              "p95": round(timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))] * 1000, 1),
                              "max": round(timings[-1] * 1000, 1)}
    if record.settled:
        measured = growth(record.settled, max(soak.reruns, 1))
        report["memory"] = {
            "start_mib": round(measured.start / MIB, 1), "mid_mib": round(measured.mid / MIB, 1),
            "end_mib": round(measured.end / MIB, 1),
            "peak_mib": round(max(b for _, b in record.rss) / MIB, 1) if record.rss else None,
            "high_water_mib": round(hwm / MIB, 1) if (hwm := high_water_bytes()) else None,
            "growth_last_half_percent": round(measured.percent, 2),
            "plain_growth_percent": round(measured.plain_percent, 2),
            "mid_samples": measured.mid_samples, "end_samples": measured.end_samples,
        }
    if "mid" in snapshots and "end" in snapshots:
        own = [tracemalloc.Filter(False, tracemalloc.__file__)]  # the midpoint snapshot itself
        snapshots = {name: snap.filter_traces(own) for name, snap in snapshots.items()}
        diffs = sorted(snapshots["end"].compare_to(snapshots["mid"], "lineno"), key=lambda d: -d.size_diff)
        report["trace"] = {
            "traced_mid_mib": round(sum(t.size for t in snapshots["mid"].traces) / MIB, 2),
            "traced_end_mib": round(sum(t.size for t in snapshots["end"].traces) / MIB, 2),
            "top": [{"where": f"{d.traceback[0].filename}:{d.traceback[0].lineno}",
                     "kib_diff": round(d.size_diff / 1024, 1), "kib": round(d.size / 1024, 1),
                     "blocks_diff": d.count_diff} for d in diffs[: options.trace]]}
    memory_ok = "memory" in report and report["memory"]["growth_last_half_percent"] < options.max_growth
    report["checks"] = {"no exception": error is None, "memory growth under limit": memory_ok,
                        "caches bounded": not problems, "session state steady": not state_problems}
    report["passed"] = all(report["checks"].values())
    return report


def print_report(report: dict[str, Any]) -> None:
    options = report["options"]
    print(f"soak: {report['reruns']} reruns in {report['sessions']} session(s), {report['seconds']} s, "
          f"{report['reruns_per_second']} reruns/s (seed {options['seed']})")
    if "rerun_ms" in report:
        timing = report["rerun_ms"]
        print(f"rerun: median {timing['median']} ms, p95 {timing['p95']} ms, max {timing['max']} ms")
    print(f"distinct views (page + URL query): {report['distinct_views']} on {report['distinct_pages']} pages")
    if memory := report.get("memory"):
        print("\nresident memory (MiB)")
        rows = [("start (rerun 0, settled)", memory["start_mib"]),
                (f"midpoint (median of {memory['mid_samples']} settled, 40-60%)", memory["mid_mib"]),
                (f"end (median of {memory['end_samples']} settled, last tenth)", memory["end_mib"]),
                ("peak (after any rerun)", memory["peak_mib"]),
                ("process high-water mark (VmHWM)", memory["high_water_mib"])]
        for label, value in rows:
            print(f"  {label:<48} {value:>9}")
        print(f"  growth over the last half: {memory['growth_last_half_percent']:+.2f}% (limit "
              f"{options['max_growth']}%); plain last/mid sample: {memory['plain_growth_percent']:+.2f}%")
    print("\ncaches (entries at the end / bound)")
    for cache in report["caches"]:
        bound = "unbounded" if not cache["bounded"] else f"{cache['bound']:g}"
        print(f"  {cache['name']:<36} {cache['kind']:<15} {cache['entries']:>6} / {bound}")
    state = report["session_state"]
    print(f"\nsession state at the end: {state['user_keys_end']} user keys, {state['all_keys_end']} in all "
          f"(largest {state['all_keys_max']})")
    if report["module_containers_grown"]:
        print("module-level containers that grew over the last half: "
              + ", ".join(f"{k} {a}->{b}" for k, (a, b) in report["module_containers_grown"].items()))
    if trace := report.get("trace"):
        print(f"\ntracemalloc (from a quarter of the reruns): traced Python memory {trace['traced_mid_mib']} MiB at "
              f"the midpoint, {trace['traced_end_mib']} MiB at the end; the lines that grew most:")
        for item in trace["top"]:
            print(f"  {item['kib_diff']:>+10.1f} KiB (now {item['kib']:.1f}) {item['blocks_diff']:>+8} blocks  "
                  f"{item['where']}")
    print()
    for problem in [*report["cache_problems"], *state["problems"]]:
        print(f"FAIL: {problem}")
    if report["error"]:
        print(f"FAIL: {report['error']}")
    for check, ok in report["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {check}")
    print("PASSED" if report["passed"] else "FAILED")


def _names(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(allowed)} (got {text!r})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reruns", type=int, default=2000)
    parser.add_argument("--db", type=Path, default=None, help="database to open (default: a fresh demo company)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here as JSON")
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--session-reruns", type=int, default=Options.session_reruns,
                        help="reruns per session before a new one opens from a link (0: one session)")
    parser.add_argument("--sample-every", type=int, default=None,
                        help="reruns between settled memory samples (default: 50, fewer for short soaks)")
    parser.add_argument("--max-growth", type=float, default=Options.max_growth, help="percent")
    parser.add_argument("--pages", type=lambda t: _names(t, PAGES), default=PAGES)
    parser.add_argument("--grains", type=lambda t: _names(t, GRAINS), default=GRAINS)
    parser.add_argument("--methods", type=lambda t: _names(t, METHODS), default=DEFAULT_METHODS,
                        help="LTV methods to choose among (default: formula,cohort; bgnbd is slow)")
    parser.add_argument("--trace", type=int, default=0, metavar="N",
                        help="tracemalloc from a quarter of the reruns; print the N lines that grew most "
                             "from the midpoint to the end")
    args = parser.parse_args(argv)
    if args.reruns < 2:
        parser.error("--reruns must be at least 2")
    sample_every = args.sample_every or max(1, min(50, args.reruns // 20))
    options = Options(reruns=args.reruns, seed=args.seed, session_reruns=args.session_reruns,
                      sample_every=sample_every, max_growth=args.max_growth, pages=args.pages,
                      grains=args.grains, methods=args.methods, trace=args.trace)
    report = run_soak(options, args.db)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
