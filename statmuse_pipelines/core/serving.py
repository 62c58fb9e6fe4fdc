"""The daily slate: who plays today, their pregame features, and a prediction per stat.

Candidates: for each team on the slate, the players who played for it (as their latest team) in
any of its last ROTATION_GAMES games and within ABSENCE_DAYS days: its recent rotation, without
players out for a long stretch. Their features come from `core.features.build_features` exactly
as for played games (only games before the date). Each stat's production model gives a mean;
the distribution its walk-forward evaluation fit on out-of-sample predictions gives our own
P(over), P(under) and P(push) at the line (real when the lines source has one for that day, else
a labelled proxy); on a real line the final P(over) is the walk-forward market blend of ours and
the de-vigged market's (the market's itself where the blend measured no edge). The
recommendation is the served rule that the backtests score (core.market_blend.recommend): a side
whose final P beats the market's by the rule's margin at a price above break-even, else PASS;
proxy lines are never bet. Stakes are fractional Kelly, capped per bet and per day.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from statmuse_pipelines.core.datasets import with_target_features
from statmuse_pipelines.core.features import KEYS
from statmuse_pipelines.core.market_blend import cap_daily, recommend
from statmuse_pipelines.core.odds import expected_value
from statmuse_pipelines.core.probabilities import with_lines
from statmuse_pipelines.core.registry import ServingModel
from statmuse_pipelines.core.teams import ABBREVIATION_BY_ID

ROTATION_GAMES = 5
ABSENCE_DAYS = 14

PREDICTION_COLUMNS = (
    "prediction_date", "game_id", "player_id", "player_name", "team", "opponent", "is_home",
    "stat", "model_version", "prediction", "line", "line_kind", "book", "over_odds",
    "under_odds", "market_p_over", "p_over", "p_under", "p_push", "ev_over", "ev_under",
    "recommendation",
    "confidence", "kelly_stake", "distribution", "calibrator",
)  # fmt: skip


def slate_candidates(history: pl.DataFrame, slate: pl.DataFrame, day: date) -> pl.DataFrame:
    """Target rows (the KEYS of core.features) for the players expected to play on `day`.

    history: player_game_stats before `day`; slate: the day's games (game_id, game_date,
    season, home_team_id, away_team_id).
    """
    before = history.filter(pl.col("game_date") < day)
    latest = (
        before.sort("game_date")
        .group_by("player_id")
        .agg(
            pl.col("player_name").last(),
            pl.col("team_id").last(),
            pl.col("game_date").last().alias("last_played"),
        )
    )
    team_days = before.select("team_id", "game_date").unique()
    cutoff = (
        team_days.sort("game_date", descending=True)
        .group_by("team_id")
        .agg(pl.col("game_date").head(ROTATION_GAMES).min().alias("rotation_since"))
    )
    sides = pl.concat(
        [
            slate.select(
                "game_id", "season", pl.col("home_team_id").alias("team_id"),
                pl.col("away_team_id").alias("opponent_id"), pl.lit(True).alias("is_home"),
            ),
            slate.select(
                "game_id", "season", pl.col("away_team_id").alias("team_id"),
                pl.col("home_team_id").alias("opponent_id"), pl.lit(False).alias("is_home"),
            ),
        ]
    )  # fmt: skip
    abbr = pl.col("team_id").replace_strict(ABBREVIATION_BY_ID, default=None)
    opp = pl.col("opponent_id").replace_strict(ABBREVIATION_BY_ID, default=None)
    return (
        latest.join(cutoff, on="team_id")
        .filter(
            (pl.col("last_played") >= pl.col("rotation_since"))
            & ((pl.lit(day) - pl.col("last_played")).dt.total_days() <= ABSENCE_DAYS)
        )
        .join(sides, on="team_id")
        .with_columns(game_date=pl.lit(day), team=abbr, opponent=opp)
        .select(*KEYS)
        .sort("game_id", "team_id", "player_id")
    )


def predict_stat(
    features: pl.DataFrame,
    stat: str,
    model: ServingModel,
    walk_forward: dict,
    market_lines: pl.DataFrame | None,
) -> pl.DataFrame:
    """One prediction row per candidate for `stat`. `walk_forward`: the `distribution`, `blend`
    and `settings` (its betting rule) the stat's walk-forward evaluation left for serving."""
    dist, blend, rule = (
        walk_forward["distribution"], walk_forward["blend"], walk_forward["settings"].rule
    )  # fmt: skip
    frame = with_target_features(features, stat)
    mu = np.clip(model.predict(frame), 0.0, None)
    frame = with_lines(frame.with_columns(mu=pl.Series(mu)), market_lines, stat)
    line = frame["line"].to_numpy()
    raw = dist.probabilities(line, mu)
    decided = np.clip(raw["over"] + raw["under"], 1e-12, None)
    is_real = (frame["line_kind"] == "real").to_numpy()
    market = frame["market_p_over"].to_numpy()
    final = np.where(is_real, blend.predict(market, raw["over"] / decided), raw["over"] / decided)
    push = raw["push"]
    p_over, p_under = final * (1 - push), (1 - final) * (1 - push)
    over_odds, under_odds = frame["ref_over_odds"].to_numpy(), frame["ref_under_odds"].to_numpy()
    ev_over = expected_value(p_over, over_odds, push)
    ev_under = expected_value(p_under, under_odds, push)
    rec, _, stake = recommend(p_over, p_under, push, market, over_odds, under_odds, rule)
    bettable = is_real & blend.active  # an edge only against a real market, where one was measured
    rec = np.where(bettable, rec, "PASS")
    # the stat's stakes of the day together within the rule's daily cap, as in the backtests
    stake = cap_daily(np.where(bettable, stake, 0.0), None, rule.day_cap)
    larger = np.maximum(p_over, p_under)
    confidence = np.where(rec == "UNDER", p_under, np.where(rec == "OVER", p_over, larger))
    method = np.where(is_real, "market_blend" if blend.active else "market", "none (proxy line)")
    return frame.select(
        pl.col("game_date").alias("prediction_date"),
        "game_id", "player_id", "player_name", "team", "opponent", "is_home",
        pl.lit(stat).alias("stat"),
        pl.lit(model.version).alias("model_version"),
        pl.Series("prediction", mu),
        "line", "line_kind",
        pl.col("reference_book").alias("book"),
        pl.col("ref_over_odds").alias("over_odds"),
        pl.col("ref_under_odds").alias("under_odds"),
        "market_p_over",
        pl.Series("p_over", p_over),
        pl.Series("p_under", p_under),
        pl.Series("p_push", push),
        pl.Series("ev_over", ev_over),
        pl.Series("ev_under", ev_under),
        pl.Series("recommendation", rec),
        pl.Series("confidence", confidence),
        pl.Series("kelly_stake", stake),
        pl.lit(dist.family).alias("distribution"),
        pl.Series("calibrator", method),
    )  # fmt: skip
