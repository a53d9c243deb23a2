"""The LTV, Planner and Assumptions pages written wholly in French and Japanese, while the command line
and the JSON keep their English.

The words the LTV and planning layers write (why a segment has its model, where a fit's parameters come
from, each parameter's name, the planner's notes and warnings) are English sentences made from templates
declared once (``finance.ltv.words``, ``finance.planning.words``); the pages read them back and write
them from the catalogs (``finance.present.phrases``). Every expected text here is the English source
through ``speaking(code)`` and ``_()``, never a translation written by hand. The last check of each page
collects everything it shows (titles, captions, notes, table headers and text cells, widget labels) and
finds no English word but the data's own names and the product's acronyms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from babel.messages.pofile import read_po

from finance.domain.fx import OFFERED_CURRENCIES
from finance.ltv import words as ltv_words
from finance.ltv.methods import BGNBD, FORMULA, SBG, StratumFit
from finance.planning import words as plan_words
from finance.present import formats, phrases, settings_text
from finance.present.i18n import _, catalog_path, ngettext, speaking
from finance.store.database import Store

from .conftest import open_dashboard, run_cli_json

LANGUAGES = ("fr", "ja")
ACRONYMS = {"ltv", "cac", "cpa", "cpl", "roi", "cfo", "arpa", "bg", "nbd", "sbg", "gamma", "alpha", "beta", "utc",
            "pdf", "xlsx", "csv", "seo", "pr", "finance", "db", "hill"} | {c.lower() for c in OFFERED_CURRENCIES}
"""Words that are the same in every language: the product's acronyms, the models' and parameters' names
(BG/NBD, Gamma-Gamma p, sBG alpha), SEO and PR as the catalogs keep them, currency codes and a setting's
name (FINANCE_DB)."""


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{2,}", text)}


def _data_names(db: Path) -> set[str]:
    """The words of the data's own names: channels, segments, the company, the users in the change log."""
    with Store(db, read_only=True) as store:
        names = {str(v) for kind, column in (("spend", "channel"), ("customers", "channel"), ("customers", "segment"))
                 for v in store.frame(kind).get_column(column).unique().to_list() if v is not None}
        names |= {str(store.setting("demo_company") or "")}
        names |= {str(v) for v in store.changes().get_column("changed_by").to_list() if v}
    return set().union(*(_words(name) for name in names))


def _english_words() -> set[str]:
    """Words of the English source that French never uses: one of them on a French page is left untranslated."""
    with catalog_path("fr").open("rb") as source:
        catalog = read_po(source)
    english, french = set(), set()
    for message in catalog:
        if not message.id:
            continue
        for part in (message.id if isinstance(message.id, tuple) else (message.id,)):
            english |= _words(re.sub(r"\{\w+\}", " ", part))
        for part in (message.string if isinstance(message.string, tuple) else (message.string,)):
            french |= _words(re.sub(r"\{\w+\}", " ", part))
    return english - french


def _plain(text: Any) -> str:
    """A shown text without Markdown's escapes (``literal.markdown``)."""
    return re.sub(r"\\(.)", r"\1", str(text))


def _columns(frame_element: Any) -> dict[str, dict[str, Any]]:
    raw = getattr(frame_element.proto, "columns", "") or "{}"
    return json.loads(raw) if isinstance(raw, str) else {}


def _headers(frame_element: Any) -> list[str]:
    """A table's column headers as shown: each column's configured label, else its name; hidden ones left out."""
    config = _columns(frame_element)
    return [config.get(str(c), {}).get("label", str(c)) for c in frame_element.value.columns
            if not config.get(str(c), {}).get("hidden")]


def _by_header(frame_element: Any) -> dict[str, list[Any]]:
    """A table's columns as shown, by header (hidden ones left out)."""
    config = _columns(frame_element)
    return {config.get(str(c), {}).get("label", str(c)): frame_element.value[c].tolist()
            for c in frame_element.value.columns if not config.get(str(c), {}).get("hidden")}


def page_texts(at: Any) -> list[str]:
    """Everything the page's main area shows in words: titles, captions, notes, messages, table headers and
    text cells, and the labels, options and help of its widgets and tiles (the sidebar is another test's)."""
    main = at.main
    out: list[str] = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success"):
        out += [_plain(el.value) for el in getattr(main, kind)]
    for frame in [*main.dataframe, *main.table]:
        config = _columns(frame)
        out += _headers(frame)
        for column in frame.value.columns:
            if config.get(str(column), {}).get("hidden"):
                continue
            out += [_plain(v) for v in frame.value[column].tolist() if isinstance(v, str)]
    for kind in ("selectbox", "multiselect", "radio"):
        for el in getattr(main, kind):
            out += [str(el.label), *(str(o) for o in el.options if o), str(el.help or "")]
    for kind in ("button", "number_input", "text_input", "checkbox", "toggle", "expander", "tabs", "metric"):
        for el in getattr(main, kind):
            out += [str(el.label), str(getattr(el, "help", "") or "")]
    return [text for text in out if text]


def untranslated(texts: Iterable[str], code: str, allowed: set[str]) -> dict[str, list[str]]:
    """Each shown text that holds an English word, with the words: in Japanese any Latin word but ``allowed``,
    in French a word of the English source that French never uses."""
    english = _english_words() if code == "fr" else None
    found = {}
    for text in texts:
        left = _words(re.sub(r"[\w.-]+/[\w./-]+", " ", text)) - allowed - ACRONYMS  # a path: docs/metrics.md
        if english is not None:
            left &= english
        if left:
            found[text] = sorted(left)
    return found


def _open(monkeypatch: pytest.MonkeyPatch, db: Path, page: str, code: str) -> Any:
    return open_dashboard(monkeypatch, db, page, query={"lang": code}, entry_script_reruns=True)


# --- the LTV page -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_ltv_page_says_why_each_model_and_names_every_parameter_in_the_language(
        monkeypatch: pytest.MonkeyPatch, demo_db: Path, code: str) -> None:
    at = _open(monkeypatch, demo_db, "pages/ltv.py", code)
    frames = {tuple(_headers(f)): _by_header(f) for f in at.main.dataframe}
    with speaking(code):
        why, model_head = _("Why"), _("Model")
        picks = next(v for h, v in frames.items() if why in h)
        # the demo's check recommends each segment's model for its back-test error
        assert set(picks[why]) == {_(ltv_words.LOWEST_ERROR)}
        assert set(picks[model_head]) == {_("BG/NBD"), _("churn formula"), _("sBG retention")}
        # the notes under the fitted model: "DTC: BG/NBD had the lowest error in the back-test."
        captions = [_plain(c.value) for c in at.main.caption]
        for segment, model in (("DTC", "BG/NBD"), ("SMB", "sBG retention"), ("Enterprise B2B", "churn formula")):
            note = _(ltv_words.GROUP_NOTE).format(group=segment, reason=_(ltv_words.MODEL_LOWEST_ERROR).format(
                model=_(model)))
            assert _("{sentence}.").format(sentence=note) in captions
        fitted, source = _("Fitted figure"), _("Fitted on")
        params = next(v for h, v in frames.items() if fitted in h)
        shown = set(params[fitted])
        assert {_("Purchases per month of an active customer (average)"),
                _("Chance of stopping after each repeat purchase"), _("BG/NBD alpha (weeks)"), _("Gamma-Gamma p"),
                _("Gross margin per paying customer-month"),
                _("Monthly churn (customers lost per customer-month)"),
                _("Expected lifetime of a new customer")} <= shown
        assert set(params[_("Model")]) == {_("BG/NBD"), _("sBG retention"), _("churn formula")}
        quality = next(v for h, v in frames.items() if source in h)
        assert set(quality[source]) == {_(ltv_words.OWN_FIT)}
        table = next(v for h, v in frames.items() if _("Status") in h)
        assert set(table[_("Status")]) <= {_("complete"), _("partial"), _("awaiting revenue")}
        assert _("complete") in set(table[_("Status")])
    assert untranslated(page_texts(at), code, _data_names(demo_db)) == {}


def test_the_ltv_words_read_back_into_their_templates() -> None:
    """A sentence of the LTV layer, nested or with a name from the data, is written from its templates;
    a model's own technical error inside one stays as the model wrote it."""
    for code in LANGUAGES:
        with speaking(code):
            assert phrases.text("shrunk toward Paid Search / DTC") == _(ltv_words.SHRUNK_TOWARD).format(
                segment="Paid Search / DTC")
            assert phrases.text("pooled with all customers") == _(ltv_words.POOLED_WITH_ALL)
            steady = ("too little history for a back-test; 85% of customers who paid three times or more pay a "
                      "steady amount at a steady interval (subscriptions)")
            assert phrases.text(steady) == _(ltv_words.TOO_LITTLE_HISTORY).format(
                reason=_(ltv_words.STEADY_PAYERS).format(share=formats.percent(0.85, places=0)))
            failed = "SMB: sBG: nobody churned, so the churn probability cannot be estimated; the churn formula is used"
            assert _(ltv_words.CHURN_FORMULA_USED).format(
                error="sBG: nobody churned, so the churn probability cannot be estimated") in phrases.text(failed)
            assert phrases.text("Paid Search") == "Paid Search"  # a name from the data is no template's
    note = "DTC: BG/NBD had the lowest error in the back-test"
    with speaking("fr"):
        assert phrases.text(note) != note
    assert phrases.text(note) == note  # English: as the layer below wrote it
    assert phrases.text("no budget reaches LTV:CAC 20") == "no budget reaches LTV:CAC 20"


def _fit(model: str, names: tuple[str, ...], values: list[float], extra: dict[str, float]) -> StratumFit:
    return StratumFit(("DTC",), model, names, np.log(values), np.eye(len(values)) * 0.01, 100,  # type: ignore[arg-type]
                      extra)


def test_every_fitted_parameter_is_declared_for_translation() -> None:
    """What each method's ``describe`` names (every branch) is in ``finance.ltv.words.PARAMETERS``, so the
    catalogs translate it."""
    described = [
        FORMULA.describe(_fit("formula", ("monthly_churn",), [0.05], {"margin_per_month": 20.0})),
        SBG.describe(_fit("sbg", ("alpha", "beta"), [1.0, 5.0], {"margin_per_month": 20.0})),
        BGNBD.describe(_fit("bgnbd", ("r", "alpha", "a", "b"), [0.5, 4.0, 1.5, 10.0],
                            {"margin_pct": 0.6, "mean_spend": 80.0})),
        BGNBD.describe(_fit("bgnbd", ("r", "alpha", "a", "b", "p", "q", "gamma"), [0.5, 4.0, 1.5, 10.0, 4.0, 3.0, 20.0],
                            {"margin_pct": 0.6})),
        # BG/NBD's limit without dropout, the NBD
        BGNBD.describe(_fit("bgnbd", ("r", "alpha"), [0.5, 4.0], {"margin_pct": 0.6, "mean_spend": 80.0})),
    ]
    names = {name for words in described for name, _value, _unit in words}
    assert names == set(ltv_words.PARAMETERS)
    for code in LANGUAGES:
        with speaking(code):
            kept_as_written = ("BG/NBD", "NBD r", "Gamma-Gamma", "sBG beta")
            assert all(_(name) != name or name.startswith(kept_as_written) for name in names)


def test_the_json_keeps_the_ltv_explanations_in_english(demo_db: Path) -> None:
    code, out = run_cli_json("metrics", "--db", demo_db)
    assert code == 0
    model = out["ltv_model"]
    assert model["model_check"]["reasons"] == dict.fromkeys(("DTC", "Enterprise B2B", "SMB"), "lowest back-test error")
    assert sorted(model["notes"]) == ["DTC: BG/NBD had the lowest error in the back-test",
                                      "Enterprise B2B: churn formula had the lowest error in the back-test",
                                      "SMB: sBG retention had the lowest error in the back-test"]
    segments = {s["segment"]: s for s in model["segments"]}
    assert {s["source"] for s in segments.values()} == {"own fit"}
    assert {s["model_label"] for s in segments.values()} == {"BG/NBD", "sBG retention", "churn formula"}
    assert [p["name"] for p in segments["DTC"]["parameters"]][:4] == [
        "Purchases per month of an active customer (average)", "Chance of stopping after each repeat purchase",
        "BG/NBD r", "BG/NBD alpha (weeks)"]
    assert [p["name"] for p in segments["Enterprise B2B"]["parameters"]] == [
        "Monthly churn (customers lost per customer-month)", "Expected lifetime of a new customer",
        "Gross margin per paying customer-month"]


# --- the Planner page -------------------------------------------------------------------------------------


def _edit_paid_search(at: Any, amount: float) -> None:
    editor = at.data_editor[0]
    table = editor.value
    row = next(i for i, (channel, category) in enumerate(zip(table["channel"], table["category"], strict=True))
               if (channel, category) == ("Paid Search", "digital_advertising"))
    at.session_state[editor.key] = {"edited_rows": {row: {"amount": amount}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_planner_writes_its_tables_and_warnings_in_the_language(
        monkeypatch: pytest.MonkeyPatch, demo_db: Path, code: str) -> None:
    at = _open(monkeypatch, demo_db, "pages/planner.py", code)
    with speaking(code):
        editor = at.data_editor[0]
        assert _headers(editor) == [_("Channel"), _("Cost category"), formats.editor_header(_("Amount"), "USD")]
        shown = dict(zip(editor.value["channel"], editor.value["channel_shown"], strict=True))
        assert shown["(shared)"] == _("(shared)") != "(shared)" and shown["Paid Search"] == "Paid Search"
        compared = next(f for f in at.main.dataframe if _("Figure") in _headers(f))
        assert _(plan_words.WORKING) in _headers(compared)
        bounds = at.data_editor[1]
        assert _headers(bounds) == [_("Channel"), formats.editor_header(_("Minimum"), "USD"),
                                    formats.editor_header(_("Maximum"), "USD"), _("Locked at plan")]
        assert _columns(bounds)["locked"]["type_config"]["type"] == "checkbox"  # a box to tick, not "False"
        assert untranslated(page_texts(at), code, _data_names(demo_db)) == {}

        # far beyond Paid Search's largest quarter: its curve is extrapolated, and the page says so
        _edit_paid_search(at, 3_000_000.0)
        warnings = [_plain(w.value) for w in at.main.warning]
        prefix = _(plan_words.EXTRAPOLATED).split("{channels}")[0]
        assert any(w.startswith(prefix) and "Paid Search" in w for w in warnings), warnings

        # a goal seek's answer and a refused one
        at.number_input(key="plan.target_ratio").set_value(20.0)
        at.button(key="plan.seek_ratio").click().run()
        errors = [_plain(e.value) for e in at.main.error]
        assert _(plan_words.UNREACHABLE_RATIO).format(target=formats.threshold(20)) in errors, errors
        target = next(n for n in at.number_input if str(n.key).startswith("plan.target_customers"))
        target.set_value(3000.0)
        at.button(key="plan.seek_customers").click().run()
        answer = _plain(at.main.success[0].value)
        assert _(plan_words.SMALLEST_FOR_CUSTOMERS).format(customers=formats.count(3000)) in answer, answer
        assert untranslated(page_texts(at), code, _data_names(demo_db)) == {}


def test_the_planner_words_read_back_into_their_templates() -> None:
    with speaking("ja"):
        note = "Events: only 3 periods of history (need 4): constant CPA assumed"
        assert phrases.text(note) == _(plan_words.CHANNEL_NOTE).format(
            channel="Events", reason=_(plan_words.SHORT_HISTORY).format(periods="3", needed="4"))
        assert phrases.text("a scenario named 'Q1' exists; choose another name or replace it") == _(
            plan_words.NAME_TAKEN).format(name="'Q1'")
        assert phrases.text("the planner's working plan, saved as a scenario (request)") == _(
            plan_words.SAVED_WORKING_PLAN).format(kind=_("request"))


# --- the Assumptions page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_reporting_currency_form_and_the_change_log_speak_the_language(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: str) -> None:
    db = tmp_path / "empty.duckdb"
    Store(db).close()  # no amounts: the currency changes with nothing to convert
    at = _open(monkeypatch, db, "pages/assumptions.py", code)
    with speaking(code):
        box = next(s for s in at.main.selectbox if s.label == _("Reporting currency"))
        assert box.help == _("Every amount is converted again from the amounts as written, at the stored exchange "
                             "rates; refused, changing nothing, if a rate is missing.")
        button = next(b for b in at.main.button if b.label == _("Change the reporting currency"))
        box.set_value("EUR")
        button.click().run()
        assert not at.exception, at.exception
        flash = ngettext("The reporting currency is now {currency}: {rows} row converted again.",
                         "The reporting currency is now {currency}: {rows} rows converted again.", 0).format(
            currency="EUR", rows=formats.count(0))
        assert [_plain(s.value) for s in at.main.success] == [flash]
        log = next(f.value for f in at.main.dataframe if _("What changed") in f.value.columns)
        assert ngettext("Reporting currency: {before} → {after} ({rows} row converted again)",
                        "Reporting currency: {before} → {after} ({rows} rows converted again)", 0).format(
            before="USD", after="EUR", rows=formats.count(0)) in list(log[_("What changed")])
        assert untranslated(page_texts(at), code, _data_names(db)) == {}


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_currency_refused_for_want_of_rates_says_so_in_the_language(
        monkeypatch: pytest.MonkeyPatch, demo_db: Path, tmp_path: Path, code: str) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(demo_db.read_bytes())
    at = _open(monkeypatch, db, "pages/assumptions.py", code)
    with speaking(code):
        next(s for s in at.main.selectbox if s.label == _("Reporting currency")).set_value("EUR")
        next(b for b in at.main.button if b.label == _("Change the reporting currency")).click().run()
        [error] = [_plain(e.value) for e in at.main.error]
        head = ngettext("Nothing was changed: the reporting currency stays {before}, because {missing} exchange rate "
                        "is missing to convert the stored amounts to {after}: {detail}",
                        "Nothing was changed: the reporting currency stays {before}, because {missing} exchange rates "
                        "are missing to convert the stored amounts to {after}: {detail}", 2)
        assert error.startswith(head.split("{")[0]), error
        assert "USD" in error and "EUR" in error
    with Store(db, read_only=True) as store:
        assert store.setting("currency") in (None, "USD")  # nothing changed


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_import_history_is_written_in_the_language(tmp_path: Path, code: str) -> None:
    """The Data page's import history (written in ``settings_text``): headers, kinds, counts, months and
    statuses in the language; file names and people as stored."""
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,acquired_on\nC1,2025-01-15\nC2,2025-02-03\n")
    spend = tmp_path / "s.csv"
    spend.write_text("period,category,amount\n2025-Q1,personnel,1234.5\n")
    with Store(tmp_path / "h.duckdb", user="ops@example.com") as store:
        store.import_file("spend", spend)
        store.import_file("customers", customers)
        store.undo(2)
        with speaking(code):
            history = settings_text.import_history(store.imports(), "USD")
            rows = {r["#"]: r for r in history.iter_rows(named=True)}
            status, total, kind, covers = _("Status"), _("Total"), _("Kind"), _("Covers")
            assert rows["#1"][status] == _("in force") != "in force"
            assert rows["#2"][status].startswith(_("undone {moment}").split("{")[0])
            assert rows["#2"][total] == ngettext("{count} customer", "{count} customers", 2).format(count="2")
            assert rows["#1"][kind].lower() == _("spend").lower()
            assert rows["#1"][covers] == _("{start}\u2013{end}").format(start=formats.month(date(2025, 1, 1)),
                                                                      end=formats.month(date(2025, 3, 1)))
            assert untranslated([str(v) for r in rows.values() for v in r.values() if v is not None], code,
                                {"ops", "example", "com", "csv"}) == {}


@pytest.mark.parametrize("code", ["fr", "ja"])
def test_the_extrapolation_warning_writes_each_multiple_in_the_language(code: str) -> None:
    """The planner's list of channels beyond their history: names as written (a comma in one too), the
    multiples in the language; a list that does not read back is left whole rather than garbled."""
    english = plan_words.EXTRAPOLATED.format(channels="Content 1.5x, Organic Search, West 12.0x")
    with speaking(code):
        written = phrases.text(english)
        assert written == _(plan_words.EXTRAPOLATED).format(
            channels=f"Content {formats.significant(1.5)}x, Organic Search, West {formats.significant(12.0)}x")
        odd = plan_words.EXTRAPOLATED.format(channels="Content 1.5x and more")
        assert phrases.text(odd) == _(plan_words.EXTRAPOLATED).format(channels="Content 1.5x and more")
    assert ("1,5x" in written) == (code == "fr")
