"""Backtest settlement and summaries against hand-computed values."""

from datetime import date

import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core.backtest import (
    START_BANKROLL,
    STRATEGIES,
    closing_line_value,
    run_backtest,
    simulate,
    summarize_bets,
)

BY_NAME = {s.name: s for s in STRATEGIES}


def rows() -> pl.DataFrame:
    """Four player-games over two days, -110 both sides at the reference book, better at best."""
    return pl.DataFrame(
        {
            "game_date": [date(2024, 3, 1), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 2)],
            "player_id": [1, 2, 3, 4],
            "market": ["PTS"] * 4,
            "line": [20.5, 10.5, 15.0, 7.5],
            "line_kind": ["real"] * 4,
            "actual": [25.0, 9.0, 15.0, 9.0],  # over, under, push, over
            "p_over": [0.75, 0.30, 0.62, 0.45],
            "p_under": [0.25, 0.70, 0.28, 0.55],
            "p_push": [0.0, 0.0, 0.10, 0.0],
            "ref_over_odds": [-110.0] * 4,
            "ref_under_odds": [-110.0] * 4,
            "best_over_odds": [100.0] * 4,
            "best_under_odds": [-105.0] * 4,
            "season_avg": [22.0, 12.0, 14.0, 7.0],
            "season_games": [20, 20, 2, 20],
            "recommendation": ["OVER", "PASS", "PASS", "UNDER"],
        }
    )


def test_confidence_strategy_settles_wins_losses_and_pushes():
    bets = simulate(rows(), BY_NAME["confidence_60"], "reference", "flat")
    # 0.75 over (won), 0.70 under (won: 9 < 10.5), 0.62 over at 15.0 (push); 0.55 no bet
    assert bets["player_id"].to_list() == [1, 2, 3]
    assert bets["side"].to_list() == ["OVER", "UNDER", "OVER"]
    assert bets["outcome"].to_list() == [1, 1, -1]
    win = 100 / 110
    assert bets["profit"].to_list() == pytest.approx([win, win, 0.0])
    s = summarize_bets(bets)
    assert (s["bets"], s["wins"], s["losses"], s["pushes"]) == (3, 2, 0, 1)
    assert s["roi"] == pytest.approx(2 * win / 3)
    assert s["final_bankroll"] == pytest.approx(START_BANKROLL + 2 * win)
    assert s["win_rate"] == 1.0


def test_ev_strategy_at_the_best_price():
    bets = simulate(rows(), BY_NAME["ev_positive"], "best", "flat")
    # at +100 over / -105 under: row 4 over EV = 0.45 - 0.55 < 0, under EV = 0.55*100/105 - 0.45 > 0
    sides = dict(zip(bets["player_id"], bets["side"], strict=True))
    assert sides == {1: "OVER", 2: "UNDER", 3: "OVER", 4: "UNDER"}
    assert bets.filter(pl.col("player_id") == 1)["profit"][0] == pytest.approx(1.0)  # +100
    assert bets.filter(pl.col("player_id") == 4)["profit"][0] == pytest.approx(-1.0)


def test_kelly_stakes_use_the_bankroll_at_the_start_of_each_day():
    bets = simulate(rows(), BY_NAME["confidence_60"], "reference", "kelly")
    b = 100 / 110

    # a quarter of full Kelly, capped at 2% of the bankroll; a push is neither a win nor a loss
    def kelly(p, push=0.0):
        return min(max((b * p - (1 - p - push)) / (b * (1 - push)) * 0.25, 0.0), 0.02)

    day1 = [kelly(0.75) * 100, kelly(0.70) * 100]
    assert bets["stake"].to_list()[:2] == pytest.approx(day1)
    bankroll_after_day1 = 100 + sum(s * b for s in day1)
    assert bets["stake"][2] == pytest.approx(kelly(0.62, 0.10) * bankroll_after_day1)
    assert bets["bankroll_after"][2] == pytest.approx(bankroll_after_day1)  # a push


def test_line_below_season_average_needs_five_games():
    bets = simulate(rows(), BY_NAME["line_below_season_avg"], "reference", "flat")
    assert bets["player_id"].to_list() == [1, 2]  # row 3 has 2 games; row 4's line is above


def test_drawdown_sharpe_and_bootstrap_interval():
    rng = np.random.default_rng(0)
    n = 400
    frame = pl.DataFrame(
        {
            "game_date": [date(2024, 1, 1 + i // 20) for i in range(n)],
            "player_id": list(range(n)),
            "market": ["PTS"] * n,
            "line": [10.5] * n,
            "line_kind": ["proxy"] * n,
            "actual": rng.choice([5.0, 15.0], n).tolist(),
            "p_over": [0.65] * n,
            "p_under": [0.35] * n,
            "p_push": [0.0] * n,
            "ref_over_odds": [-110.0] * n,
            "ref_under_odds": [-110.0] * n,
            "best_over_odds": [-110.0] * n,
            "best_under_odds": [-110.0] * n,
            "season_avg": [10.0] * n,
            "season_games": [10] * n,
            "recommendation": ["PASS"] * n,
        }
    )
    s = summarize_bets(simulate(frame, BY_NAME["confidence_60"], "reference", "flat"))
    assert s["bets"] == n
    assert s["roi_low"] < s["roi"] < s["roi_high"]
    assert s["roi_low"] < 0 < s["roi_high"] or abs(s["roi"]) > 0.05  # a coin flip at -110
    assert 0 <= s["max_drawdown"] < 1 and np.isfinite(s["sharpe"])
    results, bets = run_backtest(frame)
    # the best price is the reference price on every row (one book): no repeated "best" rows
    assert results.height == len(STRATEGIES) * 2 and set(results["price_rule"]) == {"reference"}
    # no row reaches 0.70, and no season average is above the line: only two strategies bet,
    # and the blanket ones, which bet every row
    assert set(bets["strategy"]) == {"ev_positive", "confidence_60", "blanket_over",
                                     "blanket_under"}  # fmt: skip
    blanket = bets.filter(pl.col("strategy").str.starts_with("blanket") & (pl.col("stake") > 0))
    assert blanket.filter(pl.col("staking") == "flat").height == 2 * n
    # one row with a better price somewhere: both price rules are reported
    better = frame.with_columns(
        best_over_odds=pl.when(pl.col("player_id") == 0).then(-105.0).otherwise(-110.0)
    )
    assert set(run_backtest(better)[0]["price_rule"]) == {"reference", "best"}


def test_the_roi_interval_resamples_game_days_not_bets():
    """A night's bets share its games: 20 nights of 25 bets that all win or all lose together.
    Resampling bets would treat them as 500 independent bets and give an interval about
    sqrt(25) = 5 times too narrow; resampling nights gives the width 20 draws have."""
    nights, per = 20, 25
    won = np.tile([True, False], nights // 2)
    frame = pl.DataFrame(
        {
            "game_date": [date(2024, 1, 1 + i // per) for i in range(nights * per)],
            "player_id": list(range(nights * per)),
            "market": ["PTS"] * (nights * per),
            "line": [10.5] * (nights * per),
            "line_kind": ["real"] * (nights * per),
            "actual": [15.0 if won[i // per] else 5.0 for i in range(nights * per)],
            "p_over": [0.65] * (nights * per),
            "p_under": [0.35] * (nights * per),
            "p_push": [0.0] * (nights * per),
            "ref_over_odds": [100.0] * (nights * per),
            "ref_under_odds": [-120.0] * (nights * per),
            "best_over_odds": [100.0] * (nights * per),
            "best_under_odds": [-120.0] * (nights * per),
            "season_avg": [10.0] * (nights * per),
            "season_games": [10] * (nights * per),
            "recommendation": ["OVER"] * (nights * per),
        }
    )
    s = summarize_bets(simulate(frame, BY_NAME["served"], "reference", "flat"))
    assert s["bets"] == nights * per and s["roi"] == pytest.approx(0.0)  # 10 nights +1, 10 -1
    # by nights: a mean of 20 draws of +-1, sd 1/sqrt(20): the interval is about +-0.44
    assert s["roi_high"] - s["roi_low"] > 0.6
    assert s["roi_low"] < 0 < s["roi_high"]


def test_the_served_rule_bets_what_was_recommended_and_caps_a_day():
    bets = simulate(rows(), BY_NAME["served"], "reference", "flat")
    assert bets["player_id"].to_list() == [1, 4] and bets["side"].to_list() == ["OVER", "UNDER"]
    many = pl.concat([rows().head(1).with_columns(player_id=pl.lit(i)) for i in range(20)])
    kelly = simulate(many, BY_NAME["served"], "reference", "kelly")
    assert kelly["stake"].sum() == pytest.approx(10.0)  # 20 bets at 2% each, capped at 10% a day


def test_no_bets_is_a_summary_too():
    s = summarize_bets(simulate(rows().head(0), BY_NAME["ev_positive"], "reference", "flat"))
    assert s["bets"] == 0 and s["final_bankroll"] == START_BANKROLL


def test_closing_line_value_counts_only_props_quoted_again():
    bets = pl.DataFrame(
        {
            "side": ["OVER", "UNDER", "OVER", "UNDER", "OVER"],
            "line": [20.5, 7.5, 5.5, 30.5, 10.5],
            "stake": [1.0] * 5,
            "market_p_over": [0.50, 0.50, 0.48, 0.50, 0.50],
            "close_line": [21.5, 6.5, 5.5, 31.5, 12.5],
            "close_market_p_over": [0.50, 0.50, 0.52, 0.50, 0.50],
            # the last prop was never quoted again: not a CLV bet, whatever its columns say
            "close_is_later": [True, True, True, True, False],
        }
    )
    clv = closing_line_value(bets)
    # moves toward our side: +1 (over, line up), +1 (under, line down), 0, -1 (under, line up)
    assert clv["clv_bets"] == 4 and clv["clv_line_move"] == pytest.approx(0.25)
    # beat the close: the two moves our way, and the same line with a higher closing P(over)
    assert clv["clv_beat_close"] == pytest.approx(0.75)
    assert closing_line_value(bets.drop("close_line"))["clv_bets"] == 0


def test_bets_on_a_single_day_have_an_roi_but_no_interval():
    """Resampling one night gives its own ROI back: that is no interval, so none is reported,
    and the finite-figures check asks for an interval only where two days were bet."""
    from statmuse_pipelines.core.checks import reported_metrics_are_finite

    one_night = rows().head(2)  # player 1's OVER (won) is the served rule's one bet
    s = summarize_bets(simulate(one_night, BY_NAME["served"], "reference", "flat"))
    assert (s["bets"], s["bet_days"]) == (1, 1) and s["roi"] == pytest.approx(100 / 110)
    assert np.isnan(s["roi_low"]) and np.isnan(s["roi_high"])
    two_nights = summarize_bets(simulate(rows(), BY_NAME["served"], "reference", "flat"))
    assert two_nights["bet_days"] == 2 and np.isfinite(two_nights["roi_low"])
    results, _ = run_backtest(one_night)
    assert reported_metrics_are_finite({}, results).passed
    broken = results.with_columns(bet_days=pl.lit(2))  # two days and still no interval
    assert not reported_metrics_are_finite({}, broken).passed
