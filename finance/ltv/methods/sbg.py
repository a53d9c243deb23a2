"""The ``cohort`` LTV method: retention by the shifted-beta-geometric model (``finance.ltv.models.sbg``).

Fitted to the lifetimes of the stratum's customers (months paid for, known to lie in an interval:
a customer still paying is censored, one on an annual term could only leave at its end), so every
acquisition-month cohort counts with what is known of it; renewals are projected as
``finance.ltv.methods.contract`` does for every contractual method.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special

from finance.ltv.methods.common import StratumFit
from finance.ltv.methods.contract import Contractual, margin_rate
from finance.ltv.models import fit_sbg_intervals


def lifetime_intervals(members: pl.DataFrame) -> pl.DataFrame:
    """Each paying customer's lifetime L (months paid for) as an interval lower < L <= upper, grouped.

    A customer still paying at the last complete month, or within a prepaid term, is censored at
    their last invoice (L > its age); one who stopped left within the term they last paid for.
    """
    paying = members.filter(pl.col("last_age").is_not_null())
    ended = pl.col("paid_through") < pl.col("age_observed")
    return paying.group_by(
        lower=pl.col("last_age").cast(pl.Float64),
        upper=pl.when(ended).then(pl.col("paid_through") + 1).otherwise(float("inf")).cast(pl.Float64),
    ).agg(count=pl.len()).sort("lower", "upper")  # a fixed order: the same data, the same fit to the last bit


class SBGRetention(Contractual):
    """Churn probability varying across customers as Beta(alpha, beta): retention rises with tenure."""

    def fit(self, stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
        intervals = lifetime_intervals(members)
        fit = fit_sbg_intervals(intervals.get_column("lower").to_numpy(), intervals.get_column("upper").to_numpy(),
                                intervals.get_column("count").to_numpy())
        return StratumFit(stratum, self.key, ("alpha", "beta"), np.log(fit.params), fit.covariance, members.height,
                          {"margin_per_month": margin_rate(members)}, log_likelihood=fit.log_likelihood)

    def survival(self, log_params: np.ndarray, last: int) -> np.ndarray:
        t = np.arange(last + 1, dtype=float)
        alpha, beta = np.exp(log_params)
        return np.asarray(np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta)))

    def retention_words(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        alpha, beta = fit.params["alpha"], fit.params["beta"]
        return [("Churn in a new customer's first month", alpha / (alpha + beta), "percent"),
                ("Churn in month 12 of those still paying", 1 - (beta + 11) / (alpha + beta + 11), "percent"),
                ("Churn in month 24 of those still paying", 1 - (beta + 23) / (alpha + beta + 23), "percent"),
                ("Share still paying after 12 months", float(self.survival(fit.log_params, 12)[12]), "percent"),
                ("sBG alpha (spread of churn rates)", alpha, "number"),
                ("sBG beta", beta, "number")]


SBG = SBGRetention(key="sbg", method="cohort", label="sBG retention", in_sentence="sBG retention",
                   method_label="cohort retention")
