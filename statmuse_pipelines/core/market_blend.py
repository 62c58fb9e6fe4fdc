"""Market-aware P(over): our predictive distribution combined with the de-vigged market.

The market's de-vigged P(over) is information we get for free. The final P(over) is a logistic
model of the outcome with the market's logit as an offset,

    logit P = logit(m) + a + b * logit(m) + c * (logit(ours) - logit(m)),

fit on real lines dated strictly before the prediction, with a ridge penalty that pulls
(a, b, c) to zero, i.e. to the market itself. It is only used where it has *measured* an edge:
every date's fitted blend predicts that date's rows whether it is used or not (`p_shadow`), and
unless that out-of-sample track record beats the market's log loss by `edge_z` standard errors
(clustered by game date: one slate's props are not independent), the final P(over) is the
market's. With too few real lines, or too short a track record, it is the market's too, and no
edge is claimed. Proxy lines are never blended (a naive book is no market).

Bets follow one rule fixed in advance (`BettingRule`): a side is recommended only when its final
P beats the market's by `margin` and its price is above break-even; stakes are fractional Kelly on
that edge, capped per bet and per day.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy import optimize

from statmuse_pipelines.core.calibration import log_loss, row_log_loss
from statmuse_pipelines.core.odds import expected_value, kelly_fraction

EPS = 1e-4


@dataclass(frozen=True)
class BlendSettings:
    min_rows: int = 1000  # decided real-line rows needed before the blend may be used
    ridge: float = 100.0  # L2 pull of (a, b, c) to the market, in summed log-likelihood units
    edge_z: float = 2.0  # out-of-sample gain in log loss needed, in standard errors (by date)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BettingRule:
    """The served rule: the one strategy configured before any period it is scored on."""

    margin: float = 0.03  # our P(side | no push) must beat the market's by this much
    kelly: float = 0.25  # fraction of full Kelly
    bet_cap: float = 0.02  # largest stake, share of the bankroll
    day_cap: float = 0.10  # largest sum of a day's stakes, share of the bankroll

    def as_dict(self) -> dict:
        return asdict(self)


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _design(market_p: np.ndarray, ours_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lm, lo = logit(market_p), logit(ours_p)
    return lm, np.column_stack([np.ones_like(lm), lm, lo - lm])


def _fit_theta(market_p: np.ndarray, ours_p: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    offset, X = _design(market_p, ours_p)
    y = np.asarray(y, dtype=float)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = offset + X @ theta
        # log(1 + e^z) - y z, stable
        nll = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * ridge * theta @ theta
        p = 1.0 / (1.0 + np.exp(-z))
        grad = X.T @ (p - y) + ridge * theta
        return float(nll), grad

    res = optimize.minimize(loss, np.zeros(3), jac=True, method="L-BFGS-B")
    return np.asarray(res.x, dtype=float)


@dataclass
class MarketBlend:
    """A fitted blend, used (`active`) or not: inactive, its P(over) is the market's."""

    active: bool
    theta: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fitted: bool = False  # theta was fit (enough rows), whether or not it is used
    rows: int = 0
    fit_end: date | None = None  # the last game date of the rows it was fit on
    track_rows: int = 0  # rows of its out-of-sample track record
    track_ours: float = math.nan  # log loss of the track record: the blend's predictions
    track_market: float = math.nan  # and the market's, on the same rows
    reason: str = ""

    def predict(self, market_p, ours_p) -> np.ndarray:
        """The final P(over): the blend's where it is used, else the market's."""
        market_p = np.asarray(market_p, dtype=float)
        if not self.active:
            return market_p.copy()
        return self.shadow(market_p, ours_p)

    def shadow(self, market_p, ours_p) -> np.ndarray:
        """What the fitted blend says, used or not (NaN before it could be fit): its track."""
        market_p = np.asarray(market_p, dtype=float)
        if not self.fitted and not self.active:
            return np.full(len(market_p), np.nan)
        offset, X = _design(market_p, np.asarray(ours_p, dtype=float))
        return 1.0 / (1.0 + np.exp(-(offset + X @ np.asarray(self.theta))))

    def describe(self) -> dict:
        a, b, c = self.theta
        return {
            "active": self.active,
            "intercept": round(a, 4),
            "market_weight": round(1.0 + b, 4),
            "ours_weight": round(c, 4),
            "rows": self.rows,
            "fit_end": str(self.fit_end) if self.fit_end else None,
            "track_rows": self.track_rows,
            "track_log_loss_blend": _round(self.track_ours),
            "track_log_loss_market": _round(self.track_market),
            "reason": self.reason,
        }


def _round(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 5)


def fit_blend(history: pl.DataFrame, settings: BlendSettings = BlendSettings()) -> MarketBlend:
    """The blend from decided real-line rows (`game_date`, `market_p_over`, `p_over_raw`,
    `went_over`, and `p_shadow`: what the blend of each row's own date predicted for it, i.e.
    the blend's out-of-sample track record); every row must be dated before the rows it will
    score (the caller's promise, checked by a test). Fit on all of them; used (active) only when
    its track record beats the market's log loss by `edge_z` standard errors."""
    rows = history.filter(
        pl.col("went_over").is_not_null()
        & pl.col("market_p_over").is_not_null()
        & pl.col("p_over_raw").is_not_null()
    )
    fit_end = rows["game_date"].max() if rows.height else None
    if rows.height < settings.min_rows:
        return MarketBlend(
            False, rows=rows.height, fit_end=fit_end,
            reason=f"{rows.height} real-line rows before the date (< {settings.min_rows})",
        )  # fmt: skip
    m, o, y = (rows[c].to_numpy() for c in ("market_p_over", "p_over_raw", "went_over"))
    theta = tuple(float(t) for t in _fit_theta(m, o, y, settings.ridge))
    track = (
        rows.filter(pl.col("p_shadow").is_not_null())
        if "p_shadow" in rows.columns
        else rows.clear()
    )
    common = {"theta": theta, "fitted": True, "rows": rows.height, "fit_end": fit_end,
              "track_rows": track.height}  # fmt: skip
    if track.height < settings.min_rows:
        return MarketBlend(
            False, reason=f"a track record of {track.height} rows (< {settings.min_rows})",
            **common,
        )  # fmt: skip
    m_t, p_t, y_t = (track[c].to_numpy() for c in ("market_p_over", "p_shadow", "went_over"))
    gain, se = _clustered_gain(m_t, p_t, y_t, track["game_date"].to_numpy())
    common |= {"track_ours": log_loss(p_t, y_t), "track_market": log_loss(m_t, y_t)}
    if not gain > settings.edge_z * se:
        return MarketBlend(
            False,
            reason=f"no measured edge out of sample (log-loss gain {gain:.5f}, "
            f"needs > {settings.edge_z} x {se:.5f}): the market's P",
            **common,
        )
    return MarketBlend(
        True, reason=f"out of sample it beat the market by {gain:.5f} (se {se:.5f})", **common
    )


def _clustered_gain(
    market: np.ndarray, ours: np.ndarray, y: np.ndarray, days: np.ndarray
) -> tuple[float, float]:
    """Mean log-loss gain of ours over the market per row, and its standard error with the
    rows of a game date as one cluster."""
    y = np.asarray(y, dtype=float)
    d = row_log_loss(market, y) - row_log_loss(ours, y)
    _, inverse = np.unique(days, return_inverse=True)
    sums, counts = np.bincount(inverse, weights=d), np.bincount(inverse).astype(float)
    n = counts.sum()
    mean = sums.sum() / n
    se = math.sqrt(np.sum((sums - mean * counts) ** 2)) / n
    return float(mean), float(se)


def recommend(
    p_over: np.ndarray,
    p_under: np.ndarray,
    p_push: np.ndarray,
    market_p_over: np.ndarray,
    over_odds: np.ndarray,
    under_odds: np.ndarray,
    rule: BettingRule = BettingRule(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recommendation OVER/UNDER/PASS, edge of the chosen side, Kelly share of the bankroll)
    per row. A row without a market P or without a price on a side never bets that side."""
    p_over, p_under, p_push = (np.asarray(a, dtype=float) for a in (p_over, p_under, p_push))
    market = np.asarray(market_p_over, dtype=float)
    over_odds, under_odds = np.asarray(over_odds, float), np.asarray(under_odds, float)
    decided = np.clip(p_over + p_under, 1e-12, None)
    edge_over = p_over / decided - market
    edge_under = p_under / decided - (1.0 - market)
    with np.errstate(invalid="ignore"):
        ev_over = expected_value(p_over, over_odds, p_push)
        ev_under = expected_value(p_under, under_odds, p_push)
    ok_over = np.nan_to_num(edge_over, nan=-1) >= rule.margin
    ok_over &= np.nan_to_num(ev_over, nan=-1) > 0
    ok_under = np.nan_to_num(edge_under, nan=-1) >= rule.margin
    ok_under &= np.nan_to_num(ev_under, nan=-1) > 0
    take_over = ok_over & (~ok_under | (edge_over >= edge_under))
    take_under = ok_under & ~take_over
    rec = np.where(take_over, "OVER", np.where(take_under, "UNDER", "PASS"))
    edge = np.where(take_over, edge_over, np.where(take_under, edge_under, 0.0))
    with np.errstate(invalid="ignore"):
        stake_over = kelly_fraction(p_over, over_odds, rule.kelly, rule.bet_cap, p_push)
        stake_under = kelly_fraction(p_under, under_odds, rule.kelly, rule.bet_cap, p_push)
    stake = np.where(take_over, stake_over, np.where(take_under, stake_under, 0.0))
    return rec, edge, np.nan_to_num(stake)


def cap_daily(stake: np.ndarray, days: np.ndarray | None, cap: float) -> np.ndarray:
    """Scale each day's stakes down so that they sum to at most `cap` of the bankroll
    (`days` None: all stakes are one day's)."""
    stake = np.asarray(stake, dtype=float).copy()
    days = np.zeros(len(stake)) if days is None else np.asarray(days)
    for d in np.unique(days):
        idx = days == d
        total = stake[idx].sum()
        if total > cap:
            stake[idx] *= cap / total
    return stake
