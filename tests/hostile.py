"""A company whose names were written by an attacker: the hostile-names corpus.

Every channel, segment, vendor, description and the company's own name in the demo company is
replaced by text that would become a link, emphasis, an image fetch, LaTeX, HTML, a formula or
a reordering of the text around it, if any output treated it as anything but text. The same
figures, the same history: only the names change, so every page, export and command runs on it.

``MARKUP`` lists what must never appear in rendered output; ``LITERAL`` what must appear as text.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from finance.demo import DEMO_SETTING, KINDS, SAMPLE_DIR, build_demo_db
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest
from finance.metrics.params import metric_params
from finance.store.database import Store

EVIL = "evil.example"

CHANNELS = {
    "Paid Search": f"[Approve budget](https://{EVIL}/phish) **URGENT**",
    "Paid Social": f'<a href="https://{EVIL}/a">Social</a><b>bold</b><img src="https://{EVIL}/i.png">',
    "Display": f"$$\\alert{{x}}$$ ![im](https://{EVIL}/px.png)",
    "Events": f'=HYPERLINK("https://{EVIL}/f","Events")',
    "Content": ":red[Content] :material/warning: :smile: # Heading",
    "Outbound": f"\u202eOutbound\u202c https://{EVIL}/auto www.{EVIL}",
    "Partners": "Partners | `code` ~~strike~~ <script>alert(1)</script>",
    "Organic Search": "+Organic @Search -1",
}
SEGMENTS = {
    "DTC": f"DTC **bold** [x](https://{EVIL}/s)",
    "SMB": "SMB\u2066<i>\u2069 $x^2$",
    "Enterprise B2B": "=1+1 Enterprise",
}
VENDOR = f"[Vendor](https://{EVIL}/v) <img src=https://{EVIL}/v.png>"
DESCRIPTION = f"![d](https://{EVIL}/d.png) <b>desc</b>"
COMPANY = f"Northwind <b>[Board](https://{EVIL}/c)</b> $$x$$"


def _rewrite(kind: str, source: Path, target: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"))))
    for row in rows:
        if row.get("channel") in CHANNELS:
            row["channel"] = CHANNELS[row["channel"]]
        if row.get("segment") in SEGMENTS:
            row["segment"] = SEGMENTS[row["segment"]]
        if row.get("vendor"):
            row["vendor"] = VENDOR
        if row.get("description"):
            row["description"] = DESCRIPTION
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def build_hostile_db(folder: Path) -> Path:
    """The demo company with hostile names, imported through the store, its model check stored."""
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        _rewrite(kind, SAMPLE_DIR / f"{kind}.csv", files / f"{kind}.csv")
    db = folder / "hostile.duckdb"
    build_demo_db(db, sample_dir=files)
    with Store(db) as store:
        store.set_setting(DEMO_SETTING, COMPANY)
        settings = metric_params(Assumptions.from_settings(store.assumptions())).ltv
        backtest.stored_or_run(db, store.imports(), store.dataset(), settings)
    return db


NAMES = [*CHANNELS.values(), *SEGMENTS.values(), VENDOR, DESCRIPTION, COMPANY]

MARKUP = (f"](https://{EVIL}", "<a ", "<b>", "<img", "<script", "<i>", "$$", ":red[", ":material/", "**URGENT",
          "**bold", "\u202e", "\u2066")
"""Fragments of the corpus that are markup when unescaped: none may reach a Markdown renderer as is."""


def raw_markup(text: str) -> list[str]:
    """The corpus's markup fragments found unescaped (not after a backslash) in Markdown source ``text``."""
    return [fragment for fragment in MARKUP if re.search(r"(?<!\\)" + re.escape(fragment), text)]
