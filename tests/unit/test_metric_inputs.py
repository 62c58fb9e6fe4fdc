"""No NaN in a reported metric: rows with a missing or non-finite input enter no figure and are
counted; a check fails on a non-finite figure; thin real-line coverage is said in words."""

import math
from datetime import date, timedelta

import numpy as np
import polars as pl

from statmuse_pipelines.core.backtest import run_backtest
from statmuse_pipelines.core.checks import real_lines_cover_the_period, reported_metrics_are_finite
from statmuse_pipelines.core.probabilities import (
    coverage_sentence,
    finite_rows,
    line_coverage,
    market_comparison,
    with_lines,
)


def _scored(n: int = 400, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 0.7, n)
    y = (rng.uniform(size=n) < p).astype(int)
    days = [date(2024, 3, 1) + timedelta(days=int(i) // 20) for i in range(n)]
    return pl.DataFrame(
        {
            "game_date": days,
            "player_id": np.arange(n),
            "line_kind": ["real"] * n,
            "went_over": y,
            "p_over_cond": p,
            "p_over_raw": p,
            "p_over": p,
            "p_under": 1 - p,
            "p_push": np.zeros(n),
            "market_p_over": np.clip(p + rng.normal(0, 0.02, n), 0.01, 0.99),
            "mu": rng.uniform(10, 20, n),
            "target": rng.integers(5, 25, n).astype(float),
            "actual": rng.integers(5, 25, n).astype(float),
            "line": np.full(n, 15.5),
            "ref_over_odds": np.full(n, -110.0),
            "ref_under_odds": np.full(n, -110.0),
            "best_over_odds": np.full(n, -105.0),
            "best_under_odds": np.full(n, -105.0),
            "recommendation": ["PASS"] * n,
            "season_avg": np.full(n, 15.0),
            "season_games": np.full(n, 20),
            "market": ["PTS"] * n,
        }
    )


def test_a_nan_market_probability_never_reaches_a_figure():
    clean = _scored()
    pid = pl.col("player_id")
    dirty = clean.with_columns(
        market_p_over=pl.when(pid == 7).then(float("nan")).otherwise("market_p_over"),
        ref_over_odds=pl.when(pid == 8).then(None).otherwise("ref_over_odds"),
        line=pl.when(pid == 9).then(float("inf")).otherwise("line"),
    )
    kept, dropped = finite_rows(dirty)
    assert dropped == 3 and kept.height == clean.height - 3
    c = market_comparison(dirty)
    assert c["non_finite_rows"] == 3 and c["mae_rows"] == clean.height - 3
    assert all(math.isfinite(c[k]) for k in ("market_brier", "market_log_loss", "line_mae"))
    same = market_comparison(clean.filter(~pl.col("player_id").is_in([7, 8, 9])))
    assert {**c, "non_finite_rows": 0} == same
    assert reported_metrics_are_finite({"real": c}).passed
    results, _ = run_backtest(dirty)
    assert set(results["non_finite_rows"]) == {3}
    labelled = results.with_columns(line_kind=pl.lit("real"))
    assert reported_metrics_are_finite({"real": c}, labelled).passed


def test_a_non_finite_figure_fails_the_check_and_names_it():
    c = market_comparison(_scored())
    broken = {**c, "market_brier": float("nan")}
    outcome = reported_metrics_are_finite({"real": broken})
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.examples["figure"].to_list() == ["market_brier"]
    # a figure on no rows is not shown, and is not a failure
    assert reported_metrics_are_finite({"real": {"rows": 0, "non_finite_rows": 0}}).passed


def test_a_real_record_with_a_nan_price_is_not_used_a_proxy_prices_the_row():
    rows = pl.DataFrame(
        {
            "game_date": [date(2024, 3, 2)] * 2,
            "player_id": [1, 2],
            "pts_median_10": [20.0, 10.0],
            "pts_mean_10": [20.0, 10.0],
            "pts_std_10": [5.0, 3.0],
            "target_mean_10": [0.0, 0.0],
        }
    )
    real = pl.DataFrame(
        {
            "game_date": [date(2024, 3, 2)] * 2,
            "player_id": [1, 2],
            "market": ["PTS", "PTS"],
            "consensus_line": [19.5, 9.5],
            "reference_book": ["draftkings"] * 2,
            "ref_over_odds": [-110.0, float("nan")],
            "ref_under_odds": [-110.0, -110.0],
            "best_over_odds": [-105.0, -105.0],
            "best_under_odds": [-105.0, -105.0],
            "market_p_over": [0.5, 0.5],
            "line_kind": ["real", "real"],
        }
    )
    lined = with_lines(rows, real, "PTS")
    assert lined["line_kind"].to_list() == ["real", "proxy"]
    assert lined.filter(pl.col("line_kind") == "proxy")["ref_over_odds"].is_finite().all()


def test_thin_real_line_coverage_is_a_warning_in_words():
    scored = _scored(200).with_columns(
        line_kind=pl.when(pl.col("player_id") < 10).then(pl.lit("real")).otherwise(pl.lit("proxy"))
    )
    quoted = scored["game_date"].unique().to_list()
    coverage = line_coverage(scored, quoted)
    assert coverage["rows_on_quoted_dates"] == 200 and coverage["real_rows_on_quoted_dates"] == 10
    outcome = real_lines_cover_the_period("PTS", coverage, 0.2)
    assert not outcome.passed and outcome.severity == "WARN" and "10 of 200" in outcome.description
    words = coverage_sentence("PTS", coverage, lines_given=True)
    assert "10 of the 200 player-games (5.0%) (LOW" in words and "proxy" in words
    full = line_coverage(scored.with_columns(line_kind=pl.lit("real")), quoted)
    assert real_lines_cover_the_period("PTS", full, 0.2).passed
    none = line_coverage(scored, [])
    assert "none of this period's dates" in coverage_sentence("PTS", none, lines_given=True)
    assert "no real lines given" in coverage_sentence("PTS", none, lines_given=False)
