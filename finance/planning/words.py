"""The planner's sentences for people, declared once, in English.

The command line prints them as they are; the dashboard shows them in its language: every template
here is listed for translation (``finance.present.i18n.declared_labels``) and a text made from one is
read back into its template and fields (``finance.present.phrases``). A field's name tells what it
holds (``finance.present.phrases.FIELD_KINDS``): ``{channel}`` and ``{name}`` come from the data,
``{customers}`` is a count, ``{target}`` a multiple such as 3x, ``{reason}`` and ``{warning}`` another
sentence of the planner.
"""

from __future__ import annotations

WORKING = "Working plan"
"""The working plan's name in projections, comparisons and the board pack."""

# --- notes on the basis and warnings on a projection (``finance.planning.plans``) ---------------------------
CHANNEL_NOTE = "{channel}: {reason}"
NO_DIRECT_SPEND = "{customers} customers acquired with no direct spend; not planned (no spend to project from)"
NO_LTV_YET = "no LTV yet (no recent customers); the blended LTV is used"
EXTRAPOLATED = "Beyond the most each channel has spent in a quarter, so its curve is extrapolated: {channels}"

# --- why a response curve is a constant CPA (``finance.planning.curves.fit_response_curve``) -----------------
SHORT_HISTORY = "only {periods} periods of history (need {needed}): constant CPA assumed"
SPEND_NEVER_VARIED = "spend never varied: constant CPA assumed"
FEW_SPEND_LEVELS = "fewer than 3 distinct spend levels: constant CPA assumed"
CUSTOMERS_NEVER_VARIED = "customers never varied with spend: constant CPA assumed"
HILL_FAILED = "Hill fit failed: constant CPA assumed"
HILL_WORSE_THAN_FLAT = "Hill fit worse than a flat line: constant CPA assumed"

# --- what a goal seek found (``GoalSeek.note``) --------------------------------------------------------------
CAPPED_BY_BOUNDS = ("LTV:CAC stays at or above {target} up to every channel's maximum: the budget is capped by the "
                    "bounds, not by the target")
LARGEST_AT_RATIO = "the largest budget whose projected LTV:CAC is at least {target}"
SMALLEST_FOR_CUSTOMERS = "the smallest budget projected to acquire {customers} new customers"

# --- what the working plan says after new data (``PlanSession.rebase``) and what it refuses -----------------
SPLIT_NO_LONGER_FITS = "The optimised split no longer fits this plan: {reason}"
GOAL_NO_LONGER_FITS = "The goal seek no longer fits this plan: {reason}"
NOTHING_OPTIMISED = "nothing to adopt: optimise the split first"
NOTHING_SOUGHT = "nothing to adopt: run a goal seek first"
NO_TARGET = "goal seek needs one target: an LTV:CAC or a number of new customers"
UNBOUNDED = "LTV:CAC never falls below the target: the budget is unbounded under these curves"
UNREACHABLE_RATIO = "no budget reaches LTV:CAC {target}"
UNREACHABLE_IN_BOUNDS = "{customers} customers is unreachable within the channels' maximums"
UNREACHABLE_AT_ALL = "{customers} customers is unreachable at any practical budget"
UNREACHABLE_CEILING = "{customers} customers is unreachable: the curves' ceilings allow at most {reachable}"

# --- where the board pack's request comes from (``PlanSession.pack_plan``) -----------------------------------
WORKING_PLAN = "the planner's working plan"
SAVED_WORKING_PLAN = "the planner's working plan, saved as a scenario ({kind})"

# --- saved scenarios (``finance.planning.plans``) --------------------------------------------------------------
NEEDS_A_NAME = "a scenario needs a name"
NAME_TAKEN = "a scenario named {name} exists; choose another name or replace it"

SENTENCES = (CHANNEL_NOTE, NO_DIRECT_SPEND, NO_LTV_YET, EXTRAPOLATED, SHORT_HISTORY, SPEND_NEVER_VARIED,
             FEW_SPEND_LEVELS, CUSTOMERS_NEVER_VARIED, HILL_FAILED, HILL_WORSE_THAN_FLAT, CAPPED_BY_BOUNDS,
             LARGEST_AT_RATIO, SMALLEST_FOR_CUSTOMERS, SPLIT_NO_LONGER_FITS, GOAL_NO_LONGER_FITS, NOTHING_OPTIMISED,
             NOTHING_SOUGHT, NO_TARGET, UNBOUNDED, UNREACHABLE_RATIO, UNREACHABLE_IN_BOUNDS, UNREACHABLE_AT_ALL,
             UNREACHABLE_CEILING, WORKING_PLAN, SAVED_WORKING_PLAN, NEEDS_A_NAME, NAME_TAKEN)
"""Every sentence template of the planner, for the dashboard to read back and translate."""

SCENARIO_KINDS = ("request", "custom", "baseline", "optimised", "goal seek")
"""The kinds of saved scenario (``finance.planning.plans.KINDS``), as a sentence's ``{kind}`` names them."""

LABELS = (WORKING, *SCENARIO_KINDS, *SENTENCES)
"""Everything here the dashboard shows translated."""
