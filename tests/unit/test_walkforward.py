"""Walk-forward evaluation and the market-aware P(over): no look-ahead, defers to a sharp market,
learns from a sloppy one, and bets only on a measured edge."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from statmuse_pipelines.core.market_blend import (
    BettingRule,
    BlendSettings,
    cap_daily,
    fit_blend,
    recommend,
)
from statmuse_pipelines.core.odds import implied_to_american, kelly_fraction
from statmuse_pipelines.core.probabilities import market_comparison, paired_interval
from statmuse_pipelines.core.walkforward import (
    WalkForwardSettings,
    default_period,
    fold_starts,
    walk_forward_means,
    walk_forward_probabilities,
)

START = date(2024, 1, 1)


def league(days: int = 150, players: int = 60, seed: int = 3) -> pl.DataFrame:
    """Player-games whose true mean is known: a skill per player and a home effect."""
    rng = np.random.default_rng(seed)
    skill = rng.uniform(4, 25, players)
    rows = []
    for d in range(days):
        day = START + timedelta(days=d)
        home = rng.random(players) < 0.5
        mu = skill * np.where(home, 1.15, 0.87)
        y = rng.poisson(mu)
        for p in range(players):
            rows.append(
                {"game_date": day, "player_id": p + 1, "game_id": f"g{d}-{p // 2}",
                 "player_name": f"P{p}", "home": float(home[p]), "true_mu": float(mu[p]),
                 "skill": float(skill[p]), "target": int(y[p])}
            )  # fmt: skip
    frame = pl.DataFrame(rows)
    # what the proxy book needs (used where no real line exists)
    return frame.with_columns(
        pts_median_10=pl.col("skill"), pts_mean_10=pl.col("skill"),
        pts_std_10=pl.col("skill").sqrt(), target_mean_10=pl.col("skill"),
        target_season_mean=pl.col("skill"), season_games=pl.lit(10.0),
    )  # fmt: skip


def market_from(frame: pl.DataFrame, market_mu: pl.Expr) -> pl.DataFrame:
    """A book that prices each player-game from `market_mu`, 4.5% margin a side."""
    priced = frame.select("game_date", "player_id", market_mu.alias("m"))
    m = priced["m"].to_numpy()
    line = np.floor(m) + 0.5
    p = stats.poisson(m).sf(np.floor(line))
    over, under = implied_to_american(p * 1.045), implied_to_american((1 - p) * 1.045)
    return priced.select(
        "game_date", "player_id", pl.lit("PTS").alias("market"),
        pl.Series("consensus_line", line), pl.lit("book").alias("reference_book"),
        pl.Series("ref_over_odds", over), pl.Series("ref_under_odds", under),
        pl.Series("best_over_odds", over), pl.Series("best_under_odds", under),
        pl.Series("market_p_over", p), pl.lit("real").alias("line_kind"),
    )  # fmt: skip


class Oracle:
    """Predicts from a column (what a model that knows `column` would say)."""

    def __init__(self, column: str):
        self.column = column

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return frame[self.column].to_numpy()


class PlayerMean:
    """Learns each player's mean target and the home factor from its training rows."""

    def __init__(self, train: pl.DataFrame):
        self.means = dict(train.group_by("player_id").agg(pl.col("target").mean()).iter_rows())
        self.fit_end = train["game_date"].max()

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return np.array([self.means.get(p, 10.0) for p in frame["player_id"].to_list()])


SETTINGS = WalkForwardSettings(refit_months=1, warmup_dates=20, blend=BlendSettings(min_rows=600))


def run(frame: pl.DataFrame, lines: pl.DataFrame, fit, start=date(2024, 2, 1), end=None):
    end = end or frame["game_date"].max()
    predicted = walk_forward_means(frame, fit, start, end, SETTINGS)
    return walk_forward_probabilities(predicted, lines, "PTS", SETTINGS)


def test_fold_starts_and_the_default_period():
    # November 1 is 8 days after the start: less than half a month, so the first refit is Dec 1
    assert fold_starts(date(2023, 10, 24), date(2024, 1, 10), 1) == [
        date(2023, 10, 24), date(2023, 12, 1), date(2024, 1, 1)
    ]  # fmt: skip
    assert fold_starts(date(2023, 10, 5), date(2023, 12, 10), 1) == [
        date(2023, 10, 5), date(2023, 11, 1), date(2023, 12, 1)
    ]  # fmt: skip
    assert fold_starts(date(2023, 10, 24), date(2024, 1, 10), 2)[1] == date(2023, 12, 1)
    with pytest.raises(ValueError, match="at least 1"):
        fold_starts(date(2023, 10, 24), date(2024, 1, 10), 0)
    dates = pl.Series([date(2022, 10, 18), date(2023, 4, 9), date(2023, 10, 24), date(2024, 4, 14)])
    # real lines in March 2024: from the first game of the 2023-24 season to the last result
    assert default_period(dates, pl.Series([date(2024, 3, 2)])) == (
        date(2023, 10, 24), date(2024, 4, 14)
    )  # fmt: skip
    assert default_period(dates, None)[0] == date(2023, 10, 24)
    # too little history before the season for a fit and a warm-up: the period starts later
    assert default_period(dates, None, warmup_dates=2)[0] == date(2024, 4, 14)


def test_each_interval_is_predicted_by_a_fit_of_earlier_games_only():
    frame = league(days=90)
    seen = []

    def fit(train):
        seen.append(train["game_date"].max())
        return PlayerMean(train)

    predicted = walk_forward_means(frame, fit, date(2024, 2, 1), date(2024, 3, 30), SETTINGS)
    assert predicted.filter(pl.col("fit_end") >= pl.col("game_date")).height == 0
    assert (predicted["fit_end"] < predicted["fold_start"]).all()
    assert predicted["fold_start"].unique().sort().to_list() == [
        date(2024, 1, 12), date(2024, 2, 1), date(2024, 3, 1)
    ]  # fmt: skip
    assert predicted.filter(~pl.col("warmup"))["game_date"].min() == date(2024, 2, 1)

    # scrambling every outcome of March moves nothing predicted for March or before it
    rng = np.random.default_rng(0)
    march = pl.col("game_date") >= date(2024, 3, 1)
    scrambled = frame.with_columns(
        target=pl.when(march)
        .then(pl.Series(rng.integers(0, 60, frame.height)))
        .otherwise(pl.col("target"))
    )
    again = walk_forward_means(scrambled, PlayerMean, date(2024, 2, 1), date(2024, 3, 30), SETTINGS)
    assert np.array_equal(predicted["mu"].to_numpy(), again["mu"].to_numpy())


def test_the_blend_never_sees_the_rows_it_scores():
    frame = league()
    lines = market_from(frame, pl.col("skill"))  # ignores home court
    scored, blends, _ = run(frame, lines, lambda train: Oracle("true_mu"))
    day = date(2024, 4, 1)
    rng = np.random.default_rng(1)
    later = pl.col("game_date") >= day
    scrambled = frame.with_columns(
        target=pl.when(later).then(pl.Series(rng.integers(0, 60, frame.height)))
        .otherwise(pl.col("target"))
    )  # fmt: skip
    again, blends_again, _ = run(scrambled, lines, lambda train: Oracle("true_mu"))
    first = pl.col("game_date") <= day
    cols = ["p_over_raw", "p_over", "recommendation", "stake"]
    assert scored.filter(first).select(cols).equals(again.filter(first).select(cols))
    on_day = [b for b in blends if b["game_date"] <= str(day)]
    assert on_day == [b for b in blends_again if b["game_date"] <= str(day)]
    assert all(b["fit_end"] is None or b["fit_end"] < b["game_date"] for b in blends)


def test_a_sharp_market_is_deferred_to_and_almost_nothing_is_bet():
    frame = league()
    # the market knows the true mean; our model only the player's average
    lines = market_from(frame, pl.col("true_mu"))
    scored, _blends, _ = run(frame, lines, PlayerMean)
    c = market_comparison(scored, "real")
    assert c["rows"] > 4000
    assert c["raw_brier"] > c["market_brier"] + 0.005  # ours alone is clearly worse
    # the blend is not: within noise of the market
    assert c["brier_diff"] < 0.0005 and c["brier_diff_low"] <= 0 <= c["brier_diff_high"]
    assert c["recommended_share"] < 0.02


def test_a_market_that_ignores_home_court_is_beaten_and_the_blend_says_why():
    frame = league()
    lines = market_from(frame, pl.col("skill"))  # ignores home court
    scored, blends, _ = run(frame, lines, lambda train: Oracle("true_mu"))
    c = market_comparison(scored, "real")
    assert c["brier_diff_high"] < 0 and c["log_loss_diff_high"] < 0
    late = [b for b in blends if b["game_date"] >= "2024-04-01"]
    assert all(b["active"] for b in late)
    assert np.mean([b["ours_weight"] for b in late]) > 0.5
    bets = scored.filter(pl.col("recommendation") != "PASS")
    assert bets.height / scored.height > 0.02
    # bets are won more often than the prices need
    won = ((bets["recommendation"] == "OVER") == (bets["target"] > bets["line"])).mean()
    assert won > 0.56
    # no day risks more than the day cap
    assert scored.group_by("game_date").agg(pl.col("stake").sum())["stake"].max() <= 0.10 + 1e-9


def test_without_real_lines_nothing_is_bet():
    frame = league(days=80)
    scored, blends, _ = run(frame, None, lambda train: Oracle("true_mu"))
    assert set(scored["line_kind"]) == {"proxy"}
    assert (scored["recommendation"] == "PASS").all() and (scored["stake"] == 0).all()
    assert not any(b["active"] for b in blends)


def test_fit_blend_is_the_market_with_too_little_history():
    hist = pl.DataFrame(
        {"game_date": [START] * 10, "market_p_over": [0.5] * 10, "p_over_raw": [0.9] * 10,
         "went_over": [1] * 10}
    )  # fmt: skip
    blend = fit_blend(hist, BlendSettings(min_rows=100))
    assert not blend.active and "10 real-line rows" in blend.reason
    np.testing.assert_array_equal(blend.predict([0.3, 0.6], [0.9, 0.1]), [0.3, 0.6])


def test_recommend_needs_the_margin_a_price_and_counts_pushes():
    rule = BettingRule(margin=0.03, kelly=0.25, bet_cap=0.5)
    p_over = np.array([0.56, 0.52, 0.60, 0.60, 0.30])
    p_under = 1 - p_over
    push = np.zeros(5)
    market = np.array([0.50, 0.50, 0.50, 0.50, 0.50])
    over = np.array([-110.0, -110, np.nan, -300, -110])
    under = np.full(5, -110.0)
    rec, edge, stake = recommend(p_over, p_under, push, market, over, under, rule)
    # edge 0.06 at -110: bet; edge 0.02: pass; no over price: pass; -300: below break-even;
    # P(under) 0.70 against the market's 0.50: bet the under
    assert rec.tolist() == ["OVER", "PASS", "PASS", "PASS", "UNDER"]
    assert edge[0] == pytest.approx(0.06) and stake[1] == 0
    assert stake[0] == pytest.approx(kelly_fraction(0.56, -110, 0.25, 0.5))
    # a push returns the stake: with P(push) = 0.2 the Kelly stake is not that of a loss
    with_push = kelly_fraction(0.5, 100, 1.0, 1.0, p_push=0.2)
    assert with_push == pytest.approx((0.5 - 0.3) / (1.0 * 0.8))
    assert cap_daily(np.array([0.05, 0.05, 0.1]), np.array([1, 1, 2]), 0.08).tolist() == [
        pytest.approx(0.04), pytest.approx(0.04), pytest.approx(0.08)
    ]  # fmt: skip


def test_paired_interval_resamples_whole_days():
    rng = np.random.default_rng(0)
    days = np.repeat(np.arange(50), 20)
    ours, market = rng.random(1000) * 0.1, rng.random(1000) * 0.1 + 0.02
    mean, low, high = paired_interval(ours, market, days)
    assert low < mean < high < 0
    same = paired_interval(market, market, days)
    assert same == (0.0, 0.0, 0.0)
