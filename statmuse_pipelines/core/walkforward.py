"""Walk-forward (rolling-origin) evaluation: every scored prediction from a fit of the past only.

Through the evaluation period the model is refit at a fixed interval (monthly by default) with
the settings its version chose, on every row dated before the interval, and predicts the
interval. A warm-up interval before the period is predicted the same way, so that the first
scored interval already has out-of-sample predictions behind it. For each interval:

1. the mean: the refit model (its fit ends before the interval starts: `fit_end`);
2. the count distribution (family and spread): fit on the out-of-sample predictions of the
   earlier intervals only, never on rows the model was fit, tuned or early-stopped on;
3. the market-aware P(over) (core.market_blend): refit each game date on the real-line rows
   scored before that date, and used only where its own out-of-sample track record on those
   rows beat the market;
4. the recommendation and stake: the served rule, fixed before the period.

Nothing a row is scored with has seen that row's date or any later one (a test scrambles a
period's outcomes and checks that its predictions do not move).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from statmuse_pipelines.core.distributions import CountDistribution, choose_family
from statmuse_pipelines.core.market_blend import (
    BettingRule,
    BlendSettings,
    MarketBlend,
    cap_daily,
    fit_blend,
    recommend,
)
from statmuse_pipelines.core.models import POOLED
from statmuse_pipelines.core.probabilities import outcome_over, with_lines
from statmuse_pipelines.core.registry import refit_production

PASS = "PASS"
DAYS_IN_MONTH = 30.4


@dataclass(frozen=True)
class WalkForwardSettings:
    refit_months: int = 1  # months between refits of the model and its distribution
    warmup_dates: int = 60  # game dates before the period predicted to fit the first spread
    start: date | None = None  # None: the start of the latest season that has real lines
    end: date | None = None  # None: the last date with results
    blend: BlendSettings = field(default_factory=BlendSettings)
    rule: BettingRule = field(default_factory=BettingRule)

    def describe(self) -> dict:
        return {
            "refit_months": self.refit_months,
            "warmup_dates": self.warmup_dates,
            "start": str(self.start) if self.start else None,
            "end": str(self.end) if self.end else None,
            "blend": self.blend.as_dict(),
            "rule": self.rule.as_dict(),
        }


def season_start(day: date) -> date:
    """July 1 before `day`: the season boundary."""
    return date(day.year if day.month >= 7 else day.year - 1, 7, 1)


def default_period(
    dates: pl.Series, real_line_dates: pl.Series | None, warmup_dates: int = 0
) -> tuple[date, date]:
    """From the first game date of the latest season with real lines (else the latest season)
    to the last game date with results; later when fewer than `warmup_dates` + 1 game dates
    come before that (a fit and a warm-up need them)."""
    last = dates.max()
    anchor = real_line_dates.max() if real_line_dates is not None and len(real_line_dates) else last
    boundary = season_start(min(anchor, last))
    first = dates.filter(dates >= boundary).min()
    unique = dates.unique().sort()
    if unique.filter(unique < first).len() < warmup_dates + 1:
        first = unique[min(len(unique) - 1, warmup_dates + 1)]
    return first, last


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    return date(day.year + y, m + 1, 1)


def fold_starts(start: date, end: date, months: int) -> list[date]:
    """The refit dates: `start`, then the first of every `months`-th month after it, to `end`;
    the first of those is skipped when it comes less than half an interval after `start` (a
    season that opens on October 24 is refit on December 1, not 8 days in on November 1: a
    week more of games barely moves a fit of years, and each refit is a full fit)."""
    if months < 1:
        raise ValueError(f"refit_months must be at least 1, not {months}")
    out = [start]
    nxt = _add_months(date(start.year, start.month, 1), months)
    if (nxt - start).days < months * DAYS_IN_MONTH / 2:
        nxt = _add_months(nxt, months)
    while nxt <= end:
        out.append(nxt)
        nxt = _add_months(nxt, months)
    return out


Fit = Callable[[pl.DataFrame], object]  # training rows -> a model with .predict(frame) -> ndarray


def walk_forward_fit(manifest: dict) -> Fit:
    """Refit a version's chosen settings on the rows before an interval (players with fewer
    than `min_games` of those rows keep the pooled model)."""
    min_games = int(manifest["settings"]["min_games"])

    def fit(train: pl.DataFrame):
        counts = dict(train.group_by("player_id").len().iter_rows())
        champions = {
            p: k for p, k in manifest["champions"].items()
            if k != POOLED and counts.get(int(p), 0) >= min_games
        }  # fmt: skip
        return refit_production({**manifest, "champions": champions}, train)

    return fit


def walk_forward_means(
    rows: pl.DataFrame, fit: Fit, start: date, end: date, settings: WalkForwardSettings
) -> pl.DataFrame:
    """The rows of the warm-up and the period, each with `mu` from a fit on the rows dated
    before its interval, `fit_end` (the last date that fit saw) and `fold_start`."""
    if end < start:
        raise ValueError(f"walk-forward: the period ends ({end}) before it starts ({start})")
    rows = rows.sort("game_date", "player_id")
    dates = rows["game_date"].unique().sort()
    if dates.filter((dates >= start) & (dates <= end)).len() == 0:
        raise ValueError(f"walk-forward: no games between {start} and {end} to evaluate")
    warm = dates.filter(dates < start).tail(settings.warmup_dates)
    if len(warm) and warm[0] == dates[0]:
        warm = warm[1:]  # a fit needs at least one earlier date
    if len(warm) == 0:
        raise ValueError(
            f"walk-forward: no games before the period start {start} for a warm-up "
            "(the first interval's spread is fit on out-of-sample predictions before it)"
        )
    starts = [warm[0], *fold_starts(start, end, settings.refit_months)]
    out = []
    for i, t in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else None
        span = rows.filter(
            (pl.col("game_date") >= t)
            & (pl.col("game_date") <= end)
            & ((pl.col("game_date") < stop) if stop else pl.lit(True))
        )
        if span.height == 0:
            continue
        train = rows.filter(pl.col("game_date") < t)
        model = fit(train)
        mu = np.clip(np.asarray(model.predict(span), dtype=float), 0.0, None)
        out.append(
            span.with_columns(
                pl.Series("mu", mu),
                pl.lit(train["game_date"].max()).alias("fit_end"),
                pl.lit(t).alias("fold_start"),
                pl.lit(t < start).alias("warmup"),
            )
        )
    return pl.concat(out, how="vertical_relaxed")


def _fold_distribution(earlier: pl.DataFrame) -> tuple[CountDistribution, dict[str, float]]:
    """Family and spread from out-of-sample (mu, actual) pairs: fit on the older half by date,
    scored on the newer half, the best refit on all of them."""
    dates = earlier["game_date"].unique().sort()
    cut = dates[len(dates) // 2]
    a, b = earlier.filter(pl.col("game_date") < cut), earlier.filter(pl.col("game_date") >= cut)
    if a.height == 0 or b.height == 0:
        a = b = earlier
    return choose_family(
        a["target"].to_numpy(), a["mu"].to_numpy(), b["target"].to_numpy(), b["mu"].to_numpy()
    )


def walk_forward_probabilities(
    predicted: pl.DataFrame,
    market_lines: pl.DataFrame | None,
    stat: str,
    settings: WalkForwardSettings,
) -> tuple[pl.DataFrame, list[dict], list[dict]]:
    """Scored rows of the period (warm-up dropped) with the line, the raw and final P(over),
    the market's, the outcome, the recommendation and the stake; the distribution of each fold
    and the blend of each game date, as evidence."""
    lined = with_lines(predicted, market_lines, stat).with_columns(
        outcome_over(pl.col("target"), pl.col("line")).alias("went_over")
    )
    folds = sorted(lined.filter(~pl.col("warmup"))["fold_start"].unique().to_list())
    parts, fold_notes = [], []
    for t in folds:
        earlier = lined.filter(pl.col("game_date") < t)
        dist, scores = _fold_distribution(earlier)
        part = lined.filter(pl.col("fold_start") == t)
        p = dist.probabilities(part["line"].to_numpy(), part["mu"].to_numpy())
        decided = np.clip(p["over"] + p["under"], 1e-12, None)
        parts.append(
            part.with_columns(
                pl.Series("p_over_raw", p["over"] / decided),
                pl.Series("p_push", p["push"]),
                pl.lit(dist.family).alias("distribution"),
            )
        )
        fold_notes.append(
            {"fold_start": str(t), "fit_end": str(part["fit_end"][0]), "rows": part.height,
             "distribution_rows": earlier.height, **dist.describe(),
             "family_log_loss": {k: round(v, 4) for k, v in scores.items()}}
        )  # fmt: skip
    scored = pl.concat(parts, how="vertical_relaxed").sort("game_date", "player_id")
    return (*blend_by_date(scored, settings), fold_notes)


def blend_by_date(
    scored: pl.DataFrame, settings: WalkForwardSettings
) -> tuple[pl.DataFrame, list[dict]]:
    """Per game date: the blend fit on the real-line rows scored before it (used only if its
    out-of-sample track record on those rows beat the market), then the final probabilities,
    the recommendation and the stake of that date's rows, and the blend's own prediction for
    them (`p_shadow`, the next dates' track record)."""
    out, notes = [], []
    history = scored.clear().with_columns(pl.lit(None, pl.Float64).alias("p_shadow"))
    for (day,), part in scored.partition_by("game_date", as_dict=True, maintain_order=True).items():
        blend = fit_blend(history, settings.blend)
        notes.append({"game_date": str(day), **blend.describe()})
        is_real = (part["line_kind"] == "real").to_numpy()
        raw = part["p_over_raw"].to_numpy()
        market = part["market_p_over"].to_numpy()
        final = np.where(is_real, blend.predict(market, raw), raw)
        shadow = np.where(is_real, blend.shadow(market, raw), np.nan)
        push = part["p_push"].to_numpy()
        p_over, p_under = final * (1 - push), (1 - final) * (1 - push)
        rec, edge, stake = recommend(
            p_over, p_under, push, market,
            part["ref_over_odds"].to_numpy(), part["ref_under_odds"].to_numpy(), settings.rule,
        )  # fmt: skip
        # an edge is claimed only against a real market, by a blend that measured one
        bettable = is_real & blend.active
        rec = np.where(bettable, rec, PASS)
        stake = cap_daily(np.where(bettable, stake, 0.0), None, settings.rule.day_cap)
        done = part.with_columns(
            pl.Series("p_over", p_over),
            pl.Series("p_under", p_under),
            pl.Series("p_over_cond", final),
            pl.Series("p_shadow", shadow).fill_nan(None),
            pl.Series("recommendation", rec),
            pl.Series("edge", np.where(bettable, edge, 0.0)),
            pl.Series("stake", stake),
            pl.lit(blend.active).alias("blend_active"),
            pl.lit(blend.fit_end).cast(pl.Date).alias("blend_fit_end"),
        )
        out.append(done)
        history = pl.concat(
            [history, done.filter(pl.col("line_kind") == "real").select(history.columns)],
            how="vertical_relaxed",
        )
    return pl.concat(out, how="vertical_relaxed"), notes


def latest_blend(scored: pl.DataFrame, settings: WalkForwardSettings) -> MarketBlend:
    """The blend fit on every real-line row scored so far: what serves the next day."""
    return fit_blend(scored.filter(pl.col("line_kind") == "real"), settings.blend)


def latest_distribution(scored: pl.DataFrame) -> CountDistribution:
    """The distribution fit on every out-of-sample prediction so far: what serves the next day."""
    return _fold_distribution(scored)[0]
