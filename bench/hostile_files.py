"""Odd and hostile import files at full size: time and peak memory of refusing each.

    .venv/bin/python bench/hostile_files.py [--mb 200] [--columns 120000]

Builds, in a temporary folder, the files issue 14 measured: a file of ``--mb`` MB with no line
break, headers of ``--columns`` columns (short names, and names long enough to pass 1 MB), and
a named pipe; and two more of ``--mb`` MB: one endless row below the header, and a quote
never closed. Each is checked by ``prepare`` in a fresh process, so the peak resident memory
printed is that file's alone. The tests check the same refusals on small files
(tests/test_hostile_input.py); this shows they stay quick and small at full size. A benchmark,
not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from finance.ingest.prepare import prepare
start = time.perf_counter()
prepared = prepare(sys.argv[1], Path(sys.argv[2]))
seconds = time.perf_counter() - start
problems = prepared.problems
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "problems": len(problems), "first": problems[0].describe() if problems else ""}))
"""


def _files(folder: Path, mb: int, columns: int) -> dict[str, Path]:
    no_break = folder / "no_line_break.csv"
    with no_break.open("wb") as out:
        block = b"a" * (1 << 20)
        for _ in range(mb):
            out.write(block)
    short = folder / "wide_short_names.csv"
    with short.open("w", encoding="utf-8") as out:
        out.write("period,category,amount" + ",x" * columns + "\n")
        for _ in range(20):
            out.write("2025-01,personnel,5" + ",y" * columns + "\n")
    long = folder / "wide_long_names.csv"
    long.write_text("period,category,amount," + ",".join(f"col{i}" for i in range(columns)) + "\n"
                    + "2025-01,personnel,5" + ",y" * columns + "\n", encoding="utf-8")
    endless = folder / "endless_row.csv"
    with endless.open("wb") as out:
        out.write(b"period,category,amount,vendor\n2025-01,personnel,5,x\n")
        for _ in range(mb):
            out.write(b"a" * (1 << 20))
    unclosed = folder / "unclosed_quote.csv"
    with unclosed.open("wb") as out:
        out.write(b'period,category,amount,vendor\n2025-01,personnel,5,"never closed\n')
        lines = b"2025-01,personnel,5,x\n" * 50_000  # about 1 MB: the children inherit this process's peak
        for _ in range(mb):
            out.write(lines)
    fifo = folder / "named_pipe.csv"
    os.mkfifo(fifo)
    return {"no line break": no_break, "wide header, short names": short, "wide header, long names": long,
            "endless row after the header": endless, "quote never closed": unclosed, "named pipe": fifo}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--columns", type=int, default=120_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, path in _files(Path(folder), args.mb, args.columns).items():
            try:
                done = subprocess.run([sys.executable, "-c", _CHILD, "spend", str(path)], cwd=ROOT, text=True,
                                      capture_output=True, timeout=120, check=True)
            except subprocess.TimeoutExpired:
                print(f"{name:28} did not finish in 120 s")
                continue
            result = json.loads(done.stdout)
            print(f"{name:28} {result['seconds']:7.2f} s  peak {result['peak_mb']:7.0f} MB  "
                  f"{result['problems']} problem(s): {result['first'][:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
