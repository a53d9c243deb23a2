"""How far an LTV computation is and how long it has left: what a page shows while the models fit.

The steps are those of ``finance.ltv.strata``: each stratum's fit, then each stratum's projection.
Before the first step, each is estimated from its customers and its model at the rates below; once
steps are done, the time left is the estimate of the steps to come scaled by the pace the finished
steps have shown against their estimate, so the estimate of a busy machine grows as soon as it
shows. Whoever asked (``cohort_ltv(progress=...)``) gets a :class:`Progress` before every step and
once at the end; nothing here knows how it is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the methods import SciPy: only for the type
    from finance.ltv.methods.common import Model

Phase = Literal["fit", "project"]

STEP_SECONDS: dict[tuple[Phase, str], tuple[float, float]] = {
    ("fit", "bgnbd"): (0.12, 8e-6), ("project", "bgnbd"): (0.005, 12e-6),
    ("fit", "sbg"): (0.035, 0.0), ("project", "sbg"): (0.002, 0.3e-6),
    ("fit", "formula"): (0.003, 0.0), ("project", "formula"): (0.002, 0.0),
}
"""(seconds, seconds per customer) of one stratum's fit and projection, by model: a least-squares
line through the steps of every method and breakdown on the demo company, scaled to two idle
cores. A BG/NBD fit searches four to seven parameters over each distinct purchase history and
its projection runs per customer; an sBG fit reads one survival curve per acquisition month,
whatever the customers; the churn formula counts."""
PRIOR_SECONDS = 0.5
"""How much measurement the plan's own estimate is worth: the pace is (seconds taken + this) over
(seconds estimated for the steps done + this), so one slow first step does not multiply the rest."""
SCALE_LIMITS = (0.2, 20.0)
"""How far the measured pace may move the estimate."""


@dataclass(frozen=True)
class Step:
    """One stratum's fit or projection."""

    phase: Phase
    stratum: tuple[str, ...]
    model: Model
    customers: int

    @property
    def estimate(self) -> float:
        """Seconds this step should take on the reference machine."""
        fixed, per_customer = STEP_SECONDS.get((self.phase, self.model), (0.0, 0.0))
        return fixed + per_customer * self.customers


@dataclass(frozen=True)
class Progress:
    """Where an LTV computation is: reported before each step (``step``) and once when all are done."""

    done: int
    """Steps finished."""
    total: int
    """Steps in all (the fits and projections of every stratum)."""
    step: Step | None
    """The step under way; None once all are done."""
    group: str | None
    """The step's stratum as people call it (``finance.ltv.groups.group_name``)."""
    models: tuple[Model, ...]
    """The models being fitted, in order of first use."""
    customers: int
    """Customers whose histories are fitted."""
    groups: int
    """Strata: segments, or channels within segments."""
    elapsed: float
    """Seconds since the first step began."""
    seconds_left: float
    """The estimate of the time still to go."""
    estimate: float
    """The estimate, before the first step, of the whole computation."""


Report = Callable[[Progress], None]
"""What a caller gives to hear about progress: a page's progress bar, a command's status line."""


class Tracker:
    """Counts the steps of one computation against their plan and reports each to ``report``;
    ``name`` words a stratum for people."""

    def __init__(self, plan: list[Step], report: Report, customers: int,
                 name: Callable[[tuple[str, ...]], str] = " / ".join) -> None:
        self.plan = plan
        self.report = report
        self.customers = customers
        self.name = name
        self.groups = len({s.stratum for s in plan if s.phase == "project"})
        self.models = tuple(dict.fromkeys(s.model for s in plan if s.phase == "fit"))
        self.estimate = sum(s.estimate for s in plan)
        self.done = 0
        self.done_estimate = 0.0
        self.began = time.perf_counter()
        self._current: Step | None = None

    def begin(self, step: Step) -> None:
        """``step`` starts: the one before it is done."""
        self._close()
        self._current = step
        self._report(step)

    def finish(self) -> None:
        """Every step is done."""
        self._close()
        self._report(None)

    def seconds_left(self, elapsed: float) -> float:
        """The plan's estimate still to go, at the pace the finished steps have shown."""
        left = max(self.estimate - self.done_estimate, 0.0)
        low, high = SCALE_LIMITS
        pace = (elapsed + PRIOR_SECONDS) / (self.done_estimate + PRIOR_SECONDS)
        return left * min(max(pace, low), high)

    def _close(self) -> None:
        if self._current is not None:
            self.done += 1
            self.done_estimate += self._current.estimate
            self._current = None

    def _report(self, step: Step | None) -> None:
        elapsed = time.perf_counter() - self.began
        total = max(len(self.plan), self.done + (step is not None))
        self.report(Progress(self.done, total, step, self.name(step.stratum) if step is not None else None,
                             self.models, self.customers, self.groups, elapsed,
                             self.seconds_left(elapsed) if step is not None else 0.0, self.estimate))
