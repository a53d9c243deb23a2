"""The methodology in French and Japanese (docs/methodology.<lang>.md), on the page and in the board pack.

Each translation keeps the English source's shape: the same headings at the same levels, the same
paragraphs, lists and tables (rows and columns), the same emphasis, formulas, code, numbers and link
targets, and the product terms in the same sections. When docs/methodology.md changes and a
translation does not, these tests fail. The Methodology page and the pack's appendix show the
reader's language; a language with no translation reads the English and is told so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from finance.present import methodology_doc
from finance.present.i18n import LANGUAGES, _, speaking

from .conftest import ROOT, open_dashboard

if TYPE_CHECKING:
    from finance.present.report import BoardPack

ENGLISH = ROOT / "docs" / "methodology.md"
TRANSLATED = [code for code in LANGUAGES if code != "en"]
TITLES = {"en": "How every figure is computed", "fr": "Comment chaque chiffre est calculé",
          "ja": "すべての数値の算出方法"}
"""Each document's first heading, written out here (not read from the files) so a test can tell them apart."""
PRODUCT_TERMS = ("LTV:CAC", "LTV", "CAC", "CPL", "CPA", "ROI", "BG/NBD", "sBG")
SPELLED = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
           "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12"}
"""Numbers the English spells out, which a translation may write in figures (``直近4四半期``)."""


def _text(code: str) -> str:
    return methodology_doc.path(code).read_text(encoding="utf-8")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """The document's blocks in order: ``("h2", [line])``, ``("table", rows)``, ``("code", lines)``,
    ``("list", items)`` (each item with its wrapped lines joined) or ``("paragraph", [text])``."""
    blocks: list[tuple[str, list[str]]] = []
    for chunk in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = chunk.split("\n")
        if lines[0].startswith("#"):
            assert len(lines) == 1, chunk
            blocks.append((f"h{len(lines[0]) - len(lines[0].lstrip('#'))}", lines))
        elif all(line.startswith("|") for line in lines):
            blocks.append(("table", lines))
        elif all(line.startswith("    ") for line in lines):
            blocks.append(("code", lines))
        elif lines[0].startswith("- "):
            items: list[str] = []
            for line in lines:
                if line.startswith("- "):
                    items.append(line[2:].strip())
                else:
                    assert line.startswith("  "), f"a list line neither an item nor its continuation: {line!r}"
                    items[-1] += " " + line.strip()
            blocks.append(("list", items))
        else:
            blocks.append(("paragraph", [" ".join(line.strip() for line in lines)]))
    return blocks


def _emphasis(text: str) -> tuple[int, int]:
    """How many bold and italic spans ``text`` holds."""
    bold = len(re.findall(r"\*\*[^*]+\*\*", text))
    return bold, len(re.findall(r"\*[^*]+\*", re.sub(r"\*\*[^*]+\*\*", "", text)))


def _shape(text: str) -> list[tuple[object, ...]]:
    """Each block's kind and size: a heading's level, a table's cells per row, a list's items, and the
    bold and italic spans of each paragraph and item."""
    shape: list[tuple[object, ...]] = []
    for kind, lines in _blocks(text):
        if kind == "table":
            shape.append((kind, tuple(len(row.strip().strip("|").split("|")) for row in lines)))
        elif kind == "code":
            shape.append((kind, len(lines)))
        else:
            shape.append((kind, tuple(_emphasis(part) for part in lines)))
    return shape


def _sections(text: str) -> list[str]:
    return re.split(r"(?m)^(?=#)", text.strip())


def _numbers(text: str) -> set[str]:
    """The numbers written in figures, thousands separators dropped (``4,000``, ``4 000``: ``4000``)."""
    found = re.findall(r"\d{1,3}(?:[,\u202f\u00a0]\d{3})+(?!\d)|\d+(?:\.\d+)?", text)
    return {re.sub(r"[,\u202f\u00a0]", "", number) for number in found}


def _formulas(text: str) -> list[tuple[str, list[str]]]:
    """Each formula in order, as the figure it defines and its operators and numbers: a bold ``**X = ...**``,
    a ``**X** = ...`` list item, and the code block (``LTV = ... / (1 + ...)^(t / 12)``)."""
    found: list[tuple[str, list[str]]] = []
    for kind, parts in _blocks(text):
        if kind in ("h1", "h2", "h3", "table"):
            continue
        for part in (["\n".join(parts)] if kind == "code" else parts):
            spans = re.findall(r"\*\*([^*]*=[^*]*)\*\*", part)
            spans += [f"{name} {rest}" for name, rest in re.findall(r"\*\*([^*]+)\*\* (=.*)", part)]
            if kind == "code":
                spans.append(part.strip())
            for span in spans:
                name = re.match(r"\s*([A-Za-z:]+)\s*=", span)
                assert name, span
                found.append((name.group(1), re.findall(r"[=/()^+]|(?<= )[-x](?= )|\d+", span)))
    return found


def test_the_structure_checks_see_the_english() -> None:
    # The helpers below find what they look for in the source, so an empty comparison cannot pass for a match.
    english = ENGLISH.read_text(encoding="utf-8")
    shape = _shape(english)
    assert [kind for kind, *_ in shape].count("h2") == 8 and ("table", (3, 3, 3, 3, 3, 3, 3)) in shape
    assert ("table", (3, 3, 3, 3, 3)) in shape and ("code", 1) in shape
    assert {"36", "4000", "2007", "80", "150", "2026"} <= _numbers(english)
    assert _formulas(english) == [("LTV:CAC", ["=", "/"]),
                                  ("LTV", ["=", "/", "(", "1", "+", ")", "^", "(", "/", "12", ")"]),
                                  ("ROI", ["=", "(", "x", "-", ")", "/"])]
    assert methodology_doc.path("en") == ENGLISH and not methodology_doc.untranslated("en")


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_translation_keeps_the_english_structure(code: str) -> None:
    english, translated = ENGLISH.read_text(encoding="utf-8"), _text(code)
    assert methodology_doc.path(code) == ROOT / "docs" / f"methodology.{code}.md" != ENGLISH
    assert [kind for kind, *_ in _shape(translated)] == [kind for kind, *_ in _shape(english)]  # headings, blocks
    assert _shape(translated) == _shape(english)  # table rows and columns, list items, bold and italic spans
    assert _formulas(translated) == _formulas(english)
    assert re.findall(r"`[^`]+`", translated) == re.findall(r"`[^`]+`", english)
    assert re.findall(r"\]\(([^)\s]+)", translated) == re.findall(r"\]\(([^)\s]+)", english)
    # Every number of the English, and no other: a figure may stand for a number the English spells out.
    spelled = {SPELLED[word] for word in re.findall(r"[a-z]+", english.lower()) if word in SPELLED}
    assert _numbers(english) <= _numbers(translated) <= _numbers(english) | spelled, (
        _numbers(english) - _numbers(translated), _numbers(translated) - _numbers(english) - spelled)
    assert not re.search(r"[\uff10-\uff19\uff05]", translated)  # figures and % in ASCII, as the dashboard writes them
    for number, (source, section) in enumerate(zip(_sections(english), _sections(translated), strict=True)):
        for term in PRODUCT_TERMS:
            assert (term in source) <= (term in section), (number, term)


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_translation_is_written_in_its_language(code: str) -> None:
    translated = _text(code)
    headings = [lines[0] for kind, lines in _blocks(translated) if kind.startswith("h")]
    english_headings = [lines[0] for kind, lines in _blocks(ENGLISH.read_text(encoding="utf-8"))
                        if kind.startswith("h")]
    assert headings[0] == f"# {TITLES[code]}"
    assert sum(ours == theirs for ours, theirs in zip(headings, english_headings, strict=True)) <= 1  # "Sources"
    # The dashboard's own words for what the methodology explains (its catalog's), not new coinages.
    for message in ("Fully loaded CAC", "Media-only CAC", "Sales and marketing CAC", "Cohort retention (sBG)",
                    "Response curves", "Optimised split", "Goal seek", "unprofitable", "under-investing?"):
        with speaking(code):
            words = _(message)
        assert words != message, message
        assert re.sub(r"\s", "", words).casefold() in re.sub(r"\s", "", translated).casefold(), (message, words)


@pytest.mark.parametrize("code", ["en", *TRANSLATED])
def test_the_methodology_page_reads_in_the_language_of_the_url(monkeypatch: pytest.MonkeyPatch, demo_db: Path,
                                                               code: str) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/methodology.py", query={"lang": code})
    shown = "\n".join(block.value for block in at.markdown)
    assert f"# {TITLES[code]}" in shown
    assert all(f"# {TITLES[other]}" not in shown for other in TITLES if other != code)
    assert not at.info  # a translation, so no "documented in English"


def test_a_language_without_a_translation_reads_the_english_and_is_told(
        monkeypatch: pytest.MonkeyPatch, demo_db: Path, tmp_path: Path) -> None:
    english = tmp_path / "methodology.md"
    english.write_text(ENGLISH.read_text(encoding="utf-8"), encoding="utf-8")
    assert methodology_doc.path("fr", english) == english and methodology_doc.untranslated("fr", english)
    (tmp_path / "methodology.fr.md").write_text(_text("fr"), encoding="utf-8")
    assert methodology_doc.path("fr", english) == tmp_path / "methodology.fr.md"
    assert methodology_doc.untranslated("ja", english) and not methodology_doc.untranslated("fr", english)

    monkeypatch.setattr(methodology_doc, "ENGLISH", english)
    at = open_dashboard(monkeypatch, demo_db, "pages/methodology.py", query={"lang": "ja"})
    with speaking("ja"):
        note = _("The methodology is documented in English.")
    assert note != "The methodology is documented in English." and [box.value for box in at.info] == [note]
    assert f"# {TITLES['en']}" in "\n".join(block.value for block in at.markdown)


@pytest.fixture(scope="module")
def japanese_pack(demo_db: Path) -> BoardPack:
    from finance.present import report

    with speaking("ja"):
        return report.gather(demo_db)


@pytest.mark.slow
def test_the_japanese_pack_prints_the_japanese_methodology(japanese_pack: BoardPack, tmp_path: Path) -> None:
    from finance.present import pdf, report

    assert japanese_pack.methodology.startswith(f"# {TITLES['ja']}")
    with speaking("ja"):
        appendix = report.document(japanese_pack).sections[-1]
        made = report.to_pdf(japanese_pack)
    assert [type(block) for block in appendix.blocks] == [pdf.Markdown]  # no "documented in English" note
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) is needed: `make install` installs it as root"
    path = tmp_path / "pack-ja.pdf"
    path.write_bytes(made)
    text = subprocess.run([pdftotext, path, "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)  # pdftotext may break a line anywhere in Japanese
    appendix_text = flat[flat.index(TITLES["ja"]):]  # the methodology's first heading opens the appendix
    for words in ("主要指標：LTV:CAC", "フルコストCAC", "顧客生涯価値", "解約率の計算式", "コホート継続率（sBG）",
                  "各月tの粗利/(1+割引率)^(t/12)", "出典"):
        assert words in appendix_text, words
    for english in (TITLES["en"], "The headline", "Lifetime value", "Payback and ROI",
                    "The methodology is documented in English"):
        assert re.sub(r"\s", "", english) not in flat, english


def test_a_pack_without_a_translation_says_its_methodology_is_in_english(
        japanese_pack: BoardPack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from finance.present import pdf, report

    english = tmp_path / "methodology.md"
    english.write_text(ENGLISH.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(report, "METHODOLOGY", english)
    with speaking("ja"):
        blocks = report.document(japanese_pack).sections[-1].blocks
        note = _("The methodology is documented in English.")
        assert report._methodology().startswith(f"# {TITLES['en']}")
    assert isinstance(blocks[0], pdf.Paragraph) and blocks[0].text == note and isinstance(blocks[1], pdf.Markdown)
    with speaking("en"):  # English is never "documented in English"
        assert [type(block) for block in report.document(japanese_pack).sections[-1].blocks] == [pdf.Markdown]
