"""Warm interaction latency of the dashboard: one filter change, rerun server-side.

    .venv/bin/python bench/warm_interaction.py [--runs 60] [--db PATH]

Runs the app under Streamlit's AppTest on the demo company (or --db), warms every view
once (the caches fill), then times server-side reruns, each with one filter changed
(window, channels, period range, S&M toggle, segment, LTV method). Prints median and 95th percentile
in milliseconds. A benchmark, not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    from finance.demo import build_demo_db

    db = args.db
    if db is None:
        db = Path(tempfile.mkdtemp()) / "bench.duckdb"
        build_demo_db(db)
    os.environ["FINANCE_DB"] = str(db)
    # Each variant is the view after one filter change, as its URL carries it. (AppTest drops
    # the entry script's sidebar after an in-place widget change under st.navigation, so each
    # rerun starts from its URL: the same server-side work a widget change does.)
    variants = [{}, {"window": "12"}, {"channels": "Paid Search|Events"}, {"from": "2024-Q1"},
                {"sm": "1"}, {"segments": "SMB"}, {"window": "6", "channels": "Events"}, {"method": "cohort"}]

    def rerun(query: dict[str, str]) -> float:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        for key, value in query.items():
            at.query_params[key] = value
        start = time.perf_counter()
        at.run()
        elapsed = (time.perf_counter() - start) * 1000
        if at.exception:
            raise SystemExit(f"the page failed: {at.exception}")
        return elapsed

    # The harness's own cost, measured interleaved: AppTest running a one-line page.
    trivial = Path(tempfile.mkdtemp()) / "trivial.py"
    trivial.write_text("import streamlit as st\nst.write('baseline')\n")

    def baseline() -> float:
        at = AppTest.from_file(str(trivial), default_timeout=60)
        start = time.perf_counter()
        at.run()
        return (time.perf_counter() - start) * 1000

    for query in variants * 2:  # warm: every view once, so the caches hold it
        rerun(query)
    timings, floors = [], []
    for i in range(args.runs):
        timings.append(rerun(variants[i % len(variants)]))
        floors.append(baseline())
    floor = statistics.median(floors)
    print(f"harness baseline (AppTest, one-line page): median {floor:.1f} ms")
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    median = statistics.median(timings)
    print(f"warm interaction, {args.runs} reruns: median {median:.1f} ms, p95 {p95:.1f} ms, "
          f"min {timings[0]:.1f} ms, max {timings[-1]:.1f} ms")
    print(f"the dashboard's own share (minus the harness baseline): median {median - floor:.1f} ms, "
          f"p95 {p95 - floor:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
