"""Grading predictions once the box scores arrive, and performance over time.

A prediction of date D is graded with the player's box score of D: the actual value, the error of
the mean, over / under / push against its line, and the profit of a recommended bet (1 unit at
the quoted odds; a push returns the stake). A player without a box score that day did not play:
his predictions are void, not graded. Performance, per stat, is measured over the day and the
trailing 7 and 30 days: MAE, Brier score and ECE of P(over) (pushes excluded), hit rate and ROI
of the recommended bets (real lines only: the served rule never bets a proxy line), volume, and
apart the Brier score on real lines only, ours and the market's.

The rollback rule of the runbook: after a retrained version is promoted, once it has WINDOW days
of graded predictions, compare them with the previous version's last WINDOW days; if the hit
rate fell by more than 0.03 or the Brier score rose by more than 0.02, the stat rolls back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from statmuse_pipelines.core.calibration import brier, ece
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.odds import profit

WINDOWS = (1, 7, 30)
ROLLBACK_WINDOW = 7
HIT_RATE_DROP = 0.03
BRIER_RISE = 0.02


def grade(predictions: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """Predictions with actual, error, result and bet profit (void when the player sat out)."""
    actuals = pl.concat(
        [
            games.select(
                "player_id",
                pl.col("game_date").alias("prediction_date"),
                pl.lit(stat).alias("stat"),
                pl.sum_horizontal(*(pl.col(p) for p in parts)).cast(pl.Float64).alias("actual"),
            )
            for stat, parts in TARGETS.items()
        ]
    )
    out = predictions.join(actuals, on=["player_id", "prediction_date", "stat"], how="left")
    result = (
        pl.when(pl.col("actual").is_null())
        .then(pl.lit("void"))
        .when(pl.col("actual") > pl.col("line"))
        .then(pl.lit("over"))
        .when(pl.col("actual") < pl.col("line"))
        .then(pl.lit("under"))
        .otherwise(pl.lit("push"))
    )
    out = out.with_columns(result=result, error=pl.col("prediction") - pl.col("actual"))
    bet = out["recommendation"].to_numpy()
    res = out["result"].to_numpy()
    won = ((bet == "OVER") & (res == "over")) | ((bet == "UNDER") & (res == "under"))
    outcome = np.where(res == "push", -1, np.where(won, 1, 0))
    odds = np.where(bet == "UNDER", out["under_odds"].to_numpy(), out["over_odds"].to_numpy())
    placed = (bet != "PASS") & (res != "void")
    pnl = np.where(placed, profit(np.ones(len(out)), odds, outcome), 0.0)
    return out.with_columns(
        pl.Series("bet_placed", placed),
        pl.Series("bet_won", placed & (outcome == 1)),
        pl.Series("bet_profit", pnl),
    )


def performance(outcomes: pl.DataFrame, day: date) -> pl.DataFrame:
    """Per stat and window (1, 7, 30 days ending `day`): the graded quality of the predictions."""
    rows = []
    graded = outcomes.filter(pl.col("result") != "void")
    for stat in sorted(graded["stat"].unique().to_list()):
        part = graded.filter(pl.col("stat") == stat)
        for window in WINDOWS:
            w = part.filter(
                pl.col("prediction_date").is_between(day - timedelta(days=window - 1), day)
            )
            rows.append({"stat": stat, "as_of": day, "window_days": window, **window_metrics(w)})
    return pl.DataFrame(rows, schema=PERFORMANCE_SCHEMA)


PERFORMANCE_SCHEMA = {
    "stat": pl.String,
    "as_of": pl.Date,
    "window_days": pl.Int64,
    "predictions": pl.Int64,
    "mae": pl.Float64,
    "brier": pl.Float64,
    "ece": pl.Float64,
    "bets": pl.Int64,
    "hit_rate": pl.Float64,
    "roi": pl.Float64,
    "real_predictions": pl.Int64,
    "real_brier": pl.Float64,
    "real_market_brier": pl.Float64,
    "model_versions": pl.String,
}


def window_metrics(w: pl.DataFrame) -> dict:
    decided = w.filter(pl.col("result").is_in(["over", "under"]))
    y = (decided["result"] == "over").cast(pl.Float64).to_numpy()
    p = (decided["p_over"] / (decided["p_over"] + decided["p_under"])).to_numpy()
    bets = w.filter(pl.col("bet_placed"))
    if "line_kind" in w.columns:
        bets = bets.filter(pl.col("line_kind") == "real")
    settled = bets.filter(pl.col("result") != "push")
    # real lines apart: a proxy line is no market, and the served rule never bets one
    real = (
        decided.filter(pl.col("line_kind") == "real")
        if "line_kind" in decided.columns
        else decided.clear()
    )
    y_real = (real["result"] == "over").cast(pl.Float64).to_numpy()
    p_real = (real["p_over"] / (real["p_over"] + real["p_under"])).to_numpy()
    return {
        "predictions": w.height,
        "mae": float(w["error"].abs().mean()) if w.height else math.nan,
        "brier": brier(p, y) if len(y) else math.nan,
        "ece": ece(p, y) if len(y) else math.nan,
        "bets": bets.height,
        "hit_rate": float(settled["bet_won"].mean()) if settled.height else math.nan,
        "roi": float(bets["bet_profit"].sum() / bets.height) if bets.height else math.nan,
        "real_predictions": real.height,
        "real_brier": brier(p_real, y_real) if len(y_real) else math.nan,
        "real_market_brier": _market_brier(real),
        "model_versions": ",".join(sorted(w["model_version"].unique().to_list()))
        if w.height
        else "",
    }


def _market_brier(real: pl.DataFrame) -> float:
    """The market's Brier score on the rows that carry its P (older rows may not)."""
    if "market_p_over" not in real.columns:
        return math.nan
    known = real.filter(pl.col("market_p_over").is_not_null())
    if known.height == 0:
        return math.nan
    y = (known["result"] == "over").cast(pl.Float64).to_numpy()
    return brier(known["market_p_over"].to_numpy(), y)


@dataclass(frozen=True)
class RollbackDecision:
    roll_back: bool
    reason: str


def rollback_decision(
    new: dict, old: dict, hit_rate_drop: float = HIT_RATE_DROP, brier_rise: float = BRIER_RISE
) -> RollbackDecision:
    """The runbook's rule on two windows of graded predictions (new version vs previous)."""
    reasons = []
    if (
        _finite(new["hit_rate"], old["hit_rate"])
        and old["hit_rate"] - new["hit_rate"] > hit_rate_drop
    ):
        reasons.append(f"hit rate {old['hit_rate']:.3f} -> {new['hit_rate']:.3f}")
    if _finite(new["brier"], old["brier"]) and new["brier"] - old["brier"] > brier_rise:
        reasons.append(f"Brier {old['brier']:.4f} -> {new['brier']:.4f}")
    if reasons:
        return RollbackDecision(True, "; ".join(reasons))
    return RollbackDecision(False, "within the runbook's margins")


def judge_replacement(
    graded: pl.DataFrame,
    current: str,
    previous: str,
    window_days: int = ROLLBACK_WINDOW,
    hit_rate_drop: float = HIT_RATE_DROP,
    brier_rise: float = BRIER_RISE,
) -> RollbackDecision | None:
    """The runbook's comparison for one stat: the first `window_days` graded days of the `current`
    version against the last `window_days` of the `previous` one. `graded` holds the stat's graded
    (non-void) predictions. None while the new version has fewer than `window_days` graded days
    or the previous one has none: too early to judge."""
    new = graded.filter(pl.col("model_version") == current)
    old = graded.filter(pl.col("model_version") == previous)
    if new["prediction_date"].n_unique() < window_days or old.height == 0:
        return None
    new_days = sorted(new["prediction_date"].unique().to_list())[:window_days]
    old_days = sorted(old["prediction_date"].unique().to_list())[-window_days:]
    return rollback_decision(
        window_metrics(new.filter(pl.col("prediction_date").is_in(new_days))),
        window_metrics(old.filter(pl.col("prediction_date").is_in(old_days))),
        hit_rate_drop,
        brier_rise,
    )


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)
