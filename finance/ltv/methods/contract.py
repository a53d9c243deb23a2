"""The contractual projection the churn formula and sBG retention share: renewals times survival.

A customer is alive through the months they have paid for (``finance.ltv.base.billing_terms``): an
annual payer renews, or not, twelve months after their last invoice, and their renewals are
projected as lumps at the renewal months. The two contractual methods differ only in the survival
S(t) they fit (``Contractual.survival``); the projection, its variance and the margin per paid
month are the same.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from finance.ltv.methods.common import Named, StratumFit, Units


def margin_rate(members: pl.DataFrame) -> float:
    """Margin per paid customer-month: a prepaid term's months count as paid."""
    paid = members.get_column("paid_through").fill_null(-1).to_numpy() + 1
    months = float(paid.sum())
    return float(members.get_column("margin_total").sum()) / months if months > 0 else 0.0


def contract_units(members: pl.DataFrame) -> Units:
    """Alive customers grouped by key, age, paid-through age, interval, and the key's margin rate."""
    alive = members.filter(pl.col("paid_through") >= pl.col("age_observed"))
    rates = members.group_by("__key").agg(
        __rate=pl.col("margin_total").sum() / (pl.col("paid_through").fill_null(-1) + 1).sum())
    grouped = alive.join(rates, on="__key").group_by("__key", "age_observed", "paid_through", "interval", "__rate").agg(
        count=pl.len()).sort("__key", "age_observed", "paid_through", "interval")
    return Units(grouped.get_column("__key").to_numpy(), grouped.get_column("age_observed").to_numpy(),
                 grouped.get_column("count").to_numpy().astype(float),
                 {"paid": grouped.get_column("paid_through").to_numpy(),
                  "interval": grouped.get_column("interval").to_numpy(),
                  "rate": grouped.get_column("__rate").fill_nan(0.0).to_numpy()})


class Contractual(Named):
    """A contractual method: each subclass says how it fits a stratum, its survival and its words."""

    uses_purchases = False

    def survival(self, log_params: np.ndarray, last: int) -> np.ndarray:
        """S(t), t = 0 .. last: the share of customers still paying after t months."""
        raise NotImplementedError

    def retention_words(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        """The fitted retention in business words (``describe`` adds the margin)."""
        raise NotImplementedError

    def units(self, members: pl.DataFrame) -> Units:
        return contract_units(members)

    def extra_for(self, members: pl.DataFrame) -> dict[str, float]:
        """The constants a pooled stratum keeps of its own: its margin, not its segment's."""
        return {"margin_per_month": margin_rate(members)}

    def paths(self, units: Units, months: int, log_params: np.ndarray) -> tuple[np.ndarray, ...]:
        """(cash per renewal if alive, P(alive) at each month ahead), both (units, months)."""
        j = np.arange(1, months + 1)
        age = units.age[:, None] + j[None, :]
        paid = units.columns["paid"][:, None]
        interval = units.columns["interval"][:, None]
        since = age - paid - 1
        renewal = (since >= 0) & (since % interval == 0)
        survival = self.survival(log_params, int(age.max(initial=0)) + 1)
        # Known: they paid at their last invoice (lifetime L > its age); alive at a renewal t when L > t.
        invoiced = paid - interval + 1
        p_alive = np.where(since >= 0, survival[np.minimum(age, len(survival) - 1)] / survival[invoiced], 0.0)
        cash = np.where(renewal, interval * units.columns["rate"][:, None], 0.0)
        return cash, p_alive

    def expected_margin(self, fit: StratumFit, units: Units, months: int, log_params: np.ndarray,
                        horizon: int | None = None) -> np.ndarray:
        """Cash at each renewal times the chance of being alive to pay it: (units, months)."""
        cash, p_alive = self.paths(units, months, log_params)
        return np.asarray(cash * p_alive)

    def process_variance(self, fit: StratumFit, units: Units, weights: np.ndarray,
                         expected: np.ndarray) -> np.ndarray:
        """V_j is a renewal's cash if alive at month j, and a customer alive at the later of two months
        was alive at both, so E[(sum w V)^2] = sum_j u_j s_j (2 U_j - u_j) with u = w x cash, s the
        survival and U the running sum of u."""
        cash, p_alive = self.paths(units, weights.shape[1], fit.log_params)
        u = weights * cash
        second = np.sum(u * p_alive * (2 * np.cumsum(u, axis=1) - u), axis=1)
        first = np.sum(u * p_alive, axis=1)
        return np.asarray(np.maximum(second - first**2, 0.0))

    def describe(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        out = self.retention_words(fit)
        if "margin_per_month" in fit.extra:
            out.append(("Gross margin per paying customer-month", fit.extra["margin_per_month"], "money"))
        return out
