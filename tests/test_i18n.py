"""The dashboard and the board pack in English, French and Japanese (finance.present.i18n).

Every message the code marks has a French and a Japanese translation that keeps its placeholders;
money, numbers and dates follow each language's rules (written out here by hand, not by Babel);
``?lang=fr`` and ``?lang=ja`` turn the Overview's headings and money; the Japanese pack prints
Japanese (read back with ``pdftotext``).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from finance.present import formats
from finance.present.i18n import (
    LANGUAGES,
    SOURCES,
    _,
    catalog_path,
    language,
    messages,
    ngettext,
    speaking,
    translations,
)

from .conftest import ROOT, open_dashboard, shown_text

NNBSP, NBSP = "\u202f", "\u00a0"
TRANSLATED = [code for code in LANGUAGES if code != "en"]
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*\}")


def _catalog(code: str) -> dict[str | tuple[str, ...], str | tuple[str, ...]]:
    with catalog_path(code).open("rb") as source:
        return {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in read_po(source) if m.id}


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_in_the_code_is_translated_keeping_its_placeholders(code: str) -> None:
    catalog = _catalog(code)
    untranslated, broken = [], []
    for key, where in messages(ROOT).items():
        text = catalog.get(key)
        strings = [text] if isinstance(text, str) else list(text or ())
        if not strings or not all(strings):
            untranslated.append((key, where[0]))
            continue
        wanted = set(PLACEHOLDER.findall(key if isinstance(key, str) else key[1]))
        broken += [(key, s) for s in strings if set(PLACEHOLDER.findall(s)) != wanted]
    assert not untranslated, f"{len(untranslated)} messages without a {code} translation: {untranslated[:10]}"
    assert not broken, broken[:10]


@pytest.mark.parametrize("code", TRANSLATED)
def test_no_catalog_message_is_left_behind_by_the_code(code: str) -> None:
    """A message the code no longer writes is taken out of the catalogs, so a translator never works on one."""
    used = set(messages(ROOT))
    assert [key for key in _catalog(code) if key not in used] == []


def test_the_completeness_check_sees_a_new_label(tmp_path: Path) -> None:
    for pattern in SOURCES:
        if "/" in pattern:
            (tmp_path / pattern.rsplit("/", 1)[0]).mkdir(parents=True, exist_ok=True)
    (tmp_path / "pages" / "new.py").write_text('st.title(_("A label nobody translated"))\nx = N_("Another")\n'
                                               'y = ngettext("{n} row", "{n} rows", 2)\n')
    found = messages(tmp_path)
    assert "A label nobody translated" in found and "Another" in found and ("{n} row", "{n} rows") in found
    assert "A label nobody translated" not in _catalog("fr")


def test_no_message_is_marked_inside_an_f_string() -> None:
    """``f"{_('Band')}"`` translates but is invisible to extraction (Python 3.11 f-strings are one token)."""
    hidden = []
    for pattern in SOURCES:
        for path in ROOT.glob(pattern):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.JoinedStr):
                    hidden += [f"{path.name}:{call.lineno}" for call in ast.walk(node) if isinstance(call, ast.Call)
                               and isinstance(call.func, ast.Name) and call.func.id in ("_", "N_", "ngettext")]
    assert not hidden, hidden


def test_translations_are_used_and_english_is_the_source() -> None:
    assert language() == "en" and _("Overview") == "Overview"
    with speaking("fr"):
        assert _("Overview") == "Vue d'ensemble" and _("Marketing efficiency board pack").startswith("Dossier")
        assert ngettext("{months} month", "{months} months", 1).format(months=1) == "1 mois"
        with speaking("ja"):
            assert _("CAC") == "顧客獲得コスト（CAC）" and _("LTV") == "顧客生涯価値（LTV）"
        assert language() == "fr"
    assert language() == "en"
    with speaking("xx"):  # an unknown ?lang= is English
        assert language() == "en"
    assert translations("fr") is translations("fr")  # compiled once


@pytest.mark.parametrize(("code", "value", "currency", "text"), [
    ("en", Decimal("1234.56"), "USD", "$1,234.56"),
    ("en", Decimal("-50"), "GBP", "-£50.00"),
    ("fr", Decimal("1234.56"), "EUR", f"1{NNBSP}234,56{NBSP}€"),
    ("fr", Decimal("-1234567.891"), "EUR", f"-1{NNBSP}234{NNBSP}567,89{NBSP}€"),
    ("fr", Decimal("2.675"), "GBP", f"2,68{NBSP}£"),  # half-up, and "£", not "£GB"
    ("fr", Decimal("12"), "CHF", f"12,00{NBSP}CHF"),
    ("ja", Decimal("1234567"), "JPY", "¥1,234,567"),  # no decimals, the narrow yen (not "￥")
    ("ja", Decimal("1234.5"), "JPY", "¥1,235"),  # half-up to the yen
    ("ja", Decimal("1234.56"), "USD", "$1,234.56"),
    ("ja", Decimal("-0.004"), "EUR", "€0.00"),  # a rounded zero has no sign
])
def test_money_in_each_language(code: str, value: Decimal, currency: str, text: str) -> None:
    with speaking(code):
        assert formats.money(value, currency) == text


def test_numbers_and_dates_in_each_language() -> None:
    with speaking("fr"):
        assert formats.ratio(3.04) == "3,04x" and formats.count(12345) == f"12{NNBSP}345"
        assert formats.percent(0.125) == f"12,5{NBSP}%" and formats.percent(0.051, signed=True) == f"+5,1{NBSP}%"
        assert formats.months(7.5) == "7,5 mois" and formats.months(1) == "1 mois"
        assert formats.span(5, 6, formats.months) == "5 à 6 mois"
        assert formats.day(date(2026, 12, 5)) == "05 déc. 2026" and formats.na() == "n.d."
        assert formats.money_compact(2_770_000, "EUR") == f"2,77{NBSP}M{NBSP}€"
        assert formats.excel_money("EUR") == '#,##0.00\\ "€"'  # the symbol after the amount, as in French
        assert formats.d3_money("EUR") == ("", ",.2f", f"{NBSP}€") and formats.d3_separators() == f",{NNBSP}"
    with speaking("ja"):
        assert formats.day(date(2026, 12, 5)) == "2026年12月5日" and formats.months(12) == "12か月"
        assert formats.money_compact(2_770_000, "JPY") == "¥277万" and formats.money_compact(3.2e9, "JPY") == "¥32億"
        assert formats.duration(125) == "2分5秒" and formats.excel_money("JPY") == '"¥"#,##0'
    # English is unchanged
    assert formats.day(date(2026, 12, 5)) == "05 Dec 2026" and formats.money_compact(2_770_000) == "$2.77M"
    assert formats.excel_money("EUR") == '"€"#,##0.00' and formats.d3_separators() == ".,"


def test_the_language_is_read_from_the_url_and_written_back() -> None:
    from finance.app.views import ViewState

    assert ViewState.from_query({"lang": "ja"}).language == "ja"
    assert ViewState.from_query({"lang": "klingon"}).language == "en"  # a hand-edited link never breaks
    assert ViewState(language="fr").to_query() == {"lang": "fr"} and ViewState().to_query() == {}


@pytest.mark.parametrize(("code", "title", "tile", "money"), [
    ("fr", "Vue d'ensemble", "CAC complet", re.compile(r"^\d{1,3}(\u202f\d{3})*,\d\d\u00a0\$$")),
    ("ja", "概要", "フルコストCAC", re.compile(r"^\$\d{1,3}(,\d{3})*\.\d\d$")),
])
def test_the_overview_speaks_the_language_of_the_url(monkeypatch: pytest.MonkeyPatch, demo_db: Path, code: str,
                                                      title: str, tile: str, money: re.Pattern[str]) -> None:
    at = open_dashboard(monkeypatch, demo_db, query={"lang": code})
    assert at.title[0].value == title
    assert at.metric[0].label == tile and money.match(at.metric[0].value), at.metric[0].value
    assert at.metric[4].label == _catalog(code)["Marketing spend"]
    assert at.subheader[0].value == _catalog(code)["The mix behind the headline"]
    assert at.query_params["lang"] == code  # carried in the URL, so a shared link opens in the language
    assert at.selectbox(key="view.language").value == code
    at.switch_page("pages/cac.py").run()  # the page's URL loses its query; the session keeps the language
    assert not at.exception and at.query_params["lang"] == code


@pytest.mark.parametrize(("code", "money", "ratio"), [
    ("fr", re.compile(r"^\d{1,3}(\u202f\d{3})*,\d\d\u00a0\$$"), re.compile(r"^\d+,\d\dx$")),
    ("ja", re.compile(r"^\$\d{1,3}(,\d{3})*\.\d\d$"), re.compile(r"^\d+\.\d\dx$")),
])
def test_tables_write_numbers_in_the_language_and_sort_them_as_numbers(
        monkeypatch: pytest.MonkeyPatch, demo_db: Path, code: str, money: re.Pattern[str],
        ratio: re.Pattern[str]) -> None:
    """Streamlit's number formats follow the browser's language; the dashboard's tables follow the page's."""
    at = open_dashboard(monkeypatch, demo_db, "pages/cac.py", query={"lang": code}, entry_script_reruns=True)
    element = next(e for e in at.dataframe if "cac" in e.value.columns)
    values, drawn = element.value, shown_text(element)
    assert values["cac"].dtype.kind == "f"  # the table keeps the numbers: a click on the header sorts them as numbers
    with speaking(code):
        assert list(drawn["cac"]) == [formats.money(v, "USD") for v in values["cac"]]
        assert list(drawn["new_customers"]) == [formats.count(v) for v in values["new_customers"]]
    assert all(money.match(text) for text in drawn["cac"] if text != "n/a" and text != _catalog(code)["n/a"]), \
        list(drawn["cac"])
    at.switch_page("pages/overview.py").run()
    mix = next(e for e in at.dataframe if "ltv_cac" in e.value.columns)
    drawn = shown_text(mix)
    assert all(ratio.match(text) for text in drawn["ltv_cac"]), list(drawn["ltv_cac"])
    with speaking(code):
        assert list(drawn["share"]) == [formats.percent(v, places=2) for v in mix.value["share"]]


def test_choosing_a_language_in_the_sidebar(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    at = open_dashboard(monkeypatch, demo_db, entry_script_reruns=True)
    assert at.title[0].value == "Overview" and "lang" not in at.query_params
    at.selectbox(key="view.language").set_value("ja").run()
    assert not at.exception and at.title[0].value == "概要" and at.query_params["lang"] == "ja"


@pytest.mark.slow
def test_the_japanese_board_pack_prints_japanese(demo_db: Path, tmp_path: Path) -> None:
    from finance.present import pdf, report

    try:
        pdf.chromium_path()
    except pdf.PdfError as error:
        pytest.fail(f"{error} (`make install` installs it as root)")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) is needed: `make install` installs it as root"
    with speaking("ja"):
        pack = report.gather(demo_db)
        made = report.to_pdf(pack)
    path = tmp_path / "pack-ja.pdf"
    path.write_bytes(made)
    text = subprocess.run([pdftotext, path, "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)  # pdftotext may break a line anywhere in Japanese
    for words in ("取締役会資料：マーケティング効率", "エグゼクティブサマリー", "主要指標と推移", "予算要求",
                  "フルコストCAC", "前提条件", "新規顧客数", "ページ"):
        assert words in flat, words
    assert re.search(r"\$\d{1,3}(,\d{3})*\.\d\d", text)  # the demo's dollars, written the Japanese way
    assert "Executive summary" not in text and "Key figures and trend" not in text


# ---------------------------------------------------------------------------------------------
# Every word a page writes is in its language: only the data's own names and the product's
# acronyms are left as they are.
# ---------------------------------------------------------------------------------------------

TEXT_FIELDS = {"body", "label", "help", "options", "placeholder", "content", "caption", "default_value"}
ACRONYMS = {"LTV", "CAC", "CPL", "CPA", "CSV", "XLSX", "XLS", "ODS", "PDF", "SEO", "MQL", "MQLs", "SQL", "SQLs",
            "ARPA", "BG", "NBD", "sBG", "ROI", "USD", "EUR", "JPY", "GBP", "UTC", "URL", "JSON", "PR", "DuckDB",
            "Gamma", "gamma", "alpha", "beta"}
ENGLISH = re.compile(r"\b(the|and|of|to|is|are|for|with|this|that|from|by|each|not|which|when|has|have|be|"
                     r"was|were|will|its|their|yet|per|rows?|file|amounts?|new|shared|none|choose|load|"
                     r"spend|customers?|period|channel|revenue)\b", re.IGNORECASE)
"""Words a French page never writes (every word of the Japanese pages is checked)."""
NOT_TEXT = re.compile(r"`[^`]*`|https?://\S+|:material/[a-z_]+:|\S+\.(?:py|md|csv|duckdb)\b")


def _texts(node: Any, out: list[str]) -> list[str]:
    """Every text an element shows: headings, Markdown, captions, alerts, labels, help, options, tabs and
    expanders, table headers and the tables' written cells."""
    from google.protobuf.json_format import MessageToDict

    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "DESCRIPTOR"):
        def pick(value: Any, key: str = "") -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    pick(v, k)
            elif isinstance(value, list):
                for v in value:
                    pick(v, key)
            elif isinstance(value, str) and key in TEXT_FIELDS:
                out.append(value)
        data = MessageToDict(proto, preserving_proto_field_name=True)
        pick(data)
        if proto.DESCRIPTOR.name == "PlotlyChart" and proto.spec:
            figure = json.loads(proto.spec)
            layout = figure.get("layout", {})
            for name, part in layout.items():
                title = part.get("title") if name.startswith(("xaxis", "yaxis")) and isinstance(part, dict) \
                    else part if name == "title" else None
                if isinstance(title, dict):
                    out.append(str(title.get("text", "")))
            out.extend(str(note.get("text", "")) for note in layout.get("annotations", []))
            out.extend(str(trace.get("name", "")) for trace in figure.get("data", []))
        if node.__class__.__name__ == "Dataframe":
            out.extend(c.get("label") or "" for c in json.loads(proto.columns or "{}").values())
            if proto.arrow_data.HasField("styler"):
                drawn = shown_text(node)
                out.extend(str(v) for column in drawn.columns for v in drawn[column] if isinstance(v, str))
    for child in (getattr(node, "children", None) or {}).values():
        _texts(child, out)
    return out


def _data_names(db: Path) -> set[str]:
    """The names the demo company's data brings: channels, segments, the company, who changed what."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        queries = ("select channel from spend", "select channel from customers", "select segment from customers",
                   "select value from settings", "select changed_by from changes", "select file_name from imports",
                   "select imported_by from imports", "select name from scenarios")
        names = {row[0] for sql in queries for row in con.execute(sql).fetchall() if isinstance(row[0], str)}
    return names | set(LANGUAGES.values()) | {"Language · Langue · 言語"}


def english_left(texts: list[str], code: str, names: set[str]) -> list[str]:
    """The texts that still hold English words once the data's names and code are taken out."""
    left = []
    for text in texts:
        plain = NOT_TEXT.sub(" ", text.replace("\\", "").replace("<br>", " "))
        for name in sorted(names, key=len, reverse=True):
            plain = plain.replace(name, " ")
        words = ENGLISH.findall(plain) if code == "fr" else \
            [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", plain) if w not in ACRONYMS]
        if words:
            left.append(f"{text[:120]!r}: {words[:5]}")
    return left


PAGES = ["pages/overview.py", "pages/cac.py", "pages/cpl_cpa.py"]
"""The pages checked here (the Methodology cites English titles: tests/test_methodology_i18n.py checks it)."""


@pytest.mark.parametrize("code", TRANSLATED)
def test_no_english_is_left_on_the_pages(monkeypatch: pytest.MonkeyPatch, demo_db: Path, code: str) -> None:
    names = _data_names(demo_db)
    at = open_dashboard(monkeypatch, demo_db, query={"lang": code}, entry_script_reruns=True)
    left = []
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        texts = _texts(at._tree, [])
        assert len(texts) > 10, (page, texts)
        left += [f"{page}: {line}" for line in english_left(texts, code, names)]
    assert not left, "\n".join(left)


def test_the_english_check_sees_an_untranslated_label() -> None:
    names = {"Paid Search"}
    assert english_left(["Paid Search のCAC", "`FINANCE_DB` を設定"], "ja", names) == []
    assert english_left(["Cost category"], "ja", names) and english_left(["Load the file"], "fr", names)
    assert english_left(["Coût complet de Paid Search"], "fr", names) == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_ltv_progress_note_speaks_the_language(code: str) -> None:
    """The status and toast of a long LTV computation: the models listed as the language lists them."""
    from finance.app.loaders import ProgressNote
    from finance.ltv.progress import Progress

    done = Progress(done=39, total=39, step=None, group=None, models=("bgnbd", "sbg", "formula"),
                    customers=20_000, groups=23, elapsed=19.0, seconds_left=0.0, estimate=21.0)
    note = ProgressNote.__new__(ProgressNote)
    note.estimate = 21.0
    with speaking(code):
        text = note.finished(done)
        models = [_(words) for words in ("BG/NBD", "sBG retention", "the churn formula")]
        assert text.startswith(_("LTV computed: {work} fitted in {seconds} (estimated {estimate})").split("{")[0])
        assert formats.listed(models) in text and formats.count(20_000) in text and formats.duration(19.0) in text
    assert english_left([text], code, {"BG/NBD"}) == [], text


def test_every_editor_action_a_page_names_is_translated() -> None:
    """A refusal says what was refused (``writable_store(path, "importing a file")``) in the page's language:
    each action a page names is one of the declared ones, so the catalogs translate it."""
    from finance.app.auth import EDITOR_ACTIONS

    named = []
    for pattern in ("pages/*.py", "finance/app/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                        "writable_store", "require_editor"):
                    action = node.args[-1]
                    if isinstance(action, ast.Constant):
                        named.append((path.name, action.value))
    assert len(named) >= 9, named
    assert [n for n in named if n[1] not in EDITOR_ACTIONS] == []


@pytest.mark.parametrize(("code", "joined", "two", "aside"), [
    ("en", "range 1x; 2x", "LTV by BG/NBD. It held", "LTV (DTC)"),
    ("fr", "range 1x ; 2x", "LTV by BG/NBD. It held", "LTV (DTC)"),
    ("ja", "range 1x、2x", "LTV by BG/NBD。It held", "LTV（DTC）"),
])
def test_clauses_sentences_and_asides_are_joined_as_the_language_joins_them(code: str, joined: str, two: str,
                                                                            aside: str) -> None:
    with speaking(code):
        assert formats.clauses(["range 1x", None, "", "2x"]) == joined
        assert formats.sentences("LTV by BG/NBD", "It held") == two and formats.sentences("", "It held") == "It held"
        assert formats.aside("LTV", "DTC") == aside and formats.aside("LTV", "") == "LTV"
        assert formats.then("A.", "", "B.", "C.") == ("A.B.C." if code == "ja" else "A. B. C.")


def test_the_planner_writes_its_tables_in_the_language(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    """Its channel table as every table; its editable amounts in the reader's own number format (Streamlit
    writes an editor's cells itself), the currency said in the header."""
    at = open_dashboard(monkeypatch, demo_db, "pages/planner.py", query={"lang": "fr"}, entry_script_reruns=True)
    with speaking("fr"):
        spend, customers = _("Spend"), _("New customers")
        channels = next(e for e in at.dataframe if spend in e.value.columns and customers in e.value.columns)
        drawn = shown_text(channels)
        assert list(drawn[spend]) == [formats.money(v, "USD") for v in channels.value[spend]]
        french = re.compile(r"\d{1,3}(\u202f\d{3})*,\d\d\u00a0\$")
        assert all(french.fullmatch(text) for text in drawn[spend]), list(drawn[spend])
        assert list(drawn["R²"]) == [formats.significant(v) for v in channels.value["R²"]]
        amount = _("Amount")
    editors = [json.loads(e.proto.columns) for e in at.data_editor]
    amounts = [c["amount"] for c in editors if "amount" in c]
    assert amounts and amounts[0]["label"] == f"{amount} ($)" and amounts[0]["type_config"]["format"] == "localized"


def test_no_page_writes_a_bare_string() -> None:
    """Streamlit writes a page's bare string statement on the page ("magic"): a note meant for developers
    there would be shown to everyone, untranslated. Only a page's opening docstring may stand alone."""
    bare = []
    for path in [ROOT / "app.py", *sorted(ROOT.glob("pages/*.py"))]:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        bare += [f"{path.name}:{node.lineno}" for node in body[1:] if isinstance(node, ast.Expr)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
    assert bare == []


def test_a_chart_series_without_a_channel_is_named_in_the_language() -> None:
    import polars as pl

    from finance.present import charts

    rows = pl.DataFrame({"channel": ["Paid Search", None], "ltv_cac": [3.0, 1.0]})
    with speaking("fr"):
        names = [name for name, _rows in charts._series(rows, "channel")]
        assert names == ["Paid Search", _("Unattributed")] and _("Unattributed") != "Unattributed"
