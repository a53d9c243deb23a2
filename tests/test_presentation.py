"""The figures as a CFO reads them, on real DuckDB files under Streamlit's AppTest: the LTV fits in
business words, tables drawn whole, the CPL & CPA table and its downloads, and the progress and
estimate of a long computation."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, local_script_runner

from finance.app import loaders
from finance.demo import SAMPLE_DIR, build_demo_db, demo_check_key
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest, progress
from finance.ltv.base import LTVResult
from finance.ltv.groups import group_name
from finance.metrics.params import metric_params
from finance.metrics.table import compute
from finance.present import formats
from finance.store.database import Store
from finance.store.dataset import UNKNOWN

from .conftest import open_dashboard, shown_text

CODE_NAME = re.compile(r"\(unknown\)|log_likelihood|: customers\b|\b[a-z]+_[a-z_]+\b")
"""What a reader must never see: the store's "(unknown)", a diagnostics key, a snake_case column name."""


@dataclass
class Recorded:
    """What the browser was sent: every message of each run, in order (the harness's queue keeps only
    the last of the updates of one element, a server flushes them as they come), and every file
    offered for download."""

    runs: list[list[ForwardMsg]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    pending: list[ForwardMsg] = field(default_factory=list)

    def last(self) -> list[ForwardMsg]:
        return self.runs[-1]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    out = Recorded()
    enqueue = ForwardMsgQueue.enqueue

    def sent(self: ForwardMsgQueue, msg: ForwardMsg) -> None:
        copy = ForwardMsg()
        copy.CopyFrom(msg)
        out.pending.append(copy)
        enqueue(self, msg)

    parse = local_script_runner.parse_tree_from_messages

    def run_ended(messages: list[ForwardMsg]) -> Any:
        out.runs.append(out.pending[:])
        out.pending.clear()
        return parse(messages)

    load = MemoryMediaFileStorage.load_and_get_id

    def offered(self: MemoryMediaFileStorage, data: str | bytes, mimetype: str, kind: Any,
                filename: str | None = None) -> str:
        if filename is not None and isinstance(data, bytes):
            out.files[filename] = data
        return load(self, data, mimetype, kind, filename)

    monkeypatch.setattr(ForwardMsgQueue, "enqueue", sent)
    monkeypatch.setattr(local_script_runner, "parse_tree_from_messages", run_ended)
    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", offered)
    return out


def _columns(element: Any) -> dict[str, dict[str, Any]]:
    """A shown table's column configuration (header label, number format) by column name."""
    return {k: v for k, v in json.loads(element.proto.columns).items() if k != "_index"}


def _table(at: AppTest, column: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The shown table that has ``column``: its values and its column configuration."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value, _columns(element)
    raise AssertionError(f"no table with {column!r}")


def _sent_table(messages: list[ForwardMsg], column: str) -> Any:
    """The last table element with ``column`` as the browser received it (its height included)."""
    found = [m.delta.new_element for m in messages if m.HasField("delta")
             and m.delta.new_element.WhichOneof("type") == "dataframe"
             and column in json.loads(m.delta.new_element.dataframe.columns or "{}")]
    assert found, f"no table with {column!r} was sent"
    return found[-1]


def _page_text(at: AppTest) -> str:
    """Every word on the page: titles, captions, text, and the headers and cells of its tables."""
    parts = [e.value for kind in ("title", "subheader", "caption", "markdown", "info") for e in at.get(kind)]
    for element in at.dataframe:
        parts += [str(c["label"]) for c in _columns(element).values() if "label" in c]
        parts += [str(v) for v in element.value.to_numpy().ravel().tolist() if isinstance(v, str)]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))  # Markdown as it reads: "\(" is "("


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# The LTV fits in business words
# ---------------------------------------------------------------------------------------------


def test_group_names_say_what_the_data_did_not_record() -> None:
    assert group_name((UNKNOWN,), {UNKNOWN}) == "All customers"
    assert group_name((UNKNOWN,), {"DTC", UNKNOWN}) == "Segment not recorded"
    assert group_name((UNKNOWN, "DTC"), {"DTC"}) == "Channel not recorded / DTC"
    assert group_name(("Paid Search", UNKNOWN), {UNKNOWN}) == "Paid Search / All customers"
    assert group_name(("DTC", "DTC"), {"DTC"}) == "DTC"  # a breakdown by segment names it once
    assert group_name(("Paid Search", "DTC"), {"DTC"}) == "Paid Search / DTC"


def test_the_ltv_page_shows_each_fit_in_business_words(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/ltv.py", query={"method": "bgnbd"})
    values, columns = _table(at, "log_likelihood")
    assert [c["label"] for c in columns.values()] == [
        "Customer group", "Model", "Customers", "Fitted on", "Fit quality (log-likelihood)"]
    drawn = shown_text(next(e for e in at.dataframe if "log_likelihood" in e.value.columns))
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    key, _, _ = demo_check_key(demo_db)
    core: LTVResult = compute(data, metric_params(Assumptions.from_settings(stored), method="bgnbd"),
                              backtest.load(demo_db, key)).ltv
    shown = {row["customer_group"]: row for row in values.to_dict("records")}
    assert set(shown) == {"DTC", "SMB", "Enterprise B2B"}
    assert sum(row["fitted_customers"] for row in shown.values()) == 20_000
    for (segment,), fit in core.fits.items():
        row = shown[segment]
        assert row["fitted_customers"] == fit.customers
        drawn_row = drawn[values["customer_group"] == segment].iloc[0]
        assert drawn_row["fitted_customers"] == formats.count(fit.customers)  # 13,000
        # written by the one formatter: whole, with thousands separators, n/a where there is none
        assert row["log_likelihood"] == formats.count(fit.log_likelihood)
        assert re.fullmatch(r"-?\d{1,3}(,\d{3})*|n/a", row["log_likelihood"])
    assert shown["DTC"]["log_likelihood"].startswith("-") and shown["DTC"]["model_label"] == "BG/NBD"
    assert shown["Enterprise B2B"]["log_likelihood"] == "n/a"  # BG/NBD would not fit: the churn formula has none
    _, params = _table(at, "parameter")
    assert [c["label"] for c in params.values()] == ["Customer group", "Model", "Customers", "Fitted figure", "Value"]
    text = _page_text(at)
    assert "log-likelihood" in text
    assert not CODE_NAME.search(text), CODE_NAME.search(text)


def test_fitted_figures_are_written_to_three_significant_figures() -> None:
    from finance.app.widgets import parameter_text

    values = (0.4897, 0.5216, 12.345, 1234.5, 3.0, 0.0004, -0.25, 500.0, 250.04, 99.96, float("nan"))
    written = [parameter_text(v, "", "USD") for v in values]
    assert written == ["0.49", "0.522", "12.3", "1,235", "3", "under 0.001", "-0.25", "500", "250", "100", "n/a"]
    assert parameter_text(0.0425, "percent", "USD") == "4.3%"  # half up, as everywhere
    assert parameter_text(23.14, "months", "USD") == "23.1 months"


def test_the_ltv_table_writes_each_range_as_one_column(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/ltv.py")
    values, columns = _table(at, "ltv_range")
    assert columns["ltv_range"]["label"] == "LTV range" and "ltv_low" not in columns and "p_below_1" not in columns
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    key, _, _ = demo_check_key(demo_db)
    core = compute(data, metric_params(Assumptions.from_settings(stored)), backtest.load(demo_db, key)).rows
    last = core.filter(pl.col("ltv_low").is_not_null()).row(-1, named=True)
    shown = dict(zip(values["period_label"], values["ltv_range"], strict=True))
    assert shown[last["period_label"]] == (f"{formats.money(last['ltv_low'], whole=True)} to "
                                           f"{formats.money(last['ltv_high'], whole=True)}")


def _without_segments(folder: Path) -> Path:
    """The demo company's files with no segment recorded for anyone; its database, with a model check."""
    folder.mkdir()
    for kind in ("spend", "funnel", "revenue"):
        shutil.copy(SAMPLE_DIR / f"{kind}.csv", folder / f"{kind}.csv")
    pl.read_csv(SAMPLE_DIR / "customers.csv").drop("segment").write_csv(folder / "customers.csv")
    db = folder / "unsegmented.duckdb"
    build_demo_db(db, sample_dir=folder)
    key, _, _ = demo_check_key(db)
    # no history to back-test is what the page says; the check's own process is not started
    backtest.save(db, key, backtest.ModelCheck("2025-12-31", [], 0.8, {}, {}, {}, {}))
    return db


def test_a_company_without_segments_reads_all_customers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = _without_segments(tmp_path / "files")
    at = open_dashboard(monkeypatch, db, "pages/ltv.py", query={"method": "cohort"})
    values, _ = _table(at, "log_likelihood")
    rows = values.to_dict("records")
    assert [row["customer_group"] for row in rows] == ["All customers"]
    assert rows[0]["fitted_customers"] == 20_000 and rows[0]["model_label"] == "sBG retention"
    assert re.fullmatch(r"-\d{1,3}(,\d{3})+", rows[0]["log_likelihood"])
    params, _ = _table(at, "parameter")
    assert set(params["customer_group"]) == {"All customers"}
    text = _page_text(at)
    assert "All customers" in text and not CODE_NAME.search(text), CODE_NAME.search(text)


# ---------------------------------------------------------------------------------------------
# Tables drawn whole
# ---------------------------------------------------------------------------------------------


def test_the_cac_table_shows_every_period_without_scrolling(monkeypatch: pytest.MonkeyPatch, demo_db: Path,
                                                            recorded: Recorded) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/cac.py")
    values, _ = _table(at, "cac_media")
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    core = compute(data, metric_params(Assumptions.from_settings(stored), method="formula")).rows
    periods = core.filter(pl.col("spend").is_not_null()).get_column("period_label").to_list()
    assert values["period_label"].tolist() == periods and periods[-1] == "2025-Q4"  # every one, the latest last
    assert len(periods) > 10  # more than the ten rows a table shows before it scrolls
    sent = _sent_table(recorded.last(), "cac_media")
    assert sent.height_config.WhichOneof("height_spec") == "use_content"  # as tall as its rows: no inner scrollbar


# ---------------------------------------------------------------------------------------------
# The CPL & CPA table and its downloads
# ---------------------------------------------------------------------------------------------

CPL_HEADERS = {
    "leads": ["Period", "Channel", "Direct spend", "Leads", "Cost per lead", "New customers", "Cost per acquisition"],
    "visitors": ["Period", "Channel", "Direct spend", "Visitors", "Cost per visitor", "New customers",
                 "Cost per acquisition"],
    "event_attendees": ["Period", "Channel", "Direct spend", "Spend: Events", "Event attendees",
                        "Cost per event attendee", "New customers", "Cost per acquisition"],
}


def test_the_cpl_cpa_page_tables_each_volume_by_channel_and_period(monkeypatch: pytest.MonkeyPatch, demo_db: Path,
                                                                   recorded: Recorded) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/cpl_cpa.py", query={"method": "formula"})
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    core = compute(data, metric_params(Assumptions.from_settings(stored), by="channel", method="formula")).rows
    latest = core.get_column("period_label").max()
    for volume, cost in (("leads", "cpl"), ("visitors", "cost_per_visitor"),
                         ("event_attendees", "cost_per_attendee")):
        if volume != "leads":
            at.button_group(key="cpl.volume").set_value(volume).run()
        assert not at.exception, at.exception
        values, columns = _table(at, cost)
        headers = [c["label"] for c in columns.values()]
        assert headers == CPL_HEADERS[volume][1:]  # one period on screen: the period is chosen above
        assert not any(CODE_NAME.search(h) for h in headers)
        assert values[volume].dtype.kind == "i" and values["new_customers"].dtype.kind == "i"  # counts are whole
        assert at.selectbox(key="cpl.period").value == latest  # the latest period first
        recorded_channels = set(core.filter(pl.col(volume) > 0).get_column("channel"))
        assert set(values["channel"]) == recorded_channels  # the channels that record this volume
        shown = values.set_index("channel")
        expected = core.filter(pl.col("period_label") == latest)
        for rec in expected.filter(pl.col("channel").is_in(list(recorded_channels))).iter_rows(named=True):
            assert shown.loc[rec["channel"], volume] == rec[volume]
            for money in ("direct_spend", cost, "cpa"):
                if rec[money] is not None:  # rounded to cents
                    written = Decimal(str(shown.loc[rec["channel"], money]))
                    assert written == written.quantize(Decimal("0.01")) and abs(written - _cents(rec[money])) <= 0.01
        drawn = shown_text(next(e for e in at.dataframe if cost in e.value.columns)).set_index(values["channel"])
        assert list(drawn[cost]) == [formats.money(v, "USD") for v in shown[cost]]  # $1,234.56, as everywhere
        assert _sent_table(recorded.last(), cost).height_config.WhichOneof("height_spec") == "use_content"

        # the downloads carry the same table: business headers, whole counts, money to the cent
        rows = list(csv.reader(io.StringIO(recorded.files[f"cpl_cpa_{volume}.csv"].decode("utf-8-sig"))))
        assert rows[0] == CPL_HEADERS[volume]
        periods = core.filter(pl.col("channel").is_in(list(recorded_channels))).get_column("period_label").n_unique()
        assert len(rows) - 1 == len(values) * periods  # every period
        first = dict(zip(rows[0], rows[1], strict=True))
        top = values.iloc[0].to_dict() | {"period_label": latest}
        assert first["Period"] == top["period_label"] and first["Channel"] == top["channel"]
        assert first[CPL_HEADERS[volume][3 if volume != "event_attendees" else 4]] == str(top[volume])
        spend = core.filter((pl.col("period_label") == top["period_label"]) & (pl.col("channel") == top["channel"]))
        assert Decimal(first["Cost per acquisition"]) == _cents(spend.item(0, "cpa"))
        book = openpyxl.load_workbook(io.BytesIO(recorded.files[f"cpl_cpa_{volume}.xlsx"]))
        sheet = book.worksheets[0]
        assert [c.value for c in sheet[1]] == CPL_HEADERS[volume]
        cells = dict(zip(CPL_HEADERS[volume], [c.value for c in sheet[2]], strict=True))
        assert cells["Period"] == top["period_label"] and isinstance(cells["New customers"], int)
        assert Decimal(str(cells["Cost per acquisition"])) == _cents(spend.item(0, "cpa"))
    # another period, chosen: its own figures
    earlier = sorted(core.get_column("period_label").unique())[0]
    at.selectbox(key="cpl.period").set_value(earlier).run()
    values, _ = _table(at, "cost_per_attendee")
    first = core.filter((pl.col("period_label") == earlier) & (pl.col("channel") == values.iloc[0]["channel"]))
    assert values.iloc[0]["event_attendees"] == first.item(0, "event_attendees")


# ---------------------------------------------------------------------------------------------
# Progress and an estimate for a long computation
# ---------------------------------------------------------------------------------------------

RUNNING = re.compile(r"Computing LTV: fitting BG/NBD to 20,000 customers in 23 groups, about "
                     r"(under 1 s|\d+ s|\d+ min( \d+ s)?) left")
FINISHED = re.compile(r"LTV computed: BG/NBD to 20,000 customers in 23 groups fitted in "
                      r"(under 1 s|\d+ s|\d+ min( \d+ s)?) \(estimated (\d+ s|\d+ min( \d+ s)?)\)")


def test_a_long_fit_shows_what_it_does_and_the_time_it_has_left(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path, recorded: Recorded) -> None:
    db = tmp_path / "fresh.duckdb"  # nothing of it computed in this process yet
    build_demo_db(db)
    at = open_dashboard(monkeypatch, db, "pages/ltv.py", query={"method": "formula"}, entry_script_reruns=True)
    assert not any("23 groups" in s.label for s in at.status)
    # BG/NBD for every channel within every segment: 16 fits of customer histories, estimated over 2 s
    at.selectbox(key="view.method").set_value("bgnbd")
    at.multiselect(key="view.channels").set_value(["Paid Search"])
    at.run()
    assert not at.exception, at.exception
    # done: the status has left the page (the charts keep their places), and a toast says what it took
    assert not [s for s in at.status if "23 groups" in s.label]
    done = [t.value for t in at.toast if "23 groups" in t.value]
    assert len(done) == 1 and FINISHED.fullmatch(done[0]), done

    # while it ran: the estimate first, then each step with the group it fits and the time left
    sent = [m.delta for m in recorded.last() if m.HasField("delta")]
    labels = [d.add_block.expandable.label for d in sent if d.add_block.WhichOneof("type") == "expandable"
              and "23 groups" in d.add_block.expandable.label]
    assert RUNNING.fullmatch(labels[0]), labels[0]
    assert sum(bool(RUNNING.fullmatch(label)) for label in labels) >= 39  # one update per step
    steps = [re.sub(r"\\(.)", r"\1", d.new_element.progress.text)  # as Markdown renders it: "\/" is "/"
             for d in sent if d.new_element.WhichOneof("type") == "progress" and "step " in d.new_element.progress.text]
    assert steps[0] == "Fitting DTC (13,000 customers): step 1 of 39."
    assert "Fitting Paid Search / DTC (2,848 customers): step 2 of 39." in steps
    assert any(s.startswith("Projecting ") for s in steps)
    shown = [d.new_element.progress.value for d in sent if d.new_element.WhichOneof("type") == "progress"]
    assert shown == sorted(shown) and shown[-1] > shown[0]  # the bar only moves forward

    # a second visit is served from the cache: no computation, no status, and the page laid out alike
    # (an element that came and went would shift the ones after it: Streamlit redraws them, tabs reset)
    layout = [type(node).__name__ for node in at.main]
    at.run()
    assert [type(node).__name__ for node in at.main] == layout
    assert not any("23 groups" in s.label for s in at.status) and not any("23 groups" in t.value for t in at.toast)


def test_the_planners_fits_show_their_progress_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   recorded: Recorded) -> None:
    db = tmp_path / "plan.duckdb"  # nothing of it computed in this process yet
    build_demo_db(db)
    at = open_dashboard(monkeypatch, db, "pages/planner.py", query={"method": "bgnbd"})
    done = [t.value for t in at.toast if t.value.startswith("LTV computed: BG/NBD")]
    assert len(done) == 1 and re.search(r"to 20,000 customers in \d+ groups fitted in .+ \(estimated .+\)", done[0])
    sent = [m.delta for m in recorded.last() if m.HasField("delta")]
    assert any(d.add_block.expandable.label.startswith("Computing LTV: fitting BG/NBD") for d in sent
               if d.add_block.WhichOneof("type") == "expandable")
    assert not [s for s in at.status if "groups" in s.label]  # gone once done


def test_a_short_computation_shows_nothing(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    class Place:  # where a status would be shown
        def status(self, label: str, **_: object) -> None:
            opened.append(label)

    monkeypatch.setattr(loaders.st, "empty", Place)
    monkeypatch.setattr(loaders.st, "toast", lambda label, **_: opened.append(label))
    with Store(demo_db, read_only=True) as store:
        data = store.dataset()
    reports: list[progress.Progress] = []
    note = loaders.ProgressNote()

    def both(p: progress.Progress) -> None:
        reports.append(p)
        note(p)

    compute(data, metric_params(Assumptions(), by="channel", method="formula"), progress=both)
    assert reports and reports[0].estimate < loaders.LONG_SECONDS and reports[-1].done == reports[-1].total == 39
    assert opened == []


def test_the_time_left_follows_the_pace_of_the_steps_done(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.0, 3.0, 4.0])  # began, step 1 begins, step 2 begins, finished
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    plan = [progress.Step("fit", ("DTC",), "bgnbd", 110_000), progress.Step("project", ("DTC",), "bgnbd", 100_000)]
    # fit: 0.12 + 8e-6 x 110,000 = 1.0 s; projection: 0.005 + 12e-6 x 100,000 = 1.205 s
    heard: list[progress.Progress] = []
    tracker = progress.Tracker(plan, heard.append, 110_000, lambda stratum: stratum[0])
    for step in plan:
        tracker.begin(step)
    tracker.finish()
    first, second, last = heard
    assert first.seconds_left == pytest.approx(2.205) and first.estimate == pytest.approx(2.205)
    assert (first.done, first.total, first.group, first.models, first.groups) == (0, 2, "DTC", ("bgnbd",), 1)
    # 3 s for a step estimated at 1 s: pace (3 + 0.5) / (1 + 0.5) = 2.33, so 1.205 s left reads 2.81 s
    assert second.done == 1 and second.seconds_left == pytest.approx(1.205 * 3.5 / 1.5)
    assert (last.done, last.step, last.seconds_left, last.elapsed) == (2, None, 0.0, 4.0)
