"""How long each LTV method takes on the demo company, cold, against a baseline run side by side.

Every measurement runs in a fresh Python process (so nothing is cached): reading the demo
database, then one ``metrics.compute`` call (quarterly, total or by channel) under the stored
model check, or the whole back-test. The baseline, measured in the same rounds, is the cohort
aggregation every method starts from (``ltv.customer_activity``), so a noisy machine moves both.

    .venv/bin/python bench/ltv_speed.py --rounds 3
    .venv/bin/python bench/ltv_speed.py --rounds 3 --json out.json

Targets: any method's total view under 2 s and by channel under 4 s; the whole back-test of every
method under 60 s (it runs in the background).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from finance.ltv import backtest
from finance.demo import demo_check_key
from finance.ltv.base import LTVSettings, customer_activity
from finance.metrics.table import MetricParams, compute
from finance.store.dataset import default_as_of
db = Path({db!r})
key, data, settings = demo_check_key(db)
check = backtest.load(db, key)
step, method, by = {step!r}, {method!r}, {by!r}
began = time.perf_counter()
if step == "baseline":
    as_of = default_as_of(data)
    customer_activity(data.as_of(as_of), LTVSettings(), "quarter", by, as_of)
elif step == "compute":
    compute(data, MetricParams(by=by, ltv=LTVSettings(method=method)), check)
else:
    backtest.run(data, settings, default_as_of(data))
print(json.dumps({{"seconds": time.perf_counter() - began}}))
"""

STEPS: list[tuple[str, str | None, str | None]] = [
    ("baseline", None, None), ("baseline", None, "channel"),
    *[("compute", m, by) for m in ("auto", "formula", "cohort", "bgnbd") for by in (None, "channel")],
    ("backtest", None, None),
]


def measure(db: Path, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for round_number in range(rounds):
        for step, method, by in STEPS:
            code = CHILD.format(root=str(ROOT), db=str(db), step=step, method=method, by=by)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
            name = f"{step} {method or ''} {by or 'total'}".replace("  ", " ")
            out.setdefault(name, []).append(seconds)
            print(f"round {round_number + 1}: {name}: {seconds:.2f} s", flush=True)
    return out


def report(times: dict[str, list[float]]) -> str:
    median = {k: statistics.median(v) for k, v in times.items()}
    lines = ["| step | seconds (median) | ratio to the cohort aggregation | target | verdict |",
             "|---|---:|---:|---|---|"]
    for name, seconds in median.items():
        by = "channel" if name.endswith("channel") else "total"
        base = median.get(f"baseline {by}") or median["baseline total"]
        target = "" if name.startswith("baseline") else ("< 60 s" if name.startswith("backtest") else
                                                          "< 4 s" if by == "channel" else "< 2 s")
        limit = 60.0 if name.startswith("backtest") else 4.0 if by == "channel" else 2.0
        verdict = "" if not target else ("met" if seconds < limit else "**not met**")
        lines.append(f"| {name} | {seconds:.2f} | {seconds / base:.1f}x | {target} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from finance.demo import build_demo_db

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        build_demo_db(db)
        times = measure(db, args.rounds)
    print()
    print(report(times))
    if args.json:
        args.json.write_text(json.dumps(times, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
