"""The LTV layer's sentences and names for people, declared once, in English.

The command line and the JSON print them as they are. The dashboard and the board pack show them in
their language: every template here is listed for translation (``finance.present.i18n.declared_labels``),
and a text made from one is read back into its template and fields (``finance.present.phrases``), so a
model check stored as JSON long ago still reads in French. A template's fields are named ``{name}``;
what a field holds is told by its name (``finance.present.phrases.FIELD_KINDS``): ``{segment}`` and
``{group}`` are names from the data, ``{share}`` a rounded percentage, ``{model}`` a model's name,
``{reason}`` and ``{error}`` another sentence.
"""

from __future__ import annotations

# --- why a segment has its model (``finance.ltv.base.model_by_shape``, ``finance.ltv.backtest.run``) ---------
NO_REPEAT_PAYERS = "no customer has paid three times yet; retention is the only signal"
STEADY_PAYERS = ("{share} of customers who paid three times or more pay a steady amount at a steady interval "
                 "(subscriptions)")
IRREGULAR_PAYERS = "only {share} of customers who paid three times or more pay at a steady interval (repeat purchases)"
LOWEST_ERROR = "lowest back-test error"
TOO_LITTLE_HISTORY = "too little history for a back-test; {reason}"
TOO_LITTLE_HISTORY_ALONE = "too little history for a back-test"
MODEL_LOWEST_ERROR = "{model} had the lowest error in the back-test"

# --- notes on the fits (``finance.ltv.strata.fit_strata``, ``finance.ltv.base``) -------------------------------
GROUP_NOTE = "{group}: {reason}"
"""A note on one group of customers (a segment, a channel within one)."""
CHURN_FORMULA_USED = "{error}; the churn formula is used"
COMPANY_FIT_USED = "{error}; the fit over all customers is used"
NO_CUSTOMERS = "no customers acquired yet"
NBD_USED = ("too little dropout yet to fit BG/NBD (it would have customers never stop); its limit for customers "
            "who never stop, the NBD model, is used")

# --- where a group's parameters come from (``StratumFit.source``) ---------------------------------------------
OWN_FIT = "own fit"
SHRUNK_TOWARD = "shrunk toward {segment}"
POOLED_WITH = "pooled with {segment}"
POOLED_WITH_ALL = "pooled with all customers"

MODEL_NAMES = ("churn formula", "sBG retention", "BG/NBD", "the churn formula")
"""The models' names for people (``finance.ltv.methods.common.Named.label`` and ``in_sentence``)."""

PARAMETERS = (
    # the churn formula
    "Monthly churn (customers lost per customer-month)", "Expected lifetime of a new customer",
    # sBG retention
    "Churn in a new customer's first month", "Churn in month 12 of those still paying",
    "Churn in month 24 of those still paying", "Share still paying after 12 months",
    "sBG alpha (spread of churn rates)", "sBG beta",
    # both contractual models
    "Gross margin per paying customer-month",
    # BG/NBD and Gamma-Gamma
    "Purchases per month of an active customer (average)", "Chance of stopping after each repeat purchase",
    "BG/NBD r", "BG/NBD alpha (weeks)", "BG/NBD a", "BG/NBD b", "Average order value of a new customer",
    "Gamma-Gamma p", "Gamma-Gamma q", "Gamma-Gamma gamma", "Average order value (observed)",
    "NBD r", "NBD alpha (weeks)",
    "Gross margin on purchases",
)
"""Every fitted parameter's name in business words (``LTVMethod.describe``)."""

SENTENCES = (NO_REPEAT_PAYERS, STEADY_PAYERS, IRREGULAR_PAYERS, LOWEST_ERROR, TOO_LITTLE_HISTORY,
             TOO_LITTLE_HISTORY_ALONE, MODEL_LOWEST_ERROR, GROUP_NOTE, CHURN_FORMULA_USED, COMPANY_FIT_USED,
             NO_CUSTOMERS, NBD_USED, OWN_FIT, SHRUNK_TOWARD, POOLED_WITH, POOLED_WITH_ALL)
"""Every sentence template of the LTV layer, for the dashboard to read back and translate."""

LABELS = (*SENTENCES, *MODEL_NAMES, *PARAMETERS)
"""Everything here the dashboard shows translated."""
