"""The daily slate: who plays today, their pregame features, and a prediction per stat.

Candidates: for each team on the slate, the players who played for it (as their latest team) in
any of its last ROTATION_GAMES games and within ABSENCE_DAYS days: its recent rotation, without
players out for a long stretch. Their features come from `core.features.build_features` exactly
as for played games (only games before the date). Each stat's production model gives a mean, its
distribution and calibrator give P(over), P(under) and P(push) at the line (real when the lines
source has one for that day, else a labelled proxy); expected value is at the reference book's
price; the recommendation is the side with the larger expected value when it clears MIN_EDGE
and its probability is at least MIN_PROBABILITY, else PASS.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from statmuse_pipelines.core.datasets import with_target_features
from statmuse_pipelines.core.features import KEYS
from statmuse_pipelines.core.odds import expected_value, kelly_fraction
from statmuse_pipelines.core.probabilities import ProbabilityModel, with_lines
from statmuse_pipelines.core.registry import ServingModel
from statmuse_pipelines.core.teams import ABBREVIATION_BY_ID

ROTATION_GAMES = 5
ABSENCE_DAYS = 14
MIN_EDGE = 0.03  # expected profit per unit staked needed to recommend a bet
MIN_PROBABILITY = 0.5
KELLY = (0.25, 0.05)  # fraction of full Kelly, cap as a share of the bankroll

PREDICTION_COLUMNS = (
    "prediction_date", "game_id", "player_id", "player_name", "team", "opponent", "is_home",
    "stat", "model_version", "prediction", "line", "line_kind", "book", "over_odds",
    "under_odds", "p_over", "p_under", "p_push", "ev_over", "ev_under", "recommendation",
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
    probability: ProbabilityModel,
    market_lines: pl.DataFrame | None,
) -> pl.DataFrame:
    """One prediction row per candidate for `stat`."""
    frame = with_target_features(features, stat)
    mu = np.clip(model.predict(frame), 0.0, None)
    frame = with_lines(frame.with_columns(mu=pl.Series(mu)), market_lines, stat)
    line = frame["line"].to_numpy()
    p = probability.calibrated(mu, line)
    over_odds, under_odds = frame["ref_over_odds"].to_numpy(), frame["ref_under_odds"].to_numpy()
    ev_over = expected_value(p["over"], over_odds, p["push"])
    ev_under = expected_value(p["under"], under_odds, p["push"])
    take_over = (ev_over >= ev_under) & (ev_over > MIN_EDGE) & (p["over"] >= MIN_PROBABILITY)
    take_under = (ev_under > ev_over) & (ev_under > MIN_EDGE) & (p["under"] >= MIN_PROBABILITY)
    rec = np.where(take_over, "OVER", np.where(take_under, "UNDER", "PASS"))
    larger = np.maximum(p["over"], p["under"])
    confidence = np.where(rec == "UNDER", p["under"], np.where(rec == "OVER", p["over"], larger))
    stake = np.where(
        rec == "OVER",
        kelly_fraction(p["over"], over_odds, *KELLY),
        np.where(rec == "UNDER", kelly_fraction(p["under"], under_odds, *KELLY), 0.0),
    )
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
        pl.Series("p_over", p["over"]),
        pl.Series("p_under", p["under"]),
        pl.Series("p_push", p["push"]),
        pl.Series("ev_over", ev_over),
        pl.Series("ev_under", ev_under),
        pl.Series("recommendation", rec),
        pl.Series("confidence", confidence),
        pl.Series("kelly_stake", stake),
        pl.lit(probability.distribution.family).alias("distribution"),
        pl.lit(probability.calibrator.method).alias("calibrator"),
    )  # fmt: skip
