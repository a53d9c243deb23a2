"""Which text encoding an export is written in: byte-order marks, strict decodes, then the likeliest.

A file that is not UTF-8 or UTF-16 is decoded strictly in each legacy encoding read (Japanese,
Chinese, Western European). Only the encodings it decodes in compete: each is scored by how
ordinary its reading of the file's non-ASCII characters is for its language (the frequently used
characters of its national standard, kana only for Japanese, letters and the usual signs for
Western European), and a statistical detector (charset-normalizer) settles a near tie. When
readings still tie, the file is refused with each reading shown and the likeliest suggested:
the person who knows the file chooses, and nothing is read as mojibake in silence.

Detection on a few characters is unreliable, so the decision never rests on the detector alone.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass

import charset_normalizer

from finance.domain.problems import Problem, problem

ENCODINGS: dict[str, tuple[str, str]] = {
    "utf-8": ("utf-8-sig", "UTF-8"),
    "utf-16": ("utf-16", "UTF-16"),
    "windows-1252": ("cp1252", "Windows-1252"),
    "iso-8859-15": ("iso8859_15", "ISO-8859-15"),
    "shift_jis": ("cp932", "Shift_JIS"),
    "euc-jp": ("euc_jp", "EUC-JP"),
    "gb18030": ("gb18030", "GB18030"),
    "big5": ("cp950", "Big5"),
}
"""The encodings read: name (as ``--encoding`` takes it) -> (Python codec, its usual name).

Shift_JIS is read as Windows' cp932 and Big5 as cp950, the supersets Windows writes; GB18030
includes GBK and GB2312."""

LANGUAGES = {"windows-1252": "Western European", "iso-8859-15": "Western European, with €",
             "shift_jis": "Japanese", "euc-jp": "Japanese", "gb18030": "Simplified Chinese",
             "big5": "Traditional Chinese"}
LEGACY = ("shift_jis", "euc-jp", "gb18030", "big5", "windows-1252", "iso-8859-15")
"""Tried in this order when a file is neither UTF-8 nor UTF-16; an exact tie goes to the first."""

_ALIASES = {"utf_8": "utf-8", "utf_8_sig": "utf-8", "utf_16": "utf-16", "utf_16_le": "utf-16",
            "utf_16_be": "utf-16", "cp1252": "windows-1252", "iso8859_1": "windows-1252",
            "iso8859_15": "iso-8859-15", "shift_jis": "shift_jis", "cp932": "shift_jis",
            "shift_jisx0213": "shift_jis", "shift_jis_2004": "shift_jis", "euc_jp": "euc-jp",
            "euc_jisx0213": "euc-jp", "euc_jis_2004": "euc-jp", "gb18030": "gb18030", "gbk": "gb18030",
            "gb2312": "gb18030", "big5": "big5", "cp950": "big5", "big5hkscs": "big5"}
"""Python's name of a codec -> the encoding read for it (Latin-1 files are read as Windows-1252,
which agrees with it on every printable character)."""

SAMPLE_BYTES = 1 << 20
"""The opening that decides among the encodings that decode (then the whole file must decode too)."""
_TIE = 0.1
"""Readings whose scores are this close compete: the detector, then the person, decides."""
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_LEAST = 0.5
"""Below this share of ordinary characters no reading is text in any encoding read..."""
_EVIDENCE = 8
"""...when at least this many characters are not ASCII (a lone ½ is no evidence)."""
_COMMON_RANGE = {"shift_jis": (0x889F, 0x9872), "euc-jp": (0xB0A1, 0xCFD3), "gb18030": (0xB0A1, 0xD7F9),
                 "big5": (0xA440, 0xC67E)}
"""Each CJK encoding's frequently used characters, by their two bytes: JIS X 0208 level 1, GB2312
level 1 and Big5's frequently used block."""
_LATIN_SIGNS = {chr(c) for c in (0x20AC, 0xA3, 0xA5, 0xA2, 0xA7, 0xA9, 0xAE, 0xB0, 0xB1, 0xB7, 0xD7, 0xF7, 0xAB,
                                  0xBB, 0xA1, 0xBF, 0x2018, 0x2019, 0x201A, 0x201C, 0x201D, 0x201E, 0x2026,
                                  0x2013, 0x2014, 0x2022, 0x2122)}
"""Signs a Western European text writes: euro, pound, yen, cent, section, copyright, registered, degree,
plus-minus, middle dot, times, divide, guillemets, inverted marks, curly quotes, ellipsis, dashes, bullet,
trade mark. The spacing accents, currency sign, broken bar and fractions (0xA4 0xA6 0xA8 0xB4 0xB8
0xBC-0xBE) are not: where ISO-8859-15 has the euro and letters (Š š Ž ž Œ œ Ÿ) Windows-1252 has those
signs, which tells the two apart."""


def encoding_name(text: str) -> str | None:
    """The encoding read for a name as people write it (``Shift-JIS``, ``cp932``, ``utf8``), or None."""
    try:
        python = codecs.lookup(text.strip()).name.replace("-", "_")
    except LookupError:
        return None
    return _ALIASES.get(python)


def label(name: str) -> str:
    """An encoding as a person recognises it: ``Shift_JIS (Japanese)``."""
    usual = ENCODINGS[name][1]
    return f"{usual} ({LANGUAGES[name]})" if name in LANGUAGES else usual


@dataclass(frozen=True)
class Reading:
    """A file's bytes as text, and the encoding read."""

    text: str
    encoding: str
    detected: bool = True
    """False when the encoding was chosen by the person importing."""

    @property
    def problems(self) -> list[Problem]:
        if not self.detected or self.encoding in ("utf-8", "utf-16"):
            return []
        return [problem("encoding", f"the file is not UTF-8; it was read as {ENCODINGS[self.encoding][1]}")]


def as_written(reading: Reading) -> Reading:
    """The text as its people see it: a Shift_JIS file written on Japanese Windows shows byte 0x5C as
    the yen sign ¥ (JIS X 0201), which cp932 decodes as a backslash; "\\1,234,567" is ¥1,234,567."""
    if reading.encoding == "shift_jis" and "\\" in reading.text:
        return Reading(reading.text.replace("\\", "\u00a5"), reading.encoding, reading.detected)
    return reading


def decode_as(data: bytes, name: str) -> Reading | Problem:
    """The bytes read in the encoding chosen (a byte-order mark is dropped), or where they fail."""
    if name not in ENCODINGS:
        return problem("not_text", f"{name!r} is not an encoding read; choose one of {', '.join(ENCODINGS)}")
    codec = ENCODINGS[name][0]
    if name == "utf-16" and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-be" if data[:2048:2].count(0) > data[1:2048:2].count(0) else "utf-16-le"
    try:
        return Reading(data.decode(codec), name, detected=False)
    except UnicodeDecodeError as exc:
        return problem("not_text", f"the file is not {ENCODINGS[name][1]} text: byte 0x{data[exc.start]:02x} at "
                       f"offset {exc.start} is not {ENCODINGS[name][1]}; choose the encoding it is written in",
                       suggestion=_guess(data))


def _guess(data: bytes) -> str | None:
    """The likeliest encoding of bytes another encoding did not read, to suggest; None if none reads."""
    found = detect_legacy(data)
    if isinstance(found, Reading):
        return found.encoding
    return found.suggestion


def detect_legacy(data: bytes) -> Reading | Problem:
    """Bytes that are neither UTF-8 nor UTF-16, read in the likeliest legacy encoding, or why not.

    The opening (``SAMPLE_BYTES``, cut at a line end: no encoding read has a line feed inside a
    character) decides; then the whole file must decode in the one chosen, else the choice is
    made again over the whole file.
    """
    cut = data.rfind(b"\n", 0, SAMPLE_BYTES) + 1 if len(data) > SAMPLE_BYTES else len(data)
    sample = data[:cut or len(data)]
    chosen = _likeliest(sample)
    if isinstance(chosen, Problem) or len(sample) == len(data):
        return chosen
    try:
        return Reading(data.decode(ENCODINGS[chosen.encoding][0]), chosen.encoding)
    except UnicodeDecodeError:
        return _likeliest(data)


def _likeliest(data: bytes) -> Reading | Problem:
    readings: dict[str, str] = {}
    for name in LEGACY:
        try:
            readings[name] = data.decode(ENCODINGS[name][0])
        except UnicodeDecodeError:
            continue
    scores = {name: _ordinary_share(text, name) for name, text in readings.items()}
    best = max(scores, key=lambda name: scores[name])  # the first in LEGACY among equals
    characters = sum(1 for ch in readings[best][:SAMPLE_BYTES] if ord(ch) > 127)
    if scores[best] < _LEAST and characters >= _EVIDENCE:
        return problem("not_text", "the file is not UTF-8 or UTF-16, and reads as no other encoding read "
                       f"({', '.join(ENCODINGS[n][1] for n in LEGACY)}): it may be binary, or in another encoding")
    rivals = [name for name in readings if name != best and scores[name] >= scores[best] - _TIE
              and readings[name] != readings[best]]
    if rivals:
        ranked = _detector_ranking(data, [best, *rivals])
        if len(ranked) > 1 and ranked[1][1] - ranked[0][1] < _TIE:
            shown = "; ".join(f"{ENCODINGS[n][1]} reads '{_first_words(readings[n])}'" for n, _ in ranked)
            return problem("encoding_unclear", f"the file is not UTF-8, and it reads as text in more than one encoding "
                           f"({shown}); choose the encoding it is written in", suggestion=ranked[0][0])
        best = ranked[0][0]
    return Reading(readings[best], best)


def _ordinary_share(text: str, name: str) -> float:
    """The share of the non-ASCII characters read that are ordinary in the encoding's language."""
    sample = text[:SAMPLE_BYTES]
    if name in ("windows-1252", "iso-8859-15"):
        found = [_ordinary_latin(sample, match.start()) for match in _NON_ASCII.finditer(sample)]
        return sum(found) / len(found) if found else 1.0
    counts = Counter(ch for ch in sample if ord(ch) > 127)
    total = sum(counts.values())
    if not total:
        return 1.0
    return sum(n for ch, n in counts.items() if _ordinary_cjk(ch, name)) / total


def _ordinary_latin(text: str, at: int) -> bool:
    """A usual sign, or a letter beside an ASCII letter (Müller, Événements): Western European text
    writes accented letters inside words, where a wrong reading strings symbols and letters together."""
    ch = text[at]
    if ch in _LATIN_SIGNS:
        return True
    return ch.isalpha() and any(0 <= i < len(text) and text[i].isascii() and text[i].isalpha()
                                for i in (at - 1, at + 1))


def _ordinary_cjk(ch: str, name: str) -> bool:
    code = ord(ch)
    if 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E:
        return True  # CJK punctuation, full-width letters and digits
    if 0x3041 <= code <= 0x30FF:
        return name in ("shift_jis", "euc-jp")  # kana are Japanese
    low, high = _COMMON_RANGE[name]
    try:
        encoded = ch.encode(ENCODINGS[name][0])
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and low <= int.from_bytes(encoded, "big") <= high


def _detector_ranking(data: bytes, names: list[str]) -> list[tuple[str, float]]:
    """``names`` with how garbled charset-normalizer finds each reading (its chaos, 0 to 1), least first.

    A reading it drops as too garbled is ranked last, at 1; equals keep the order of ``names``.
    """
    python = {codecs.lookup(ENCODINGS[n][0]).name: n for n in names}
    results = charset_normalizer.from_bytes(data[:SAMPLE_BYTES], cp_isolation=list(python))
    chaos = dict.fromkeys(names, 1.0)
    for result in results:
        if result.encoding in python:
            chaos[python[result.encoding]] = result.chaos
    return sorted(chaos.items(), key=lambda item: item[1])


def _first_words(text: str, limit: int = 24) -> str:
    """The first cell with a non-ASCII character, as read: what tells a person which reading is right."""
    for line in text.splitlines():
        for cell in line.replace(";", ",").replace("\t", ",").split(","):
            if any(ord(ch) > 127 for ch in cell):
                shown = "".join(ch if ch.isprintable() else "?" for ch in cell.strip())
                return shown if len(shown) <= limit else shown[:limit - 1] + "…"
    return ""
