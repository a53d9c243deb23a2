"""The English sentences of the LTV and planning layers, written in the language being written in.

Below the present layer a sentence is English, made from a template declared once
(``finance.ltv.words``, ``finance.planning.words``): the command line and the JSON print it as it is,
and a model check stored on disk keeps it. Here it is read back into its template and fields, and
written again from the template's translation, each field by what it holds (:data:`FIELD_KINDS`):
another sentence is translated in turn, a model's name is translated, a number is written by the
language's rules, and a name from the data (a channel, a segment) stays as it is. A text that is no
template's (a model's own technical error) is left in English.

The result is plain text: a caller puts it in Markdown through ``finance.domain.literal``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from finance.ltv import words as ltv_words
from finance.planning import words as plan_words
from finance.present import formats
from finance.present.i18n import DEFAULT_LANGUAGE, _, language

FIELD_KINDS = {
    "reason": "sentence", "error": "sentence", "warning": "sentence",
    "model": "name", "kind": "name",
    "share": "percent",
    "customers": "count", "reachable": "count", "periods": "count", "needed": "count",
    "target": "multiple",
    "channels": "multiples",
}
"""What each template field holds, by its name; a field not listed is a name from the data, kept as it is."""

TEMPLATES: tuple[str, ...] = (*ltv_words.SENTENCES, *plan_words.SENTENCES)
"""Every sentence template a text may be read back into."""
NAMES: frozenset[str] = frozenset((*ltv_words.MODEL_NAMES, *ltv_words.PARAMETERS, plan_words.WORKING,
                                   *plan_words.SCENARIO_KINDS))
"""Names declared below the present layer that are translated as a whole."""

_FIELD = re.compile(r"\{(\w+)\}")


@functools.lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern[str], int]]:
    """Each template as a pattern matching a whole text, with the length of its literal words."""
    out = []
    for template in TEMPLATES:
        pattern, at = "", 0
        for field in _FIELD.finditer(template):
            pattern += re.escape(template[at:field.start()]) + f"(?P<{field.group(1)}>.+?)"
            at = field.end()
        pattern += re.escape(template[at:])
        out.append((template, re.compile(pattern, re.DOTALL), len(_FIELD.sub("", template))))
    return out


def read(text: str) -> tuple[str, dict[str, str]] | None:
    """The template ``text`` was written from and its fields' English text; None if it is no template's.

    Of the templates that fit, one whose fields make sense (a model's name, a number where one is due:
    "DTC: BG/NBD had the lowest error..." is a note on DTC, not a model named "DTC: BG/NBD") with the most
    words of its own wins, then the one whose sentences are templates' too. A template with no words
    of its own ("{group}: {reason}") fits only around a sentence that is a template's, so a model's own error
    ("sBG: nobody churned, ...") is not taken for a note on a group called "sBG"."""
    best: tuple[tuple[int, int], str, dict[str, str]] | None = None
    for template, pattern, literal in _patterns():
        found = pattern.fullmatch(text)
        if found is None:
            continue
        fields = found.groupdict()
        if any(_field(name, value) is None for name, value in fields.items()
               if FIELD_KINDS.get(name) not in ("sentence", None)):
            continue
        sentences = [value for name, value in fields.items() if FIELD_KINDS.get(name) == "sentence"]
        known = sum(1 for value in sentences if value in NAMES or read(value) is not None)
        if known < len(sentences) and not re.search(r"[A-Za-z]", _FIELD.sub("", template)):
            continue  # "{group}: {reason}" has no words of its own: only a reason that is a template's says it is one
        if best is None or (literal, known) > best[0]:
            best = ((literal, known), template, fields)
    return None if best is None else (best[1], best[2])


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _field(name: str, value: str) -> str | None:
    """A field in the language, by what it holds; None when it does not hold what its name says."""
    kind = FIELD_KINDS.get(name, "data")
    if kind == "sentence":
        return text(value)
    if kind == "name":
        return _(value) if value in NAMES else None
    if kind == "percent":
        share = _number(value[:-1]) if value.endswith("%") else None
        return None if share is None else formats.percent(share / 100, places=0)
    if kind == "count":
        number = _number(value)
        return None if number is None else formats.count(number) if number == int(number) \
            else formats.significant(number)
    if kind == "multiples":  # "Paid Search 1.5x, Events 2.0x": each channel as written, its multiple in the language
        items = re.findall(r"(.+?) (\d+(?:\.\d+)?)x(?:, |$)", value)
        if not items or ", ".join(f"{name} {multiple}x" for name, multiple in items) != value:
            return value  # names the list cannot be told apart in: kept whole, as written
        return ", ".join(f"{name} {formats.significant(float(multiple))}x" for name, multiple in items)
    if kind == "multiple":
        multiple = _number(value.removesuffix("x"))  # 3x, or 3 after "LTV:CAC"
        return None if multiple is None else formats.threshold(multiple)
    return value


def text(english: object) -> str:
    """An English sentence (or name) of the layers below, in the language being written in."""
    english = str(english)
    if language() == DEFAULT_LANGUAGE:
        return english  # as the layer below wrote it, to the character
    if english in NAMES:
        return _(english)
    found = read(english)
    if found is None:
        return english
    template, fields = found
    return _(template).format(**{name: _field(name, value) or value for name, value in fields.items()})


def texts(english: Iterable[object]) -> list[str]:
    return [text(e) for e in english]
