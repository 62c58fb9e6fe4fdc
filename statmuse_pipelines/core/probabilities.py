"""From a predicted mean to calibrated P(over), P(under), P(push) at a line, and their evaluation.

Fit on the validation split only (the distribution family and spread, then the calibrator of
P(over | no push)); judged on the test split only. Lines are the real consensus lines where the
lines source has them and labelled proxies elsewhere; every metric says which kind it is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from statmuse_pipelines.core.calibration import (
    Calibrator,
    choose_calibrator,
    probability_metrics,
    reliability,
    row_log_loss,
)
from statmuse_pipelines.core.distributions import CountDistribution, choose_family
from statmuse_pipelines.core.lines import proxy_lines

LINE_FIELDS = (
    "consensus_line", "reference_book", "ref_over_odds", "ref_under_odds", "best_over_odds",
    "best_under_odds", "market_p_over", "line_kind", "close_line", "close_market_p_over",
    "close_is_later",
)  # fmt: skip


@dataclass
class ProbabilityModel:
    stat: str
    model_version: str
    distribution: CountDistribution
    calibrator: Calibrator
    family_scores: dict[str, float] = field(default_factory=dict)
    calibrator_scores: dict[str, float] = field(default_factory=dict)

    def raw(self, mu: np.ndarray, line: np.ndarray) -> dict[str, np.ndarray]:
        return self.distribution.probabilities(line, mu)

    def calibrated(self, mu: np.ndarray, line: np.ndarray) -> dict[str, np.ndarray]:
        """The calibrator adjusts P(over | no push); the push probability is kept."""
        raw = self.raw(mu, line)
        decided = np.clip(raw["over"] + raw["under"], 1e-12, None)
        p = self.calibrator.predict(raw["over"] / decided)
        return {"over": p * decided, "under": (1 - p) * decided, "push": raw["push"]}

    def describe(self) -> dict:
        return {
            "stat": self.stat,
            "model_version": self.model_version,
            "distribution": self.distribution.describe(),
            "family_log_loss_on_validation": {
                k: round(v, 5) for k, v in self.family_scores.items()
            },
            "calibrator": self.calibrator.method,
            "calibrator_cv_log_loss_on_validation": {
                k: round(v, 5) for k, v in self.calibrator_scores.items()
            },
        }


def with_lines(rows: pl.DataFrame, market_lines: pl.DataFrame | None, market: str) -> pl.DataFrame:
    """Each row with its line: a real consensus record, taken whole, where there is one with a
    line, both reference prices and a market P(over), all finite numbers; else a labelled proxy
    record, whole too (never a real line with a proxy's price)."""
    proxy = proxy_lines(rows, market).drop("market")
    if market_lines is None or market_lines.height == 0:
        real = proxy.clear()
    else:
        # lines stored before the close was recorded have none: no later quote
        later = {"close_line": pl.Float64, "close_market_p_over": pl.Float64}
        market_lines = market_lines.with_columns(
            *(pl.lit(None, t).alias(c) for c, t in later.items() if c not in market_lines.columns),
            *(
                []
                if "close_is_later" in market_lines.columns
                else [pl.lit(False).alias("close_is_later")]
            ),
        )
        whole = [
            pl.col(c).is_finite().fill_null(False)
            for c in ("consensus_line", "ref_over_odds", "ref_under_odds", "market_p_over")
        ]
        real = market_lines.filter((pl.col("market") == market) & pl.all_horizontal(whole)).select(
            "game_date", "player_id", *LINE_FIELDS
        )
    joined = rows.join(real, on=["game_date", "player_id"], how="left")
    has_real = pl.col("line_kind").is_not_null()
    return (
        joined.join(proxy, on=["game_date", "player_id"], how="left", suffix="_proxy")
        .select(
            *rows.columns,
            *(
                pl.when(has_real).then(pl.col(c)).otherwise(pl.col(f"{c}_proxy")).alias(c)
                for c in LINE_FIELDS
            ),
        )
        .rename({"consensus_line": "line"})
    )


# what a metric reads: a row missing any of these, or holding a NaN or an infinity, enters no
# metric (and is counted)
METRIC_INPUTS = (
    "mu", "target", "line", "p_over", "p_under", "p_push", "p_over_cond", "p_over_raw",
    "market_p_over", "ref_over_odds", "ref_under_odds", "best_over_odds", "best_under_odds",
)  # fmt: skip
# real lines were given but fewer than this share of the player-games on the dates the source
# quotes a market got one: the feed mostly failed (books quote the rotation, about 2 in 5 of
# the player-games on the real 2023-24 lines), and the check `real_lines_cover_the_period` says so
MIN_REAL_LINE_SHARE = 0.2


def finite_rows(frame: pl.DataFrame, columns=METRIC_INPUTS) -> tuple[pl.DataFrame, int]:
    """The rows whose metric inputs (those of `columns` the frame has) are all finite numbers,
    and how many were left out."""
    present = [c for c in columns if c in frame.columns]
    if not present or frame.height == 0:
        return frame, 0
    ok = pl.all_horizontal(pl.col(c).cast(pl.Float64).is_finite().fill_null(False) for c in present)
    kept = frame.filter(ok)
    return kept, frame.height - kept.height


def line_coverage(scored: pl.DataFrame, quoted_dates) -> dict:
    """How much of the period real lines priced: rows on the game dates the lines source quotes
    the market (any quote, kept or rejected), how many of them got a real line, and the rows of
    other dates (priced by proxies). `quoted_dates`: those dates (empty: no real lines given)."""
    dates = pl.Series("game_date", list(quoted_dates), dtype=pl.Date).unique()
    on = scored.filter(pl.col("game_date").is_in(dates.implode()))
    real = int((on["line_kind"] == "real").sum()) if on.height else 0
    in_period = dates.filter(dates.is_between(scored["game_date"].min(), scored["game_date"].max()))
    return {
        "quoted_dates": in_period.len(),
        "rows_on_quoted_dates": on.height,
        "real_rows_on_quoted_dates": real,
        "real_share_on_quoted_dates": real / on.height if on.height else None,
        "proxy_rows": int((scored["line_kind"] != "real").sum()),
        "period_rows": scored.height,
        "first_quoted": str(in_period.min()) if in_period.len() else None,
        "last_quoted": str(in_period.max()) if in_period.len() else None,
    }


def coverage_sentence(stat: str, coverage: dict, lines_given: bool) -> str:
    """The coverage in words, to print beside the figures."""
    c = coverage
    if not lines_given:
        return (
            f"{stat}: no real lines given; all {c['period_rows']:,} rows are priced by labelled "
            "proxies"
        )
    if c["rows_on_quoted_dates"] == 0:
        return (
            f"{stat}: real lines were given but the source quotes {stat} on none of this "
            f"period's dates: all {c['period_rows']:,} rows are priced by labelled proxies"
        )
    share = c["real_share_on_quoted_dates"]
    low = " (LOW: most of the feed's quotes became no line)" if share < MIN_REAL_LINE_SHARE else ""
    return (
        f"{stat}: real lines on {c['real_rows_on_quoted_dates']:,} of the "
        f"{c['rows_on_quoted_dates']:,} player-games ({share:.1%}){low} of the "
        f"{c['quoted_dates']} dates the source quotes {stat} ({c['first_quoted']}.."
        f"{c['last_quoted']}); the other {c['proxy_rows']:,} of {c['period_rows']:,} rows are "
        "priced by labelled proxy lines"
    )


def outcome_over(actual: pl.Expr, line: pl.Expr) -> pl.Expr:
    """1 over, 0 under, null push."""
    return pl.when(actual > line).then(1).when(actual < line).then(0).otherwise(None)


def fit_probability_model(stat: str, model_version: str, val: pl.DataFrame) -> ProbabilityModel:
    """Distribution family and spread, then calibrator, all on validation rows.

    val: rows with `mu` (the model's mean), `target` (the actual) and `line` (from with_lines).
    """
    val = val.sort("game_date")
    dates = val["game_date"].unique().sort()
    cut = dates[len(dates) // 2] if len(dates) > 1 else dates[0]
    first, second = val.filter(pl.col("game_date") < cut), val.filter(pl.col("game_date") >= cut)
    if first.height == 0 or second.height == 0:
        first = second = val
    dist, family_scores = choose_family(
        first["target"].to_numpy(), first["mu"].to_numpy(),
        second["target"].to_numpy(), second["mu"].to_numpy(),
    )  # fmt: skip
    raw = dist.probabilities(val["line"].to_numpy(), val["mu"].to_numpy())
    y = val.select(outcome_over(pl.col("target"), pl.col("line"))).to_series().to_numpy()
    keep = ~np.isnan(y.astype(float))
    decided = raw["over"] + raw["under"]
    p_cond = raw["over"][keep] / np.clip(decided[keep], 1e-12, None)
    calibrator, cal_scores = choose_calibrator(p_cond, y[keep].astype(float))
    return ProbabilityModel(stat, model_version, dist, calibrator, family_scores, cal_scores)


def score(model: ProbabilityModel, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with raw and calibrated probabilities and the realized outcome."""
    mu, line = rows["mu"].to_numpy(), rows["line"].to_numpy()
    raw, cal = model.raw(mu, line), model.calibrated(mu, line)
    decided = np.clip(raw["over"] + raw["under"], 1e-12, None)
    return rows.with_columns(
        pl.Series("p_over_raw", raw["over"] / decided),
        pl.Series("p_over", cal["over"]),
        pl.Series("p_under", cal["under"]),
        pl.Series("p_push", cal["push"]),
        outcome_over(pl.col("target"), pl.col("line")).alias("went_over"),
    ).with_columns(
        p_over_cond=pl.col("p_over") / (pl.col("p_over") + pl.col("p_under")).clip(1e-12)
    )


def calibration_metrics(scored: pl.DataFrame, split: str) -> list[dict]:
    """Brier, log loss and ECE before and after calibration, pushes excluded, per line kind."""
    out = []
    decided, _ = finite_rows(scored.filter(pl.col("went_over").is_not_null()))
    kinds = [*sorted(decided["line_kind"].unique().to_list()), "all"]
    for kind in kinds:
        part = decided if kind == "all" else decided.filter(pl.col("line_kind") == kind)
        if part.height == 0:
            continue
        y = part["went_over"].to_numpy().astype(float)
        for stage, col in (("raw", "p_over_raw"), ("calibrated", "p_over_cond")):
            m = probability_metrics(part[col].to_numpy(), y)
            out.append({"split": split, "line_kind": kind, "stage": stage, **m})
    return out


def paired_interval(
    ours_loss: np.ndarray, market_loss: np.ndarray, days: np.ndarray, seed: int = 7,
    resamples: int = 1000,
) -> tuple[float, float, float]:  # fmt: skip
    """Mean of (ours - market) per row and its 95% bootstrap interval, resampling whole game
    dates (rows of one date share a slate and are not independent)."""
    diff = np.asarray(ours_loss, float) - np.asarray(market_loss, float)
    _, inverse = np.unique(np.asarray(days), return_inverse=True)
    sums = np.bincount(inverse, weights=diff)
    counts = np.bincount(inverse).astype(float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), size=(resamples, len(sums)))
    boot = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    return float(diff.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def market_comparison(scored: pl.DataFrame, kind: str = "real") -> dict[str, float]:
    """On rows with a line of `kind` and a decided result: our final P(over) against the line's
    probability (the de-vigged market for real lines; the naive book's for proxies), with paired
    day-bootstrap intervals of the differences (negative = ours better); our raw P(over); the
    line as a prediction; and the share of props the served rule bets. Rows with a missing or
    non-finite input (METRIC_INPUTS) enter none of these; `non_finite_rows` counts them."""
    every, non_finite = finite_rows(scored.filter(pl.col("line_kind") == kind))
    real = every.filter(pl.col("went_over").is_not_null())
    if real.height == 0:
        return {"rows": 0, "non_finite_rows": non_finite}
    y = real["went_over"].to_numpy().astype(float)
    p_ours, p_market = real["p_over_cond"].to_numpy(), real["market_p_over"].to_numpy()
    ours = probability_metrics(p_ours, y)
    market = probability_metrics(p_market, y)
    raw = probability_metrics(real["p_over_raw"].to_numpy(), y)
    days = real["game_date"].to_numpy()
    brier = paired_interval((p_ours - y) ** 2, (p_market - y) ** 2, days)
    logloss = paired_interval(row_log_loss(p_ours, y), row_log_loss(p_market, y), days)
    recommended = (
        float((every["recommendation"] != "PASS").mean())
        if "recommendation" in every.columns
        else math.nan
    )
    return {
        "rows": real.height,
        "first_date": str(real["game_date"].min()),
        "last_date": str(real["game_date"].max()),
        "ours_brier": ours["brier"],
        "market_brier": market["brier"],
        "brier_diff": brier[0],
        "brier_diff_low": brier[1],
        "brier_diff_high": brier[2],
        "ours_log_loss": ours["log_loss"],
        "market_log_loss": market["log_loss"],
        "log_loss_diff": logloss[0],
        "log_loss_diff_low": logloss[1],
        "log_loss_diff_high": logloss[2],
        "ours_ece": ours["ece"],
        "market_ece": market["ece"],
        "raw_brier": raw["brier"],
        "raw_log_loss": raw["log_loss"],
        "mae_rows": every.height,
        "ours_mae": float((every["mu"] - every["target"]).abs().mean()),
        "line_mae": float((every["line"] - every["target"]).abs().mean()),
        "recommended_share": recommended,
        "non_finite_rows": non_finite,
    }


def reliability_plot(scored: pl.DataFrame, title: str, path) -> None:
    """Reliability diagram (raw and calibrated P(over) on the rows given) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decided = scored.filter(pl.col("went_over").is_not_null())
    y = decided["went_over"].to_numpy().astype(float)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for col, label, color in (
        ("p_over_raw", "raw", "#d62728"),
        ("p_over_cond", "calibrated", "#1f77b4"),
    ):
        table = [b for b in reliability(decided[col].to_numpy(), y) if b["rows"]]
        ax.plot(
            [b["mean_p"] for b in table], [b["frequency"] for b in table],
            marker="o", color=color, label=f"{label} (ECE {_ece(table):.3f})",
        )  # fmt: skip
    ax.set_xlabel("predicted P(over)")
    ax.set_ylabel("observed frequency of over")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ece(table: list[dict]) -> float:
    n = sum(b["rows"] for b in table)
    return sum(b["rows"] * abs(b["mean_p"] - b["frequency"]) for b in table) / n if n else math.nan
