"""Warm interaction in a real browser: one filter change on the dashboard, from the click to the page at rest.

    .venv/bin/python -m bench.warm_browser --db 1e5=PATH --db 1e8=PATH [--runs 20] [--json OUT]

Each database gets its own dashboard server (``tests/dashboard_server.py``: ``streamlit run``, sign-in off)
and its own page in headless Chromium (``/usr/bin/chromium``, driven by Playwright). Each page opens the
overview (its cold load, timed), waits for the model check a new database starts (a process of its own,
after which the figures are made again), and goes once through every choice of the sidebar's Window, so the
caches hold each view. Then the pages take turns, so a noisy neighbour slows them alike: each changes the Window
to the next choice, and the time runs from the click on the option until the new choice is in the address
(the script has run far enough to write it) and Streamlit reports the script no longer running. Medians
over the runs, in milliseconds, and each size's median over the first's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
WINDOWS = (("3", "Trailing 3 months"), ("6", "Trailing 6 months"), ("12", "Trailing 12 months"))
AT_REST = "[data-testid='stApp'][data-test-script-state='notRunning']"
"""Streamlit's own mark of a page whose script has finished (its end-to-end tests wait on it)."""
CHECKING = "Checking the LTV models against your history"
"""The overview's note while the model check runs (``finance.app.loaders.check_progress``)."""
LOAD_TIMEOUT_MS = 1_800_000
"""A cold load at 10^8 rows computes every figure first: half an hour at most."""


def _choose(page: Any, value: str, label: str) -> float:
    """Pick ``label`` in the Window box; milliseconds until the page is at rest with it."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Window").click()
    option = page.get_by_role("option", name=label)
    option.wait_for(timeout=30_000)
    start = time.perf_counter()
    option.click()
    page.wait_for_function(f"() => new URLSearchParams(window.location.search).get('window') === '{value}'",
                           timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(AT_REST, timeout=LOAD_TIMEOUT_MS)
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_browser", description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", required=True, help="LABEL=PATH, one per size (the first is the "
                        "baseline)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from tests.dashboard_server import serve

    sizes = [tuple(item.split("=", 1)) for item in args.db]
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, Any] = {}
    with ExitStack() as stack, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        pages = {}
        for label, path in sizes:
            url = stack.enter_context(serve(Path(path), log=Path(path).with_suffix(".server.log")))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(f"{url}/?window=3", timeout=LOAD_TIMEOUT_MS)
            page.get_by_text("Fully loaded CAC").first.wait_for(timeout=LOAD_TIMEOUT_MS)
            page.wait_for_selector(AT_REST, timeout=LOAD_TIMEOUT_MS)
            cold = (time.perf_counter() - start) * 1000
            log(f"[{label}] cold load {cold:.0f} ms")
            results[label] = {"cold_ms": cold, "runs_ms": []}
            pages[label] = page
        for label, page in pages.items():
            # The model check runs in a process of its own on a new database, then the figures are made
            # again with its model choice and errors: the warm state is the one after it.
            start = time.perf_counter()
            page.wait_for_function(f"() => !document.body.innerText.includes({CHECKING!r})",
                                   timeout=LOAD_TIMEOUT_MS * 4, polling=2000)
            page.wait_for_selector(AT_REST, timeout=LOAD_TIMEOUT_MS)
            results[label]["check_ms"] = (time.perf_counter() - start) * 1000
            log(f"[{label}] model check done after {results[label]['check_ms']:.0f} ms more")
            for value, choice in (*WINDOWS[1:], WINDOWS[0]):  # warm: every Window once
                log(f"[{label}] warming {choice}: {_choose(page, value, choice):.0f} ms")
        for run in range(args.runs):
            value, choice = WINDOWS[(run + 1) % len(WINDOWS)]
            for label, page in pages.items():
                results[label]["runs_ms"].append(_choose(page, value, choice))
        browser.close()
    first = statistics.median(results[sizes[0][0]]["runs_ms"])
    for label, _ in sizes:
        median = statistics.median(results[label]["runs_ms"])
        results[label].update(median_ms=median, ratio=median / first)
        print(f"{label}: cold load {results[label]['cold_ms']:.0f} ms; warm interaction, {args.runs} runs: "
              f"median {median:.0f} ms ({median / first:.2f}x {sizes[0][0]})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
