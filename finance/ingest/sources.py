"""Where a file comes from, and what was chosen for it: the mapping remembered per source.

A source is an export layout: a file kind and its header row as written (the ledger's
export, an ad platform's report, the CRM's contacts). What was mapped for one file of a
source (its columns, its category labels, its channel values) is used again for the next
file with the same header, on the Data page and on the command line alike.

The importer also suggests: which header holds a missing column, which cost category an
account name is, and which known channel (or shared costs) a department value stands for.
A suggestion is only ever pre-filled for a person to confirm; nothing is mapped unseen.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from finance.domain.schema import (
    CATEGORIES,
    CATEGORY_LOOKUP,
    FileKind,
    channel_name_key,
    normalise_header,
    normalise_label,
)

SHARED_WORDS = frozenset({"shared", "general", "overhead", "overheads", "unallocated", "allocated", "admin",
                          "corporate", "common", "all", "none", "na", "g", "ga"})
"""Words that mark a department or channel value as no channel at all: a shared cost."""

DEPARTMENT_WORDS = frozenset({"mktg", "mkt", "marketing", "dept", "department", "team", "cost", "centre",
                              "center", "cc"})
"""Words a ledger's department names add around a channel ("Mktg - Paid Search")."""


@dataclass(frozen=True)
class SourceMapping:
    """What was chosen for one source: columns, category labels and channel values."""

    kind: str
    key: str
    columns: dict[str, str] = field(default_factory=dict)
    """Header as written -> the contract's column."""
    categories: dict[str, str] = field(default_factory=dict)
    """Category label as written -> cost category key."""
    channels: dict[str, str | None] = field(default_factory=dict)
    """Channel value as written -> the channel it is, or None: a shared cost (no channel)."""
    name: str = ""
    """The file the source was first mapped for, to name it to people."""

    @property
    def setting(self) -> str:
        """The settings key it is kept under."""
        return setting_key(self.kind, self.key)

    def to_json(self) -> str:
        return json.dumps({"columns": self.columns, "categories": self.categories, "channels": self.channels,
                           "name": self.name}, sort_keys=True)

    @classmethod
    def from_json(cls, kind: str, key: str, text: str | None) -> SourceMapping:
        """The stored mapping; an absent or unreadable one is an empty mapping (nothing remembered)."""
        try:
            data: Any = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}

        def strings(value: Any, nullable: bool = False) -> dict[str, Any]:
            if not isinstance(value, dict):
                return {}
            return {str(k): v for k, v in value.items()
                    if isinstance(v, str) or (nullable and v is None)}

        return cls(kind, key, strings(data.get("columns")), strings(data.get("categories")),
                   strings(data.get("channels"), nullable=True), str(data.get("name") or ""))

    def merged(self, *, columns: Mapping[str, str] | None = None, categories: Mapping[str, str] | None = None,
               channels: Mapping[str, str | None] | None = None, name: str = "") -> SourceMapping:
        """This mapping with the given choices added (a later choice replaces an earlier one), and a
        name if it has none yet."""
        return replace(self, columns={**self.columns, **(columns or {})},
                       categories={**self.categories, **(categories or {})},
                       channels={**self.channels, **(channels or {})}, name=self.name or name)


def source_key(kind: str, headers: Iterable[str]) -> str:
    """A source's identity: its kind and header row, ignoring case, spacing and punctuation."""
    folded = "\x1f".join(normalise_header(h) for h in headers)
    return hashlib.sha256(f"{kind}\x1e{folded}".encode()).hexdigest()[:16]


def setting_key(kind: str, key: str) -> str:
    return f"source.{kind}.{key}"


def suggest_columns(contract: FileKind, unknown: Iterable[str], missing: Iterable[str]) -> dict[str, str]:
    """Header -> the required column it most likely holds, among headers the contract does not know.

    Each missing column takes the unknown header closest to its name or a synonym; when only
    one header is unknown, it is the suggestion for the first missing column.
    """
    headers = [h for h in unknown if h]
    out: dict[str, str] = {}
    for column in missing:
        free = [h for h in headers if h not in out]
        if not free:
            break
        names = [normalise_header(n) for n in (column, *contract.column(column).synonyms)]
        best: tuple[float, str] | None = None
        for header in free:
            folded = normalise_header(header)
            score = max(difflib.SequenceMatcher(None, folded, n).ratio() for n in names)
            if any(n in folded for n in names if len(n) >= 4):
                score = max(score, 0.9)
            if score >= 0.5 and (best is None or score > best[0]):
                best = (score, header)
        if best is not None:
            out[best[1]] = column
        elif len(headers) == 1:
            out[free[0]] = column
    return out


def suggest_category(label: str) -> str | None:
    """The cost category a label most likely is (an account name such as "6200 Salaries - Marketing").

    An exact label or synonym first; then the longest synonym found among the label's words
    (account numbers ignored), so "Sales Salaries" is sales and "Marketing Salaries" personnel;
    then a close spelling. None when nothing is close: a person chooses.
    """
    folded = normalise_label(label)
    if folded in CATEGORY_LOOKUP:
        return CATEGORY_LOOKUP[folded]
    words = [w for w in folded.split() if not w.isdigit()]
    phrase = f" {' '.join(words)} "
    contained = [(len(synonym), key) for synonym, key in CATEGORY_LOOKUP.items() if f" {synonym} " in phrase]
    if contained:
        return max(contained)[1]
    singular = " ".join(w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words)
    for candidate in (singular, *words):
        if candidate in CATEGORY_LOOKUP:
            return CATEGORY_LOOKUP[candidate]
    close = difflib.get_close_matches(" ".join(words), list(CATEGORY_LOOKUP), n=1, cutoff=0.8)
    return CATEGORY_LOOKUP[close[0]] if close else None


def category_label(key: str) -> str:
    return CATEGORIES[key].label if key in CATEGORIES else key


def suggest_channel(value: str, known: Iterable[str], *, shared_allowed: bool) -> str | None:
    """The channel a value as written stands for: a known channel, shared costs (None), or itself.

    "Paid search" is the known "Paid Search"; "Mktg - Paid Search" is too (department words
    ignored); "Mktg - Shared" or "G&A" is a shared cost when the file may hold shared costs
    (spend); anything else is kept as written, a new channel.
    """
    names = {channel_name_key(k): k for k in known}
    folded = channel_name_key(value)
    if folded in names:
        return names[folded]
    words = normalise_label(value).split()
    core = [w for w in words if w not in DEPARTMENT_WORDS]
    if shared_allowed and (not core or any(w in SHARED_WORDS for w in core)):
        return None
    bare = " ".join(core)
    by_label = {normalise_label(k): k for k in known}
    if bare in by_label:
        return by_label[bare]
    close = difflib.get_close_matches(bare, list(by_label), n=1, cutoff=0.85)
    return by_label[close[0]] if close else value.strip()
