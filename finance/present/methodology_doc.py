"""The methodology in a CFO's words (``docs/methodology.md``) in the language being written in.

English is the source; ``docs/methodology.<lang>.md`` is its translation (French and Japanese today),
kept in step with the English by ``tests/test_methodology_i18n.py``. A language with no translation
reads the English, and the Methodology page and the board pack say so.
"""

from __future__ import annotations

from pathlib import Path

from finance.present.i18n import DEFAULT_LANGUAGE, known

ENGLISH = Path(__file__).resolve().parents[2] / "docs" / "methodology.md"
"""The source: every translation follows it heading by heading, table by table, formula by formula."""


def path(code: str, english: Path | None = None) -> Path:
    """``docs/methodology.<code>.md`` next to ``english`` (:data:`ENGLISH`); ``english`` itself when ``code`` is
    English or has no translation."""
    code, english = known(code), english or ENGLISH
    translated = english.with_name(f"{english.stem}.{code}{english.suffix}")
    return translated if code != DEFAULT_LANGUAGE and translated.is_file() else english


def untranslated(code: str, english: Path | None = None) -> bool:
    """Whether a reader of ``code`` (not English) is given the English, for want of a translation."""
    return known(code) != DEFAULT_LANGUAGE and path(code, english) == (english or ENGLISH)
