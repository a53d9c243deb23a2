"""Text from the data, only ever as text: one rule for every place a name is shown.

Channel, campaign, segment, vendor and category names come from UTM tags, CRM fields and agency
invoices, which outsiders can set. Wherever such a name is shown it must read exactly as
written and do nothing else: no link, emphasis, image, LaTeX, HTML, formula or terminal control.
Each output has its own markup, so each has one function here, and every caller uses it:

- :func:`markdown`: Streamlit's Markdown (``st.markdown``, ``st.caption``, alerts, widget
  labels, tab and expander labels): every ASCII punctuation mark backslash-escaped, which
  CommonMark defines as the literal character, so ``[a](b)``, ``**``, ``$$``, ``:red[x]``,
  ``:material/x:`` and ``<b>`` print as typed; and an invisible word joiner after the ``:`` of
  ``https://``, after ``www`` and after ``@``, which the autolinker would otherwise still link.
- :func:`html`: HTML pages (the board pack): ``html.escape``.
- :func:`chart`: Plotly labels, legends and hovers, which Plotly renders as a small HTML
  subset (``<a href>``, ``<b>``, ``<br>``): entities escaped, which Plotly shows literally.
- :func:`terminal`: the command line's text output: control characters shown as escapes.
- :func:`cell`: a CSV or spreadsheet cell: prefixed with ``'`` when it would start a formula.

All of them first make invisible characters visible (:func:`visible`): control characters
(C0, DEL, C1) and the Unicode format characters that reorder or hide text (right-to-left
overrides, isolates, zero-width marks) are written as their ``\\u`` escapes, so a name can
neither hide text nor reorder what is around it.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

__all__ = ["FORMULA_TRIGGERS", "cell", "chart", "html", "markdown", "terminal", "visible"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel, LibreOffice or Sheets read a cell as a formula (OWASP)."""

WORD_JOINER = "\u2060"
"""Invisible, and not a character any name can hold once :func:`visible` has run: it breaks autolinks."""
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9+.-]):(?=//)|(?<=www)(?=\.)|@")
"""Where GitHub-flavoured Markdown starts a link in plain text, escaped or not (it links text
nodes after escapes are resolved): ``scheme:`` before ``//``, ``www`` before ``.``, and ``@``
(e-mail addresses). A word joiner goes right after each, so the text reads the same but is no link."""

_MARKDOWN_SPECIAL = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
"""CommonMark's ASCII punctuation: each may be backslash-escaped to stand for itself."""


_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp"))
"""Cc: C0 controls, DEL and C1 (ESC starts terminal sequences, CR/LF break lines); Cf: format
characters such as U+202E RIGHT-TO-LEFT OVERRIDE, the U+2066..2069 isolates and the zero-width
marks; Zl/Zp: the Unicode line and paragraph separators."""


def visible(text: object) -> str:
    """``text`` with control and format characters written as ``\\xNN`` / ``\\uNNNN`` escapes."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _HIDDEN else ch
                   for ch in value)


def markdown(text: object) -> str:
    """``text`` for Streamlit's Markdown: shown exactly as written, never as markup."""
    # A line break would end a list item or start a block; it is shown as its escape like any control.
    unlinked = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, visible(text))
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in unlinked)


def html(text: object) -> str:
    """``text`` for HTML element content or a quoted attribute."""
    return _html.escape(visible(text), quote=True)


def chart(text: object) -> str:
    """``text`` for a Plotly label, legend entry, tick or hover: Plotly decodes entities, so ``<a>``
    prints as typed instead of becoming a link."""
    return _html.escape(visible(text), quote=False)


def terminal(text: object) -> str:
    """``text`` for a terminal: escape sequences shown, never obeyed."""
    return visible(text)


def cell(text: str) -> str:
    """A text cell for CSV or a spreadsheet: ``'`` prefixed when it starts with a formula trigger.

    Numbers are written as numbers and never passed here. Control characters are kept: the
    file holds the data as imported, and spreadsheets show them inertly.
    """
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
