"""The soak benchmark (bench/soak.py): a short soak runs every page without an exception and visits
many views; its cache check fails a cache without a bound or over its bound; its memory growth
and session-state checks read their samples as documented. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

SOAK_PATH = ROOT / "bench" / "soak.py"


def _load() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", SOAK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


soak = _load()

FAKE_CACHES = """
import functools
import streamlit as st

@st.cache_resource
def unbounded_resource(x: int) -> int:
    return x

@st.cache_resource(max_entries=4)
def bounded_resource(x: int) -> int:
    return x

@st.cache_data(ttl=60)
def unbounded_data(x: int) -> int:
    return x

@st.cache_data(max_entries=3)
def bounded_data(x: int) -> int:
    return x

@functools.lru_cache(maxsize=None)
def unbounded_lru(x: int) -> int:
    return x

@functools.lru_cache(maxsize=2)
def bounded_lru(x: int) -> int:
    return x
"""


def _fake_module() -> types.ModuleType:
    module = types.ModuleType("fake_caches")
    exec(compile(FAKE_CACHES, "fake_caches.py", "exec"), module.__dict__)
    return module


@pytest.mark.slow
@pytest.mark.serial
def test_a_short_soak_runs_every_page_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    # Formula LTV at quarter grain keeps the cold computations short; the growth limit is lifted
    # because 40 reruns are the caches filling, not a plateau.
    done = subprocess.run(
        [sys.executable, str(SOAK_PATH), "--reruns", "40", "--session-reruns", "25", "--methods", "formula",
         "--grains", "quarter", "--max-growth", "1000", "--seed", "11", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.exists(), done.stdout + done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    assert report["error"] is None, report["error"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["reruns"] == 40 and report["sessions"] == 2
    assert report["distinct_views"] >= 20
    assert report["distinct_pages"] >= 6
    assert report["checks"] == {"no exception": True, "memory growth under limit": True, "caches bounded": True,
                                "session state steady": True}
    names = {c["name"] for c in report["caches"]}
    assert {"finance.app.loaders.metrics_slot", "finance.app.loaders.load_dataset",
            "finance.app.context._cached_chart"} <= names
    assert all(c["bounded"] and c["entries"] <= c["bound"] for c in report["caches"])
    assert sum(c["entries"] for c in report["caches"]) > 0  # the caches were read, not just listed
    memory = report["memory"]
    assert memory["start_mib"] > 0 and memory["peak_mib"] >= memory["end_mib"] > 0
    assert len(report["rss_every_rerun_mib"]) == 40
    assert "PASSED" in done.stdout


def test_the_cache_check_fails_a_cache_without_a_bound_or_over_it() -> None:
    caches = [soak.CacheInfo("ok", "cache_resource", 3, 4.0), soak.CacheInfo("full", "cache_data", 4, 4.0),
              soak.CacheInfo("none", "cache_resource", 10, None),
              soak.CacheInfo("inf", "cache_resource", 10, float("inf")),
              soak.CacheInfo("lru", "lru_cache", 1, None), soak.CacheInfo("over", "cache_resource", 5, 4.0)]
    problems = soak.cache_problems(caches)
    assert len(problems) == 4
    assert [p.split(" ")[0] for p in problems] == ["none", "inf", "lru", "over"]
    assert "no max_entries" in problems[0] and "maxsize=None" in problems[2] and "over its bound" in problems[3]
    assert soak.cache_problems(caches[:2]) == []


def test_collecting_caches_finds_every_kind_and_its_declared_bound() -> None:
    found = {c.name: c for c in soak.collect_caches([_fake_module()], registries={})}
    assert set(found) == {f"fake_caches.{kind}_{what}" for kind in ("unbounded", "bounded")
                          for what in ("resource", "data", "lru")}
    assert found["fake_caches.bounded_resource"].bound == 4 and found["fake_caches.bounded_data"].bound == 3
    assert found["fake_caches.bounded_lru"].kind == "lru_cache"
    problems = soak.cache_problems(found.values())
    assert sorted(p.split(" ")[0] for p in problems) == ["fake_caches.unbounded_data", "fake_caches.unbounded_lru",
                                                         "fake_caches.unbounded_resource"]


def test_a_cache_held_by_streamlit_but_defined_elsewhere_is_checked_too() -> None:
    resource = types.SimpleNamespace(display_name="pages.planner.ad_hoc", max_entries=float("inf"),
                                     _mem_cache={"a": 1, "b": 2})
    found = soak.collect_caches([], registries={"cache_resource": {"key": resource}, "cache_data": {}})
    assert found == [soak.CacheInfo("pages.planner.ad_hoc", "cache_resource", 2, float("inf"))]
    assert soak.cache_problems(found)


def test_the_dashboards_own_caches_are_all_bounded() -> None:
    import finance.app.context
    import finance.app.loaders

    caches = soak.collect_caches([finance.app.loaders, finance.app.context], registries={})
    assert {c.kind for c in caches} >= {"cache_resource", "lru_cache"}
    assert soak.cache_problems(caches) == []


def test_growth_compares_the_median_around_the_midpoint_with_the_last_tenth() -> None:
    flat = [(r, 100) for r in range(0, 1001, 50)]
    assert soak.growth(flat, 1000).percent == 0
    # 100 until the midpoint window, then 110 over the last tenth: +10%; one noisy sample is ignored
    rising = [(r, 100 if r < 900 else 110) for r in range(0, 1001, 50)]
    rising[10] = (500, 140)
    measured = soak.growth(rising, 1000)
    assert (measured.mid, measured.end, measured.percent) == (100, 110, 10.0)
    assert (measured.mid_samples, measured.end_samples) == (5, 3)
    assert measured.start == 100


def test_session_state_growth_within_a_session_is_flagged() -> None:
    pages = ("overview", "planner")

    def session(number: int, leak: int) -> list[Any]:
        # overview first, planner (more widgets) from rerun 5 on, then alternating; `leak` keys a rerun
        shown = ["overview"] * 5 + ["planner", "overview"] * 10
        return [soak.StateCount(i, number, page, 10, (30 if page == "planner" else 12) + leak * i)
                for i, page in enumerate(shown)]

    assert soak.session_state_growth(session(1, 0), pages) == ([], 1)
    problems, checked = soak.session_state_growth(session(1, 0) + session(2, 1), pages)
    assert checked == 2 and len(problems) == 2  # both pages of session 2
    assert all(p.startswith("session 2: on ") for p in problems)
    # a one-rerun spike (a page stopped early keeps the last page's widgets) is not growth
    spiked = session(4, 0)
    spiked[-3] = soak.StateCount(spiked[-3].rerun, 4, spiked[-3].page, 10, 60)
    assert soak.session_state_growth(spiked, pages) == ([], 1)
    # a session that never shows every page is not checked
    assert soak.session_state_growth(session(3, 1)[:5], pages) == ([], 0)
