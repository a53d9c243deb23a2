"""The planner's working state as a plain object: the page draws it, the tests drive it without Streamlit.

A :class:`PlanSession` holds one quarter's working plan, the starting point it came from, and
the results of the last optimise and goal seek. Every change is a transition (:meth:`~PlanSession.load`,
:meth:`~PlanSession.edit`, :meth:`~PlanSession.scale_shared`, :meth:`~PlanSession.optimise`,
:meth:`~PlanSession.goal_seek`, :meth:`~PlanSession.adopt_optimised`, :meth:`~PlanSession.adopt_goal`,
:meth:`~PlanSession.reset`, :meth:`~PlanSession.rebase`), and the rules that keep the figures honest
live here, once:

* the channel budget to split is always the working plan's (:attr:`~PlanSession.budget_to_split`);
* optimise and goal seek start from the working plan;
* a transition that changes the working plan drops the results computed from the one before, so
  no result on screen, no comparison and no board pack describes a plan that is gone;
* new data (a new basis for the same quarter) recomputes the results from the same requests.

:meth:`~PlanSession.pack_plan` is what the board pack prints: the working plan and the optimised
split the page shows, as a hashable value a cache can key on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from finance.planning import plans as sc
from finance.planning import words
from finance.planning.curves import PlanError
from finance.planning.plans import Bounds, GoalSeek, PlanLine, PlanningBasis

WORKING = words.WORKING
"""The working plan's name in projections, comparisons and the board pack."""

GoalKind = Literal["ratio", "customers"]


@dataclass(frozen=True)
class Optimised:
    """An optimised split of the working plan, with what was asked: the channel budget and the bounds."""

    lines: tuple[PlanLine, ...]
    total: Decimal
    """The channel budget split (direct marketing spend of the channels), to the cent."""
    requested: Decimal | None
    """The budget asked for; ``None``: the working plan's own."""
    bounds: Bounds | None


@dataclass(frozen=True)
class Goal:
    """A goal-seek answer for the working plan, with what was asked."""

    kind: GoalKind
    target: float
    """Target LTV:CAC (``ratio``) or new customers (``customers``)."""
    bounds: Bounds | None
    answer: GoalSeek

    @property
    def lines(self) -> tuple[PlanLine, ...]:
        return tuple(self.answer.lines)


@dataclass(frozen=True)
class PackPlan:
    """The board pack's budget request: the working plan and its optimised split as the page shows them.

    Hashable (tuples of frozen lines), so a cache can key the pack on it.
    """

    name: str
    lines: tuple[PlanLine, ...]
    optimised: tuple[PlanLine, ...]
    source: str
    note: str = ""


class PlanSession:
    """One quarter's working plan, where it started, and the optimise and goal-seek results for it.

    ``table`` is what the plan editor shows (shared lines before scaling) and ``table_version``
    changes whenever the plan is replaced from outside the editor (a new start, an adopted
    result, a reset), so an editor keyed on it starts afresh. ``revision`` changes whenever the
    working plan changes, so inputs that default to a figure of the plan (the budget to split,
    the customer target) can be keyed on it and follow the plan.
    """

    def __init__(self, basis: PlanningBasis, lines: Iterable[PlanLine], *, start: str = "last_quarter",
                 saved_as: tuple[str, str] | None = None) -> None:
        checked = sc.check_lines(lines, basis.channels)
        self.basis = basis
        self.start = start
        """Which starting point: a key of ``basis.starts``, or ``saved:<name>``."""
        self.starting: tuple[PlanLine, ...] = checked
        self.table: tuple[PlanLine, ...] = checked
        self.entered: tuple[PlanLine, ...] = checked
        """The editor's lines as last entered, shared lines before scaling."""
        self.shared = Decimal(1)
        """The factor on shared lines (1: as entered)."""
        self.working: tuple[PlanLine, ...] = checked
        self.optimised: Optimised | None = None
        self.goal: Goal | None = None
        self.saved_as = saved_as
        """(name, kind) of the saved scenario the working plan is, while it is unchanged since."""
        self._start_saved_as = saved_as
        self.table_version = 1
        self.revision = 0
        self._default_split: tuple[int, PlanningBasis, tuple[PlanLine, ...]] | None = None

    # --- derived figures ------------------------------------------------------------------------

    @property
    def period(self) -> str:
        return self.basis.period

    @property
    def budget_to_split(self) -> Decimal:
        """The working plan's channel budget: direct marketing spend of every channel, to the cent."""
        return sum(sc.channel_spend(self.working).values(), Decimal(0))

    @property
    def shared_percent(self) -> float:
        return float(self.shared * 100)

    def optimised_lines(self) -> tuple[PlanLine, ...]:
        """The optimised split to compare and to print: the last optimise's, else the default split of
        the working plan's own budget within the default bounds (computed once per plan)."""
        if self.optimised is not None:
            return self.optimised.lines
        memo = self._default_split
        if memo is None or memo[0] != self.revision or memo[1] is not self.basis:
            lines, _ = sc.optimise(self.basis, self.working)
            memo = self._default_split = (self.revision, self.basis, tuple(lines))
        return memo[2]

    def pack_plan(self) -> PackPlan:
        """The budget request for the board pack: this working plan and :meth:`optimised_lines`."""
        if self.saved_as is not None:
            name, kind = self.saved_as
            source = words.SAVED_WORKING_PLAN.format(kind=kind)
        else:
            name, source = WORKING, words.WORKING_PLAN
        return PackPlan(name, self.working, self.optimised_lines(), source)

    # --- transitions ----------------------------------------------------------------------------

    def load(self, basis: PlanningBasis, lines: Iterable[PlanLine], *, start: str,
             saved_as: tuple[str, str] | None = None) -> None:
        """A new starting point (another start, or a new quarter to plan): the working plan becomes its
        lines with shared costs as they are, and every result is dropped."""
        checked = sc.check_lines(lines, basis.channels)
        self.basis, self.start, self.starting = basis, start, checked
        self._replace(checked)
        self.optimised = self.goal = None
        self.saved_as = self._start_saved_as = saved_as

    def reset(self) -> None:
        """Back to the starting point, as loaded."""
        self._replace(self.starting)
        self.saved_as = self._start_saved_as

    def edit(self, lines: Iterable[PlanLine]) -> bool:
        """The editor's lines (shared lines before scaling). True if the working plan changed, which drops
        the optimise and goal-seek results. PlanError names bad lines; nothing changes then."""
        entered = sc.check_lines(lines, self.basis.channels)
        working = sc.check_lines(sc.scale_shared(entered, self.shared), self.basis.channels)
        self.entered = entered
        return self._set_working(working)

    def scale_shared(self, factor: Decimal | float) -> bool:
        """Shared lines at ``factor`` times their entered amounts (1: as entered). True if the plan changed."""
        factor = Decimal(str(factor))
        working = sc.check_lines(sc.scale_shared(self.entered, factor), self.basis.channels)
        self.shared = factor
        return self._set_working(working)

    def optimise(self, total: Decimal | float | None = None, bounds: Bounds | None = None) -> Optimised:
        """Optimise the split of the working plan's channel budget (or ``total``) within ``bounds``
        (``finance.planning.plans.optimise``); the result replaces the last one. PlanError if no split fits."""
        requested = None if total is None else sc.to_cents(total)
        lines, _ = sc.optimise(self.basis, self.working, total=requested, bounds=bounds)
        split = tuple(lines)
        self.optimised = Optimised(split, sum(sc.channel_spend(split).values(), Decimal(0)), requested, bounds)
        return self.optimised

    def goal_seek(self, *, ratio: float | None = None, customers: float | None = None,
                  bounds: Bounds | None = None) -> Goal:
        """The largest budget at a target LTV:CAC (``ratio``) or the smallest for a number of new
        ``customers``, split optimally from the working plan; the answer replaces the last one."""
        if ratio is not None and customers is None:
            goal = Goal("ratio", ratio, bounds, sc.budget_for_ratio(self.basis, self.working, ratio, bounds=bounds))
        elif customers is not None and ratio is None:
            goal = Goal("customers", customers, bounds,
                        sc.budget_for_customers(self.basis, self.working, customers, bounds=bounds))
        else:
            raise PlanError(words.NO_TARGET)
        self.goal = goal
        return goal

    def adopt_optimised(self) -> None:
        """The optimised split becomes the working plan (its shared lines already carry any scaling)."""
        if self.optimised is None:
            raise PlanError(words.NOTHING_OPTIMISED)
        lines, self.optimised = self.optimised.lines, None
        self._replace(lines)

    def adopt_goal(self) -> None:
        """The goal-seek plan becomes the working plan (its shared lines already carry any scaling)."""
        if self.goal is None:
            raise PlanError(words.NOTHING_SOUGHT)
        lines, self.goal = self.goal.lines, None
        self._replace(lines)

    def mark_saved(self, name: str, kind: str) -> None:
        """The working plan was saved as scenario ``name``: the pack calls it by that name until it changes."""
        self.saved_as = (name, kind)

    def rebase(self, basis: PlanningBasis) -> list[str]:
        """The same plan on a new basis for the same quarter (the data changed): the results are
        recomputed from the same requests. Returns a message for each that no longer fits (dropped)."""
        if basis is self.basis:
            return []
        if basis.period != self.basis.period:
            raise PlanError(f"a basis for {basis.period} cannot carry a plan for {self.basis.period}; load a start")
        self.basis = basis
        self._default_split = None
        messages = []
        if self.optimised is not None:
            asked = self.optimised
            try:
                self.optimise(asked.requested, asked.bounds)
            except PlanError as exc:
                self.optimised = None
                messages.append(words.SPLIT_NO_LONGER_FITS.format(reason=exc))
        if self.goal is not None:
            sought = self.goal
            try:
                if sought.kind == "ratio":
                    self.goal_seek(ratio=sought.target, bounds=sought.bounds)
                else:
                    self.goal_seek(customers=sought.target, bounds=sought.bounds)
            except PlanError as exc:
                self.goal = None
                messages.append(words.GOAL_NO_LONGER_FITS.format(reason=exc))
        return messages

    # --- internals ------------------------------------------------------------------------------

    def _replace(self, lines: tuple[PlanLine, ...]) -> None:
        """The whole plan replaced from outside the editor: the editor starts afresh, shared costs as they are."""
        self.table = self.entered = lines
        self.shared = Decimal(1)
        self.table_version += 1
        self._set_working(lines)

    def _set_working(self, working: tuple[PlanLine, ...]) -> bool:
        if working == self.working:
            return False
        self.working = working
        self.revision += 1
        self.optimised = self.goal = None
        self.saved_as = None
        return True
