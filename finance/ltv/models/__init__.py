"""Probability models behind customer lifetime value: sBG retention, BG/NBD purchasing, Gamma-Gamma spend.

Three published "buy till you die" models, fitted by maximum likelihood, one a file:

* **sBG** (shifted-beta-geometric, ``sbg.py``), for contractual businesses where churn is observed:
  Fader, P. S. & Hardie, B. G. S. (2007) "How to project customer retention",
  *Journal of Interactive Marketing* 21(1), 76-90 (cited as F&H 2007).
* **BG/NBD** (beta-geometric / negative binomial, ``bgnbd.py``), for non-contractual businesses where
  churn is unobserved: Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005) "Counting your
  customers the easy way: an alternative to the Pareto/NBD model", *Marketing Science*
  24(2), 275-284 (FHL 2005a); its limit with no dropout, the **NBD** (``nbd.py``), when the data show
  too little dropout to estimate it.
* **Gamma-Gamma** spend per transaction (``gamma_gamma.py``): Fader, Hardie & Lee (2005) "RFM and CLV: using
  iso-value curves for customer base analysis", *Journal of Marketing Research* 42(4),
  415-430 (FHL 2005b), and Fader & Hardie (2013) "The Gamma-Gamma model of monetary value",
  note at brucehardie.com/notes/025 (F&H 2013).

``fitting.py`` holds what they share: the maximum-likelihood search over log-parameters, ``FitError``
and ``parameter_draws``; ``rfm.py`` turns a transaction log into the (frequency, recency, T,
monetary value) the purchase models take.

The models are pure: stdlib, numpy and scipy; polars only in ``rfm.py``. Every public name is
importable from here (``from finance.ltv.models import fit_sbg_cohorts``).
"""

from __future__ import annotations

from finance.ltv.models.bgnbd import (
    BGNBDFit,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_expected_purchases_if_alive,
    bgnbd_probability_alive,
    fit_bgnbd,
)
from finance.ltv.models.fitting import MIN_CUSTOMERS, FitError, FloatArray, parameter_draws
from finance.ltv.models.gamma_gamma import GammaGammaFit, fit_gamma_gamma, gamma_gamma_expected_spend
from finance.ltv.models.nbd import NBDFit, fit_nbd, nbd_conditional_expected_purchases, nbd_expected_purchases
from finance.ltv.models.rfm import rfm_summary
from finance.ltv.models.sbg import (
    SBGFit,
    fit_sbg,
    fit_sbg_cohorts,
    fit_sbg_intervals,
    sbg_churn_probability,
    sbg_retention_rate,
    sbg_survival,
)

Fit = SBGFit | BGNBDFit | NBDFit | GammaGammaFit
"""Any of the fits (what ``parameter_draws`` takes)."""

__all__ = [
    "MIN_CUSTOMERS",
    "BGNBDFit",
    "Fit",
    "FitError",
    "FloatArray",
    "GammaGammaFit",
    "NBDFit",
    "SBGFit",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_expected_purchases_if_alive",
    "bgnbd_probability_alive",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_nbd",
    "fit_sbg",
    "fit_sbg_cohorts",
    "fit_sbg_intervals",
    "gamma_gamma_expected_spend",
    "nbd_conditional_expected_purchases",
    "nbd_expected_purchases",
    "parameter_draws",
    "rfm_summary",
    "sbg_churn_probability",
    "sbg_retention_rate",
    "sbg_survival",
]
