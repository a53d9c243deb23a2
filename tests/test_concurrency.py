"""The app's sessions and the command line on one database at once.

Two importer processes, started at the same moment, each import eight files of distinct past
quarters through the real CLI (``finance.cli.commands.main``), one after the other, so that one of them
is nearly always waiting for the other to finish writing, while a real Streamlit server on the
same file serves five viewer sessions in one headless Chromium (each a browser context of its
own, cycling through the pages and reloading) and two reader threads of this process open the
store read-only over and over. The viewers open their first pages together on the freshly
started server, before any import.

Then every total is checked against the files: each file imported exactly once, by its own
process's user, with its own rows and total; the spend and lead totals, per import and per
quarter, equal the demo's plus the files' (summed here from integer cents, not by the product's
parser); one backup per import, each a whole state; the database opens for writing afterwards.

Nothing may fail for a viewer: a page shows no exception and no error (the "figures from before
it" note is allowed), and every read of this process sees whole imports only: the totals in
force always equal the demo's plus the files whose imports are listed. A read that waits past
the busy timeout is counted, not failed. No timing is asserted: the importers' last files wait
until every viewer session has loaded pages while importing (``_release_due``), so each session
browses during the imports however fast or slow the machine is.

``test_a_writer_keeps_readers_out_after_its_backup`` checks, deterministically, the promise that
the big test can only catch when the timing falls so: no reader opens the file while a writer has it.

``pytest -s`` prints the summary: imports per process, busy retries, page loads per session,
reads and the states they saw.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finance.demo import build_demo_db
from finance.domain.schema import CATEGORIES
from finance.store.database import Store, StoreBusy

from .conftest import ROOT
from .dashboard_server import serve
from .test_browser import CHROMIUM, _ensure_chromium

PROCESSES = 2
FILES_PER_PROCESS = 8
FILES = PROCESSES * FILES_PER_PROCESS
VIEWERS = 5
READER_THREADS = 2
MIN_WINDOW_LOADS = 3
"""Page loads each viewer session must start (and finish) while the importers run; the importers'
rounds wait for the sessions (``_release_due``), so this holds however slow the machine is."""
LOAD_TIMEOUT = 150.0
"""Seconds one page load may take before the test reports it as hung (generous: a shared machine)."""
OVERALL_TIMEOUT = 600.0
SPEND_CHANNELS = ("Paid Search", "Paid Social", "Display", "Events", "Organic Search", "")
FUNNEL_CHANNELS = ("Paid Search", "Paid Social", "Display", "Events", "Organic Search")
PAGES = (("/", "Overview"), ("/cac", "Customer acquisition cost"), ("/ltv", "Customer lifetime value"),
         ("/data", "Data"), ("/cpl-cpa", "Cost per lead and per acquisition"), ("/assumptions", "Assumptions"))
STALE_NOTE = "these are the figures from before it"

# What a page shows once its run has ended: the script state, its titles, any exception, any error
# and any info alert (Streamlit marks each alert's kind in its test id).
PROBE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : null;
  const texts = (sel) => state !== 'notRunning' ? [] :
    [...document.querySelectorAll(sel)].map(e => e.innerText.trim().slice(0, 20000));
  return {
    state: state,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    titles: texts('h1'),
    exceptions: texts('[data-testid="stException"]'),
    errors: texts('[data-testid="stAlertContentError"]'),
    infos: texts('[data-testid="stAlertContentInfo"]'),
  };
}"""

# The importer: the real CLI in a loop. It waits for the test's go file (so both processes start at
# the same moment), then imports its files in turn, the i-th once the test has written round-i.
# A "busy" refusal (exit 1) is retried and counted; every outcome is written to the result file.
DRIVER = r"""
import contextlib, io, json, sys, time, traceback
from pathlib import Path

spec = json.loads(Path(sys.argv[1]).read_text())
from finance.cli import commands as cli  # the imports are paid for before the start line

work = Path(spec["work"])
deadline = time.monotonic() + spec["timeout"]


def wait_for(path):
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {path}")
        time.sleep(0.002)


(work / f"ready-{spec['name']}").touch()
wait_for(work / "go")
outcomes = []
try:
    for i, file in enumerate(spec["files"]):
        wait_for(work / f"round-{i}")
        retries, started = 0, time.time()
        while True:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(["import", file["kind"], file["path"], "--db", spec["db"], "--format", "json"])
            text = out.getvalue()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {"status": "unparsed", "message": text + err.getvalue()}
            if code == 1 and "busy" in str(payload.get("message", "")) and retries < spec["max_retries"]:
                retries += 1
                time.sleep(0.05)
                continue
            break
        outcomes.append({"file": file["name"], "code": code, "status": payload.get("status"),
                         "import_id": payload.get("import_id"), "total": payload.get("total"),
                         "rows": payload.get("rows"), "message": payload.get("message"),
                         "stderr": err.getvalue()[-2000:], "retries": retries,
                         "started": started, "ended": time.time()})
except BaseException:
    outcomes.append({"file": None, "status": "crashed", "message": traceback.format_exc(), "retries": 0})
    raise
finally:
    Path(spec["result"]).write_text(json.dumps(outcomes))
"""


# --- the files and what they hold, worked out here ------------------------------------------------

@dataclass(frozen=True)
class DataFile:
    name: str
    kind: str  # spend | funnel
    path: Path
    process: int
    year: int
    quarter: int
    rows: int
    total: Decimal  # spend: dollars (from integer cents); funnel: leads

    @property
    def quarter_start(self) -> str:
        return f"{self.year}-{3 * self.quarter - 2:02d}-01"


def _money(cents: int, style: int) -> str:
    whole, part = divmod(cents, 100)
    return f"{whole}.{part:02d}" if style == 0 else f'"${whole:,}.{part:02d}"'


def _write_files(folder: Path) -> list[DataFile]:
    """Sixteen files for 2015-Q1..2018-Q4 (the demo covers 2023-2025): file j is quarter j; even files go to
    process 0 and odd ones to process 1, so the two import neighbouring quarters at once; every fifth is a
    funnel file. Spend amounts carry cents, some written "$1,234.56"; half the spend files use months."""
    rng = random.Random(20150101)
    files: list[DataFile] = []
    for j in range(FILES):
        year, quarter = 2015 + j // 4, j % 4 + 1
        months = [f"{year}-{3 * quarter - 2 + m:02d}" for m in range(3)]
        if j % 5 == 4:
            kind, lines, total = "funnel", ["period,channel,leads,visitors"], 0
            for month in months:
                for channel in rng.sample(FUNNEL_CHANNELS, 3):
                    leads = rng.randint(20, 900)
                    total += leads
                    lines.append(f"{month},{channel},{leads},{leads * rng.randint(15, 40)}")
            amount = Decimal(total)
        else:
            kind, lines, cents = "spend", ["period,category,channel,amount"], 0
            pairs = rng.sample([(c, ch) for c in CATEGORIES for ch in SPEND_CHANNELS], rng.randint(6, 12))
            for n, (category, channel) in enumerate(pairs):
                value = rng.randint(1, 5_000_000)  # up to $50,000.00, in cents
                cents += value
                period = f"{year}-Q{quarter}" if j % 2 == 0 else months[n % 3]
                lines.append(f"{period},{category},{channel},{_money(value, n % 2)}")
            amount = Decimal(cents).scaleb(-2)
        path = folder / f"{year}-Q{quarter}-{kind}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(DataFile(path.name, kind, path, j % PROCESSES, year, quarter, len(lines) - 1, amount))
    return files


# --- the Streamlit server -------------------------------------------------------------------------

# --- viewer sessions ------------------------------------------------------------------------------

@dataclass
class Viewer:
    """One browser context (its own cookies and Streamlit sessions) showing one page at a time."""

    index: int
    page: Any
    step: int = 0
    path: str = "/"
    title: str = "Overview"
    started: float = 0.0
    busy: bool = False  # a load is in flight
    in_window: bool = False  # the load in flight started while the importers ran
    loads: int = 0
    window_loads: int = 0
    stale_notes: int = 0
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def start(self, url: str, in_window: bool) -> None:
        """Open the next page in turn, or every third time reload the one shown."""
        reload = self.step % 3 == 2
        if not reload:
            self.path, self.title = PAGES[(self.index + self.step) % len(PAGES)]
        self.step += 1
        self.started, self.busy, self.in_window = time.monotonic(), True, in_window
        if reload:
            self.page.reload(wait_until="commit", timeout=120_000)
        else:
            self.page.goto(url + self.path, wait_until="commit", timeout=120_000)

    def poll(self) -> dict[str, Any] | None:
        """What the page shows once its run has ended (or the load timed out), else None."""
        from playwright.sync_api import Error as PlaywrightError

        timed_out = time.monotonic() - self.started > LOAD_TIMEOUT
        try:
            shown: dict[str, Any] = self.page.evaluate(PROBE)
        except PlaywrightError as exc:  # the new document is still loading
            if not timed_out:
                return None
            shown = {"state": None, "connection": None, "titles": [], "exceptions": [], "errors": [str(exc)],
                     "infos": []}
        ended = shown["state"] == "notRunning" and (self.title in shown["titles"] or shown["exceptions"]
                                                    or shown["errors"])
        if not ended and not timed_out:
            return None
        self.busy = False
        self.loads += 1
        self.window_loads += self.in_window
        self.seconds.append(time.monotonic() - self.started)
        if any(STALE_NOTE in text for text in shown["infos"]):
            self.stale_notes += 1
        if not ended or shown["exceptions"] or shown["errors"]:
            self.failures.append(
                f"session {self.index}, load {self.loads} ({self.path}, {self._when()}): "
                + ("timed out: " if not ended else "")
                + f"state={shown['state']} connection={shown['connection']} titles={shown['titles']}"
                + "".join(f"\n    exception: {_brief(text)}" for text in shown["exceptions"])
                + "".join(f"\n    error: {_brief(text)}" for text in shown["errors"]
                          if text not in shown["exceptions"]))
        return shown

    def _when(self) -> str:
        if self.in_window:
            return "while importing"
        return "its first page, on the fresh server before any import" if self.loads == 1 else "after the imports"


def _brief(text: str) -> str:
    """An exception as a page shows it: its message, the project's frames (file:line) and the innermost lines."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not set(line.strip()) <= set("^~")
             and line.strip() not in ("Copy", "Ask Google", "Ask ChatGPT")]
    frames = [found.group(1).removeprefix(f"{ROOT}/") + ":" + found.group(2) for line in lines
              if (found := re.search(r'File "([^"]+)", line (\d+)', line)) and found.group(1).startswith(str(ROOT))]
    return "\n      ".join(lines[:1] + [f"in {' > '.join(frames)}"] + [line.strip() for line in lines[-4:]])


def _drive(viewers: list[Viewer], url: str, keep_going: Callable[[Viewer], bool],
           importing: Callable[[], bool] = lambda: False, on_load: Callable[[Viewer], None] = lambda v: None) -> None:
    """Drive every session round-robin from this one thread: start a load, poll, start the next while
    ``keep_going(session)``; ``on_load`` hears of each finished load."""
    deadline = time.monotonic() + OVERALL_TIMEOUT
    for v in viewers:
        if not v.busy and keep_going(v):
            v.start(url, importing())
    while any(v.busy for v in viewers):
        assert time.monotonic() < deadline, "the viewer sessions did not finish in time"
        for v in viewers:
            if v.busy and v.poll() is not None:
                on_load(v)
                if keep_going(v):
                    v.start(url, importing())
        time.sleep(0.25)  # polling is cheap, but this machine is shared


@contextmanager
def _chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-renderer-backgrounding",
            "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows"])
        try:
            yield browser
        finally:
            browser.close()


def _viewers(browser: Any) -> list[Viewer]:
    return [Viewer(i, browser.new_context(viewport={"width": 1200, "height": 850}).new_page())
            for i in range(VIEWERS)]


# --- in-process readers ---------------------------------------------------------------------------

@dataclass
class ReaderStats:
    reads: int = 0
    busy: int = 0
    seen: Counter[int] = field(default_factory=Counter)  # how many of the files' imports a read saw
    problems: list[str] = field(default_factory=list)


def _read_once(db: Path, files: dict[str, DataFile], base: dict[str, Decimal]) -> tuple[int, list[str]]:
    """One read-only open: the imports log and the totals in force, from one connection (one state)."""
    with Store(db, read_only=True) as store:
        log = store.rows("SELECT file_name, kind, status, row_count, total FROM imports ORDER BY import_id")
        spend = store.one("SELECT coalesce(sum(amount), 0), count(*) FROM spend")
        leads = store.one("SELECT coalesce(sum(leads), 0), count(*) FROM funnel")
    assert spend is not None and leads is not None
    ours = [row for row in log if row[0] in files]
    names = [row[0] for row in ours]
    problems = []
    if len(names) != len(set(names)):
        problems.append(f"an import listed twice: {sorted(names)}")
    active = [files[name] for name, _, status, _, _ in ours if status == "active"]
    for name, kind, status, rows, total in ours:
        f = files[name]
        if (kind, status, rows, Decimal(total)) != (f.kind, "active", f.rows, f.total):
            problems.append(f"{name} is logged as {kind} {status} {rows} rows {total}; the file has "
                            f"{f.kind} {f.rows} rows {f.total}")
    want_spend = base["spend"] + sum((f.total for f in active if f.kind == "spend"), Decimal(0))
    want_leads = base["funnel"] + sum((f.total for f in active if f.kind == "funnel"), Decimal(0))
    want_spend_rows = base["spend_rows"] + sum(f.rows for f in active if f.kind == "spend")
    want_lead_rows = base["funnel_rows"] + sum(f.rows for f in active if f.kind == "funnel")
    if (Decimal(spend[0]), spend[1]) != (want_spend, want_spend_rows):
        problems.append(f"with {len(active)} of the files' imports listed, spend in force is {spend[0]} in "
                        f"{spend[1]} rows; the demo plus those files make {want_spend} in {want_spend_rows}")
    if (Decimal(leads[0]), leads[1]) != (want_leads, want_lead_rows):
        problems.append(f"with {len(active)} of the files' imports listed, leads in force are {leads[0]} in "
                        f"{leads[1]} rows; the demo plus those files make {want_leads} in {want_lead_rows}")
    return len(active), problems


def _reader(db: Path, files: dict[str, DataFile], base: dict[str, Decimal], stop: threading.Event,
            stats: ReaderStats) -> None:
    while not stop.is_set():
        try:
            seen, problems = _read_once(db, files, base)
        except StoreBusy:
            stats.busy += 1
            continue
        except Exception as exc:  # anything else is a failure, reported with the rest
            stats.problems.append(f"read failed: {type(exc).__name__}: {exc}")
            time.sleep(0.2)
            continue
        stats.reads += 1
        stats.seen[seen] += 1
        stats.problems.extend(problems)
        time.sleep(0.1)


# --- the test -------------------------------------------------------------------------------------

def _base_totals(db: Path) -> dict[str, Decimal]:
    with Store(db, read_only=True) as store:
        totals = store.totals()
        assert store.one("SELECT count(*) FROM spend WHERE period_start < DATE '2020-01-01'") == (0,)
        assert store.one("SELECT count(*) FROM funnel WHERE period_start < DATE '2020-01-01'") == (0,)
    return {"spend": totals["spend"]["total"], "funnel": totals["funnel"]["total"],
            "spend_rows": Decimal(totals["spend"]["rows"]), "funnel_rows": Decimal(totals["funnel"]["rows"])}


def _start_importers(work: Path, db: Path, files: list[DataFile]) -> list[tuple[subprocess.Popen[str], Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    started = []
    for p in range(PROCESSES):
        spec = {"name": f"importer-{p}", "work": str(work), "db": str(db), "timeout": OVERALL_TIMEOUT,
                "max_retries": 200, "result": str(work / f"result-{p}.json"),
                "files": [{"name": f.name, "kind": f.kind, "path": str(f.path)} for f in files if f.process == p]}
        spec_path = work / f"spec-{p}.json"
        spec_path.write_text(json.dumps(spec))
        log = work / f"importer-{p}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", DRIVER, str(spec_path)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                text=True, env={**env, "FINANCE_USER": f"importer-{p}", "FINANCE_BUSY_TIMEOUT": "60",
                                "FINANCE_BACKUPS": "30"})
        started.append((process, log))
    return started


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


def _release_due(viewers: list[Viewer], released: int) -> bool:
    """Whether the next round may start: at once, but the last waits until every session has loaded
    MIN_WINDOW_LOADS - 1 pages while importing, and so has started another, which counts too."""
    need = MIN_WINDOW_LOADS - 1 if released == FILES_PER_PROCESS - 1 else 0
    return released < FILES_PER_PROCESS and all(v.window_loads >= need for v in viewers)


@pytest.mark.slow
@pytest.mark.serial
def test_viewers_and_two_importers_at_once_lose_and_double_count_nothing(tmp_path: Path) -> None:
    _ensure_chromium()
    t0 = time.monotonic()
    db = tmp_path / "company.duckdb"
    build_demo_db(db)
    base = _base_totals(db)
    folder = tmp_path / "files"
    folder.mkdir()
    files = _write_files(folder)
    by_name = {f.name: f for f in files}
    work = tmp_path / "work"
    work.mkdir()
    server_log = tmp_path / "streamlit.log"
    importers: list[tuple[subprocess.Popen[str], Path]] = []
    stop = threading.Event()
    stats = [ReaderStats() for _ in range(READER_THREADS)]
    readers = [threading.Thread(target=_reader, args=(db, by_name, base, stop, s), daemon=True) for s in stats]
    viewers: list[Viewer] = []
    released = 0
    timeline: dict[str, float] = {}
    try:
        with serve(db, log=server_log) as url, _chromium() as browser:
            viewers = _viewers(browser)
            importers = _start_importers(work, db, files)  # they load their modules meanwhile
            timeline["server up"] = time.monotonic()
            # The viewers open their first pages at once on the fresh server, before any import.
            _drive(viewers, url, lambda v: v.loads == 0)
            timeline["sessions open"] = time.monotonic()
            ready_by = time.monotonic() + 120
            while not all((work / f"ready-importer-{p}").exists() for p in range(PROCESSES)):
                for process, log in importers:
                    assert process.poll() is None, f"an importer stopped early:\n{_tail(log)}"
                assert time.monotonic() < ready_by, "the importers did not get ready"
                time.sleep(0.05)
            for thread in readers:
                thread.start()
            while _release_due(viewers, released):
                (work / f"round-{released}").touch()
                released += 1
            (work / "go").touch()
            timeline["imports start"] = time.monotonic()

            def importing() -> bool:
                return any(process.poll() is None for process, _ in importers)

            def on_load(v: Viewer) -> None:
                nonlocal released
                while _release_due(viewers, released):
                    (work / f"round-{released}").touch()
                    released += 1

            _drive(viewers, url, lambda v: importing(), importing, on_load)
            for process, _ in importers:
                process.wait(timeout=OVERALL_TIMEOUT)
            timeline["imports end"] = time.monotonic()
    finally:
        stop.set()
        for process, _ in importers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        for thread in readers:
            if thread.is_alive():
                thread.join(timeout=60)

    # --- the summary (pytest -s), printed first so that it shows with any failure ----------------------
    outcomes: dict[int, list[dict[str, Any]]] = {}
    for p in range(len(importers)):
        result = work / f"result-{p}.json"
        outcomes[p] = json.loads(result.read_text()) if result.exists() else []
    seen: Counter[int] = Counter()
    for s in stats:
        seen.update(s.seen)
    phases = ", ".join(f"{name} at {at - t0:.0f} s" for name, at in timeline.items())
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nconcurrency: {FILES} imports released in {released} rounds; {phases}; "
          f"whole run {time.monotonic() - t0:.0f} s (CPU of this process {own.ru_utime + own.ru_stime:.0f} s)")
    for p, done in outcomes.items():
        print(f"  importer-{p}: {sum(o['status'] == 'imported' for o in done)} imported, "
              f"{sum(o['retries'] for o in done)} busy retries")
    overlapping = sum(1 for a in outcomes.get(0, []) for b in outcomes.get(1, [])
                      if a.get("ended") and b.get("ended") and a["started"] < b["ended"] and b["started"] < a["ended"])
    print(f"  imports of the two processes overlapping in time (one waiting for the writer's lock): {overlapping}")
    for v in viewers:
        average = sum(v.seconds) / max(len(v.seconds), 1)
        print(f"  viewer session {v.index}: {v.loads} page loads, {v.window_loads} while importing, "
              f"{v.stale_notes} with the 'figures from before it' note, {len(v.failures)} failed; "
              f"{average:.1f} s a load on average, {max(v.seconds, default=0):.1f} s at most")
    print(f"  in-process reads: {sum(s.reads for s in stats)} read, {sum(s.busy for s in stats)} busy, "
          f"{sum(len(s.problems) for s in stats)} problems; reads per number of the files in force: "
          f"{dict(sorted(seen.items()))}")
    page_failures = [f for v in viewers for f in v.failures]
    read_problems = [p for s in stats for p in s.problems]
    for line in page_failures + read_problems:
        print("  FAILED " + line)

    # --- what the importers say ---------------------------------------------------------------------
    for p, (process, log) in enumerate(importers):
        assert process.returncode == 0 and len(outcomes[p]) == FILES_PER_PROCESS, f"importer {p}:\n{_tail(log)}"
        assert [o["file"] for o in outcomes[p]] == [f.name for f in files if f.process == p]
        for o in outcomes[p]:
            f = by_name[o["file"]]
            assert (o["code"], o["status"]) == (0, "imported"), f"importer {p}: {o}"
            assert (o["rows"], Decimal(o["total"])) == (f.rows, f.total), f"importer {p}: {o}"

    # --- the database as it ends --------------------------------------------------------------------
    with Store(db, read_only=True) as store:
        logged = store.rows("SELECT import_id, kind, file_name, row_count, total, status, imported_by, "
                            "period_start, period_end FROM imports ORDER BY import_id")
        totals = store.totals()
        spend_per_import = dict(store.rows("SELECT import_id, sum(amount) FROM spend GROUP BY ALL"))
        leads_per_import = dict(store.rows("SELECT import_id, sum(leads) FROM funnel GROUP BY ALL"))
        rows_per_import = dict(store.rows(
            "SELECT import_id, count(*) FROM (SELECT import_id FROM spend UNION ALL SELECT import_id FROM funnel) "
            "GROUP BY ALL"))
        distinct_rows = dict(store.rows(
            "SELECT import_id, count(DISTINCT source_row) FROM (SELECT import_id, source_row FROM spend UNION ALL "
            "SELECT import_id, source_row FROM funnel) GROUP BY ALL"))
        spend_quarters = {str(q): (Decimal(t), n) for q, t, n in store.rows(
            "SELECT CAST(date_trunc('quarter', period_start) AS DATE), sum(amount), count(*) FROM spend "
            "WHERE period_start < DATE '2020-01-01' GROUP BY ALL")}
        lead_quarters = {str(q): (Decimal(t), n) for q, t, n in store.rows(
            "SELECT CAST(date_trunc('quarter', period_start) AS DATE), sum(leads), count(*) FROM funnel "
            "WHERE period_start < DATE '2020-01-01' GROUP BY ALL")}
        changes = store.rows("SELECT changed_by, detail FROM changes WHERE action = 'import'")
    demo_imports = [row for row in logged if row[2] not in by_name]
    ours = [row for row in logged if row[2] in by_name]
    assert len(demo_imports) == 5 and len(ours) == FILES, logged  # the demo: four exports and its ledger
    assert sorted(row[2] for row in ours) == sorted(by_name), "a file is missing or imported twice"
    for import_id, kind, name, rows, total, status, user, start, end in ours:
        f = by_name[name]
        assert (kind, rows, Decimal(total), status, user) == (f.kind, f.rows, f.total, "active",
                                                              f"importer-{f.process}"), name
        assert str(start) == f.quarter_start and (end.year, (end.month - 1) // 3 + 1) == (f.year, f.quarter)
        in_force = spend_per_import.get(import_id) if kind == "spend" else leads_per_import.get(import_id)
        assert in_force is not None and Decimal(in_force) == f.total, f"{name}: {in_force} in force, not {f.total}"
        assert rows_per_import[import_id] == distinct_rows[import_id] == f.rows, name
    assert totals["spend"]["total"] == base["spend"] + sum(f.total for f in files if f.kind == "spend")
    assert totals["funnel"]["total"] == base["funnel"] + sum(f.total for f in files if f.kind == "funnel")
    assert totals["spend"]["rows"] == base["spend_rows"] + sum(f.rows for f in files if f.kind == "spend")
    assert totals["funnel"]["rows"] == base["funnel_rows"] + sum(f.rows for f in files if f.kind == "funnel")
    assert spend_quarters == {f.quarter_start: (f.total, f.rows) for f in files if f.kind == "spend"}
    assert lead_quarters == {f.quarter_start: (f.total, f.rows) for f in files if f.kind == "funnel"}
    ours_changed = [json.loads(detail)["file"] for _, detail in changes if json.loads(detail)["file"] in by_name]
    assert sorted(ours_changed) == sorted(by_name)
    assert Counter(by for by, detail in changes if json.loads(detail)["file"] in by_name) == Counter(
        {f"importer-{p}": FILES_PER_PROCESS for p in range(PROCESSES)})

    # It opens cleanly for writing too (nothing left half-written, no stale lock).
    with Store(db, busy_timeout=5) as store:
        store.con.execute("CHECKPOINT")

    # One backup before each import, each a whole state: the k-th holds exactly k of the files.
    backups = sorted((tmp_path / "backups").glob(f"{db.stem}.*.import.duckdb"))
    assert len(backups) == FILES, [b.name for b in backups]
    held = []
    for copy in backups:
        con = duckdb.connect(str(copy), read_only=True)
        try:
            names = [n for (n,) in con.execute("SELECT file_name FROM imports WHERE status = 'active'").fetchall()]
            spend = con.execute("SELECT coalesce(sum(amount), 0) FROM spend").fetchall()[0][0]
        finally:
            con.close()
        mine = [by_name[n] for n in names if n in by_name]
        assert Decimal(spend) == base["spend"] + sum((f.total for f in mine if f.kind == "spend"), Decimal(0))
        held.append(len(mine))
    assert held == list(range(FILES)), held

    # --- what the viewers and readers saw -----------------------------------------------------------
    assert not page_failures, ("a viewer's page failed:\n" + "\n".join(page_failures)
                               + "\n--- server log ---\n" + _tail(server_log))
    assert not read_problems, "a read failed or saw a wrong state:\n" + "\n".join(read_problems[:20])
    assert sum(s.reads for s in stats) > 0
    for v in viewers:
        assert v.window_loads >= MIN_WINDOW_LOADS, f"session {v.index} loaded {v.window_loads} pages while importing"


# --- a writer keeps readers out until it closes ---------------------------------------------------

PROBE_READ = """
import sys
from finance.store.database import Store, StoreBusy
try:
    with Store(sys.argv[1], read_only=True, busy_timeout=0.3) as store:
        store.one("SELECT count(*) FROM imports")
    print("opened")
except StoreBusy:
    print("busy")
"""


def _another_process_reads(db: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    done = subprocess.run([sys.executable, "-c", PROBE_READ, str(db)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_writer_keeps_readers_out_after_its_backup(tmp_path: Path) -> None:
    """The store's promise: "a reader cannot open the file while a writer has it". An import backs the
    file up first, then writes; the file must stay closed to readers until the writer closes it."""
    db = tmp_path / "company.duckdb"
    Store(db, keep_backups=0).close()
    with Store(db, keep_backups=3) as store:
        assert _another_process_reads(db) == "busy"
        store.backup("import")
        # Reading the file for the copy and closing it must not give up DuckDB's lock on it (a POSIX
        # lock goes when the process closes any descriptor of the file).
        assert _another_process_reads(db) == "busy", (
            "after Store.backup() a reader process opened the database while the writer still had it open: the "
            "import written next is exposed to readers half-done")
    assert _another_process_reads(db) == "opened"
