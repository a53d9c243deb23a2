"""The language the dashboard and the board pack are written in, and their translated words.

English is the source language: every label in the code is English, marked ``_("...")`` where it is
shown (or ``N_("...")`` where it is declared, then ``_(label)`` where it is shown). The French and
Japanese words are gettext catalogs kept as ``.po`` sources in ``finance/present/locale/<lang>/LC_MESSAGES/``,
compiled in memory the first time a language is used (nothing is downloaded or written at run time).

The language is a context variable: the dashboard sets it at the start of every run of a session
(Streamlit runs each session's script in its own thread, so sessions never see each other's), the
board pack and the tests set it around what they write (:func:`speaking`). The JSON and the command
line never set it: they stay in English, their keys unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "fr": "Français", "ja": "日本語"}
"""Each language the dashboard speaks, named in itself (as the language picker shows it)."""
DEFAULT_LANGUAGE = "en"
LOCALES = {"en": "en_US", "fr": "fr_FR", "ja": "ja_JP"}
"""The Babel locale whose number and date rules each language writes with."""
DOMAIN = "finance"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
"""The catalogs: ``<lang>/LC_MESSAGES/finance.po`` (the present layer owns the words shown to people)."""

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def language() -> str:
    """The language being written in: ``en``, ``fr`` or ``ja``."""
    return _language.get()


def locale() -> str:
    """The Babel locale of the language being written in (``fr_FR``)."""
    return LOCALES[language()]


def known(code: object) -> str:
    """``code`` if it is a language the dashboard speaks, else English: a hand-edited ``?lang=`` never breaks."""
    return code if isinstance(code, str) and code in LANGUAGES else DEFAULT_LANGUAGE


def set_language(code: str) -> None:
    """Write in ``code`` from now on in this thread (the dashboard: once at the start of each run)."""
    _language.set(known(code))


@contextlib.contextmanager
def speaking(code: str) -> Iterator[None]:
    """Write in ``code`` inside the ``with`` block, then in the language before."""
    token = _language.set(known(code))
    try:
        yield
    finally:
        _language.reset(token)


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=8)  # one per language
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalog of ``code`` (English: the source words themselves)."""
    if code == DEFAULT_LANGUAGE or not catalog_path(code).exists():
        return gettext.NullTranslations()
    with catalog_path(code).open("rb") as source:
        catalog = read_po(source, locale=LOCALES[code], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """``message`` in the current language (English when it has no translation)."""
    return translations(language()).gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural of a message for ``n``, in the current language."""
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a label declared once (a constant, a table of labels) for translation where it is shown."""
    return message


def declared_labels() -> list[str]:
    """English words declared below the present layer that the dashboard and the pack show translated
    (by their words as the msgid): the metric registry's labels, the cost categories, the health bands,
    the assumptions' labels, the response curves' names, the projected figures' labels, the import
    problems' titles and what each expected, and the LTV and planning layers' names and sentence templates
    (``finance.ltv.words``, ``finance.planning.words``)."""
    from finance.domain.assumptions import LABELS
    from finance.domain.problems import CODES, TITLES
    from finance.domain.schema import BAND_LABELS, CATEGORIES
    from finance.ltv import words as ltv_words
    from finance.metrics import measures
    from finance.planning import words as plan_words
    from finance.planning.curves import CURVE_NAMES
    from finance.planning.plans import FIGURES

    return [*(figure.label for figure in measures.FIGURES), *(c.label for c in CATEGORIES.values()), *BAND_LABELS,
            *LABELS.values(), *CURVE_NAMES.values(), *(label for label, _unit in FIGURES.values()),
            *TITLES.values(), *(expected for _severity, expected in CODES.values()),
            *ltv_words.LABELS, *plan_words.LABELS]


KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
"""The calls whose first argument (``ngettext``: first two) is a message to translate."""
SOURCES = ("app.py", "pages/*.py", "finance/app/*.py", "finance/present/*.py")
"""Where the dashboard's and the pack's words are written (the command line and the JSON stay English)."""


def messages(root: Path | None = None) -> dict[str | tuple[str, str], list[str]]:
    """Every message the code marks for translation, with where it is (``path:line``), plus
    :func:`declared_labels`: what the catalogs must translate. A plural is ``(singular, plural)``."""
    from babel.messages.extract import extract

    base = root or LOCALE_DIR.parents[2]
    found: dict[str | tuple[str, str], list[str]] = {}
    for pattern in SOURCES:
        for path in sorted(base.glob(pattern)):
            with path.open("rb") as source:
                for line, message, _comments, _context in extract("python", source, keywords=KEYWORDS):
                    key = message if isinstance(message, str) else (message[0], message[1])
                    if key:
                        found.setdefault(key, []).append(f"{path.relative_to(base).as_posix()}:{line}")
    for label in declared_labels():
        found.setdefault(label, []).append("declared below the present layer")
    return found
