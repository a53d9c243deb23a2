"""The groups an LTV is computed for, as people call them.

A stratum (``finance.ltv.strata``) is the customers of one segment, ``(segment,)``, or of one channel
within one segment, ``(channel, segment)``; the store writes a segment or channel the data did not
record as ``"(unknown)"``, a code no one should read.
"""

from __future__ import annotations

from collections.abc import Collection

from finance.store.dataset import UNKNOWN


def group_name(stratum: tuple[str, ...], segments: Collection[str]) -> str:
    """A stratum as people call it: "DTC", "Paid Search / DTC".

    What the data did not record is said so: a company that records no segment has one group,
    "All customers"; among recorded segments the customers without one are "Segment not recorded",
    and those without a channel "Channel not recorded". ``segments`` are every segment of the
    computation. A breakdown by segment (whose strata are (segment, segment)) names each once.
    """
    segment = stratum[-1]
    if segment == UNKNOWN:
        segment = "All customers" if set(segments) <= {UNKNOWN} else "Segment not recorded"
    if len(stratum) < 2 or stratum[0] == stratum[-1]:
        return segment
    channel = "Channel not recorded" if stratum[0] == UNKNOWN else stratum[0]
    return f"{channel} / {segment}"
