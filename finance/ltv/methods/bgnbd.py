"""The ``bgnbd`` LTV method: purchases by BG/NBD, spend per purchase by Gamma-Gamma.

Both conditional on each customer's own history (frequency, recency, T from
``finance.ltv.models.rfm_summary``): BG/NBD (Fader, Hardie & Lee 2005a, ``finance.ltv.models.bgnbd``)
for how many purchases a customer makes before silently stopping, Gamma-Gamma (Fader, Hardie & Lee
2005b, ``finance.ltv.models.gamma_gamma``) for what each is worth. A stratum's margin on purchases
turns that spend into margin.

When a stratum shows too little dropout for BG/NBD to estimate (the likelihood keeps rising as its a or b
runs off: ``FitError.edge``), the stratum is fitted by BG/NBD's limit, the NBD (``finance.ltv.models.nbd``,
customers who never stop), and the fit says so in its notes. Its parameters are then (r, alpha), not
(r, alpha, a, b); every step below reads them by name.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from finance.ltv import words
from finance.ltv.methods.common import Named, StratumFit, Units
from finance.ltv.models import (
    BGNBDFit,
    FitError,
    GammaGammaFit,
    NBDFit,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases_if_alive,
    bgnbd_probability_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_nbd,
    nbd_conditional_expected_purchases,
)
from finance.ltv.models.fitting import distinct_rows

DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7.0
"""The models run in weeks (``rfm_summary``'s default time unit); projections in months."""


def margin_pct(members: pl.DataFrame) -> float:
    revenue = float(members.get_column("revenue_total").sum())
    return float(members.get_column("margin_total").sum()) / revenue if revenue > 0 else 0.0


def purchase_units(members: pl.DataFrame) -> Units:
    """The stratum's customers grouped by cohort key, age and purchase history (x, t_x, T): each group's
    count, and the mean and mean square of its repeat spend. A projection is linear in each customer's
    spend, and the variance of a life quadratic, so the two moments make the groups' sums those of the
    customers, exactly, at the cost of one row per distinct history."""
    keys = ("__key", "age_observed", "frequency", "recency", "T")
    m = pl.col("monetary_value").cast(pl.Float64)
    grouped = members.group_by(*keys).agg(count=pl.len(), monetary_value=m.mean(),
                                          monetary_square=(m * m).mean()).sort(*keys)
    return Units(grouped.get_column("__key").to_numpy(), grouped.get_column("age_observed").to_numpy(),
                 grouped.get_column("count").to_numpy().astype(float),
                 {name: grouped.get_column(name).to_numpy().astype(float)
                  for name in ("frequency", "recency", "T", "monetary_value", "monetary_square")})


BGNBD_NAMES = BGNBDFit.param_names
NBD_NAMES = NBDFit.param_names
SPEND_NAMES = GammaGammaFit.param_names


def purchase_parameters(fit: StratumFit) -> int:
    """How many of the fit's log-parameters are the purchase model's: 4 for BG/NBD, 2 for its limit, the NBD."""
    return len(BGNBD_NAMES) if "a" in fit.names else len(NBD_NAMES)


def _spend_line(fit: StratumFit, units: Units, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's expected spend per purchase as c0 + c1 m, m a customer's mean repeat spend: Gamma-Gamma's
    p (gamma + x m) / (p x + q - 1), else m itself for a repeat buyer and the stratum's mean for the rest."""
    x = units.columns["frequency"]
    if "q" in fit.names:
        k = purchase_parameters(fit)
        p, q, gamma = np.exp(lp[k:k + 3])
        return p * gamma / (p * x + q - 1), np.where(x > 0, p * x / (p * x + q - 1), 0.0)
    repeat = x > 0
    return np.where(repeat, 0.0, fit.extra.get("mean_spend", 0.0)), np.where(repeat, 1.0, 0.0)


def _spend(fit: StratumFit, units: Units, lp: np.ndarray) -> np.ndarray:
    """Each unit's mean expected spend per purchase (the line at the unit's mean m)."""
    c0, c1 = _spend_line(fit, units, lp)
    return np.asarray(c0 + c1 * units.columns["monetary_value"])


def _spend_spread(fit: StratumFit, units: Units) -> np.ndarray:
    """mean(s^2) / mean(s)^2 of the expected spend s across each unit's customers (1 when they agree)."""
    c0, c1 = _spend_line(fit, units, fit.log_params)
    m, m2 = units.columns["monetary_value"], units.columns["monetary_square"]
    mean = c0 + c1 * m
    square = c0 * c0 + 2 * c0 * c1 * m + c1 * c1 * m2
    return np.where(mean > 0, square / np.where(mean > 0, mean * mean, 1.0), 1.0)


_PURCHASES: dict[tuple[int, bytes, int | None], tuple[Units, np.ndarray]] = {}
"""The last projections' expected purchases by customers and BG/NBD parameters: perturbing a spend parameter
reuses them. Each entry holds its ``Units``, so the id in its key cannot be another object's while it is
cached (an id is reused once its object is freed: two cohorts of the same size would share purchases)."""


SAME_FORECAST = 0.01
"""Where BG/NBD's search stopped forecasts within this share of the NBD's purchases over three years: the
dropout it was heading for changes no forecast, and the NBD is the model the data support."""


def _no_dropout(error: FitError, x: np.ndarray, tx: np.ndarray, big_t: np.ndarray) -> NBDFit:
    """The NBD for a stratum whose BG/NBD has no finite estimate because it shows no dropout; else ``error``.

    Either the search ran off along a or b alone (``FitError.edge``: the dropout probability's mean to 0),
    or it stopped short of an optimum at parameters whose forecast of the customers' purchases over the
    next three years is the NBD's within ``SAME_FORECAST`` (a and b running off together with a tiny
    a / (a + b): one small dropout probability for all, the NBD in all but name). A BG/NBD failure with
    dropout that changes the forecast is raised as it was: the NBD would let those customers live forever.
    """
    if (error.edge and not set(error.edge) <= {"a", "b"}) or (not error.edge and error.stopped_at is None):
        raise error
    try:
        nbd = fit_nbd(x, tx, big_t)
    except FitError:
        raise error from None
    if not error.edge and error.stopped_at is not None:
        ahead = 36 * WEEKS_PER_MONTH
        with np.errstate(all="ignore"):
            stopped = float(np.sum(bgnbd_conditional_expected_purchases(error.stopped_at, ahead, x, tx, big_t)))
        limit = float(np.sum(nbd_conditional_expected_purchases(nbd, ahead, x, tx, big_t)))
        if not (np.isfinite(stopped) and abs(stopped - limit) <= SAME_FORECAST * limit):
            raise error
    return nbd


def _monthly_purchases(fit: StratumFit, units: Units, months: int, log_params: np.ndarray,
                       horizon: int | None) -> np.ndarray:
    """Expected purchases of each unit's customer in each of the next ``months`` months: (units, months).

    BG/NBD's forecast is P(alive | x, t_x, T) times the forecast if alive, which depends on (x, T) alone:
    that part, with its Gaussian hypergeometric function, is taken once per distinct (x, T) and month.
    With ``horizon``, months at or past that age are left at 0.
    """
    x, tx, big_t = (units.columns[n] for n in ("frequency", "recency", "T"))
    ahead = np.arange(1, months + 1) * WEEKS_PER_MONTH
    k = purchase_parameters(fit)
    params = np.exp(log_params[:k])
    if k == len(NBD_NAMES):
        cumulative = nbd_conditional_expected_purchases(params, np.tile(ahead, len(x)), np.repeat(x, months),
                                                        np.repeat(tx, months), np.repeat(big_t, months)
                                                        ).reshape(len(x), months)
    else:
        (pair_x, pair_t), inverse, _ = distinct_rows(x, big_t)
        if_alive = bgnbd_expected_purchases_if_alive(params, np.tile(ahead, len(pair_x)), np.repeat(pair_x, months),
                                                     np.repeat(pair_t, months)).reshape(len(pair_x), months)
        cumulative = if_alive[inverse] * bgnbd_probability_alive(params, x, tx, big_t)[:, None]
    purchases = np.diff(cumulative, axis=1, prepend=0.0)
    if horizon is not None:
        purchases[units.age[:, None] + np.arange(1, months + 1)[None, :] >= horizon] = 0.0
    return np.asarray(purchases)


class BGNBDPurchases(Named):
    """Repeat purchases until a silent stop (BG/NBD), each worth a Gamma-Gamma amount."""

    uses_purchases = True

    def fit(self, stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
        """BG/NBD on (frequency, recency, T) and Gamma-Gamma on repeat spend; a spend model that the data
        cannot support (one price for everyone, an infinite mean) gives way to each customer's own mean."""
        known = members.filter(pl.col("T") > 0).sort("customer_id")
        x, tx, big_t = (known.get_column(n).to_numpy() for n in ("frequency", "recency", "T"))
        notes: tuple[str, ...] = ()
        try:
            bg = fit_bgnbd(x, tx, big_t)
        except FitError as exc:
            nbd = _no_dropout(exc, x, tx, big_t)
            names: tuple[str, ...] = NBD_NAMES
            log_params, covariance, log_likelihood = np.log(nbd.params), nbd.covariance, nbd.log_likelihood
            notes = (words.NBD_USED,)
        else:
            # Parameters at the edge of what the formulas can evaluate (2F1 past its range) forecast no number;
            # customers of one history have one forecast.
            (hx, htx, ht), _, _ = distinct_rows(x, tx, big_t)
            with np.errstate(all="ignore"):
                ahead = bgnbd_conditional_expected_purchases(bg, np.full(len(hx), 36 * WEEKS_PER_MONTH), hx, htx, ht)
            if not np.all(np.isfinite(ahead)):
                raise FitError(f"BG/NBD: the fit (r={bg.r:.3g}, alpha={bg.alpha:.3g}, a={bg.a:.3g}, b={bg.b:.3g}) "
                               "gives no finite forecast for every customer")
            names = BGNBD_NAMES
            log_params, covariance, log_likelihood = np.log(bg.params), bg.covariance, bg.log_likelihood
        repeat = known.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
        extra = {"margin_pct": margin_pct(members)}
        buyers = members.filter(pl.col("mean_value") > 0).get_column("mean_value")
        extra["mean_spend"] = float(repeat.get_column("monetary_value").mean() if repeat.height  # type: ignore[arg-type]
                                    else buyers.mean() if buyers.len() else 0.0)
        try:
            steady = members.filter(pl.col("payments") >= 3).get_column("amount_spread")
            if steady.len() and float((steady <= 1.01).mean()) >= 0.8:  # type: ignore[arg-type]
                raise FitError("Gamma-Gamma: repeat payers pay the same amount every time (subscriptions)")
            gg = fit_gamma_gamma(repeat.get_column("frequency").to_numpy(),
                                 repeat.get_column("monetary_value").to_numpy())
            if gg.q <= 1:
                raise FitError(f"Gamma-Gamma: q = {gg.q:.3g} <= 1 makes a new customer's expected spend infinite")
            k = len(names)
            names = (*names, *SPEND_NAMES)
            log_params = np.concatenate([log_params, np.log(gg.params)])
            covariance = np.block([[covariance, np.zeros((k, 3))], [np.zeros((3, k)), gg.covariance]])
        except FitError:
            pass  # spend per purchase: each customer's own mean, else the stratum's
        return StratumFit(stratum, self.key, names, log_params, covariance, members.height, extra,
                          log_likelihood=log_likelihood, notes=notes)

    def units(self, members: pl.DataFrame) -> Units:
        return purchase_units(members)

    def extra_for(self, members: pl.DataFrame) -> dict[str, float]:
        """The constants a pooled stratum keeps of its own: its margin, not its segment's."""
        return {"margin_pct": margin_pct(members)}

    def expected_margin(self, fit: StratumFit, units: Units, months: int, log_params: np.ndarray,
                        horizon: int | None = None) -> np.ndarray:
        """Expected purchases in each month ahead times the margin on each customer's expected spend."""
        key = (id(units), log_params[:purchase_parameters(fit)].tobytes(), horizon)
        cached = _PURCHASES.get(key)
        purchases = cached[1] if cached is not None and cached[0] is units else None
        if purchases is None or purchases.shape != (len(units.count), months):
            purchases = _monthly_purchases(fit, units, months, log_params, horizon)
            if len(_PURCHASES) > 16:
                _PURCHASES.clear()
            _PURCHASES[key] = (units, purchases)
        return np.asarray(purchases * (_spend(fit, units, log_params) * fit.extra["margin_pct"])[:, None])

    def process_variance(self, fit: StratumFit, units: Units, weights: np.ndarray,
                         expected: np.ndarray) -> np.ndarray:
        """A customer alive with probability pi buys a Poisson count at a Gamma-distributed rate (shape
        r + x after their history), each purchase a Gamma-distributed amount (shape p), so
        Var ~= g s (1 + 1/p) sum w^2 E + A^2 / pi x (1 / (r + x) + 1 - pi), with A = sum w E. The NBD's
        customers are all alive (pi = 1)."""
        x, tx, big_t = (units.columns[n] for n in ("frequency", "recency", "T"))
        k = purchase_parameters(fit)
        r = float(np.exp(fit.log_params[0]))
        p_shape = float(np.exp(fit.log_params[k])) if "q" in fit.names else 4.0
        alive = (bgnbd_probability_alive(np.exp(fit.log_params[:k]), x, tx, big_t) if k == len(BGNBD_NAMES)
                 else np.ones(len(x)))
        value = _spend(fit, units, fit.log_params) * fit.extra["margin_pct"]
        total = np.sum(weights * expected, axis=1)
        poisson = value * (1 + 1 / p_shape) * np.sum(weights**2 * expected, axis=1)
        # total is linear in a customer's spend: its square averaged over the unit's customers
        mixing = total**2 * _spend_spread(fit, units) / np.maximum(alive, 1e-9) * (1 / (r + x) + 1 - alive)
        return np.asarray(poisson + mixing)

    def describe(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        p = fit.params
        r, alpha = p["r"], p["alpha"]
        out = [("Purchases per month of an active customer (average)", r / alpha * WEEKS_PER_MONTH, "number")]
        if "a" in p:
            a, b = p["a"], p["b"]
            out += [("Chance of stopping after each repeat purchase", a / (a + b), "percent"),
                    ("BG/NBD r", r, "number"), ("BG/NBD alpha (weeks)", alpha, "number"), ("BG/NBD a", a, "number"),
                    ("BG/NBD b", b, "number")]
        else:
            out += [("Chance of stopping after each repeat purchase", 0.0, "percent"),
                    ("NBD r", r, "number"), ("NBD alpha (weeks)", alpha, "number")]
        if "q" in p:
            out.append(("Average order value of a new customer", p["p"] * p["gamma"] / (p["q"] - 1), "money"))
            out += [("Gamma-Gamma p", p["p"], "number"), ("Gamma-Gamma q", p["q"], "number"),
                    ("Gamma-Gamma gamma", p["gamma"], "number")]
        else:
            out.append(("Average order value (observed)", fit.extra.get("mean_spend", 0.0), "money"))
        out.append(("Gross margin on purchases", fit.extra.get("margin_pct", 0.0), "percent"))
        return out


BGNBD = BGNBDPurchases(key="bgnbd", method="bgnbd", label="BG/NBD", in_sentence="BG/NBD",
                       method_label="purchase model")
