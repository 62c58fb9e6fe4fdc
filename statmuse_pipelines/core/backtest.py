"""Backtests: betting strategies settled with the real result at the quoted odds.

Rows: one per player-game of the walk-forward period with a pregame line (real where the lines
source has one, else a labelled proxy), our probabilities of over/under/push at that line, the
prices and the actual result. Strategies choose bets: the served rule (the headline, configured
in advance) and exploratory ones. Each is staked flat (1 unit) or by fractional Kelly (a quarter
of full Kelly, at most 2% of the bankroll a bet and 10% a day), at a single book's price (the
reference book at the consensus line) or at the best price across books (an upper bound; left
out where it is the reference price on every row, as with one book or proxy lines). Bets are
settled in date order: a day's Kelly stakes come from the bankroll at the start of that day;
pushes return the stake. ROI intervals resample game days, not bets (none for bets on a
single day).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from statmuse_pipelines.core.market_blend import BettingRule, cap_daily
from statmuse_pipelines.core.odds import expected_value, kelly_fraction, profit
from statmuse_pipelines.core.probabilities import METRIC_INPUTS, finite_rows

START_BANKROLL = 100.0
RULE = BettingRule()  # Kelly fraction, per-bet and per-day caps of every Kelly-staked strategy
BOOTSTRAP = 1000
MIN_INTERVAL_DAYS = 2  # game days of bets an ROI interval needs (it resamples whole days)
BETTING_DAYS_PER_SEASON = 165  # for the annualized Sharpe ratio


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    choose: Callable[[pl.DataFrame], pl.Expr]  # -> "OVER", "UNDER" or null per row


def _side_by_ev() -> pl.Expr:
    over, under = pl.col("ev_over"), pl.col("ev_under")
    return (
        pl.when((over > 0) & (over >= under))
        .then(pl.lit("OVER"))
        .when(under > 0)
        .then(pl.lit("UNDER"))
        .otherwise(None)
    )


def _side_by_confidence(threshold: float) -> pl.Expr:
    return (
        pl.when(pl.col("p_over") > threshold)
        .then(pl.lit("OVER"))
        .when(pl.col("p_under") > threshold)
        .then(pl.lit("UNDER"))
        .otherwise(None)
    )


HEADLINE = "served"
STRATEGIES = (
    # the rule the daily slate serves, configured before the period: the headline
    Strategy(
        HEADLINE,
        "the served rule: our P beats the market's by the margin and the price is above break-even",
        lambda f: pl.when(pl.col("recommendation") != "PASS").then(pl.col("recommendation")),
    ),
    # exploratory: listed for context, never a headline
    Strategy("ev_positive", "bet the side with positive expected value", lambda f: _side_by_ev()),
    Strategy("confidence_60", "bet a side with P > 0.60", lambda f: _side_by_confidence(0.60)),
    Strategy("confidence_70", "bet a side with P > 0.70", lambda f: _side_by_confidence(0.70)),
    # the margin a bettor without an opinion pays: every over, every under
    Strategy("blanket_over", "bet every over", lambda f: pl.lit("OVER")),
    Strategy("blanket_under", "bet every under", lambda f: pl.lit("UNDER")),
    Strategy(
        "line_below_season_avg",
        "bet the over when the line is below the player's season-to-date average",
        lambda f: pl.when(
            (pl.col("season_avg") > pl.col("line")) & (pl.col("season_games") >= 5)
        ).then(pl.lit("OVER")),
    ),
)
PRICE_RULES = {
    "reference": ("ref_over_odds", "ref_under_odds"),
    "best": ("best_over_odds", "best_under_odds"),
}
STAKINGS = ("flat", "kelly")


def settle_outcome(side: pl.Expr, actual: pl.Expr, line: pl.Expr) -> pl.Expr:
    """1 won, 0 lost, -1 push."""
    return (
        pl.when(actual == line)
        .then(-1)
        .when((side == "OVER") & (actual > line))
        .then(1)
        .when((side == "UNDER") & (actual < line))
        .then(1)
        .otherwise(0)
    )


def candidate_bets(rows: pl.DataFrame, price_rule: str) -> pl.DataFrame:
    """Every row with its EV on both sides at the rule's prices."""
    over_col, under_col = PRICE_RULES[price_rule]
    over_odds, under_odds = rows[over_col].to_numpy(), rows[under_col].to_numpy()
    p_over, p_under, p_push = (rows[c].to_numpy() for c in ("p_over", "p_under", "p_push"))
    return rows.with_columns(
        pl.Series("over_odds", over_odds),
        pl.Series("under_odds", under_odds),
        pl.Series("ev_over", expected_value(p_over, over_odds, p_push)),
        pl.Series("ev_under", expected_value(p_under, under_odds, p_push)),
    )


def simulate(rows: pl.DataFrame, strategy: Strategy, price_rule: str, staking: str) -> pl.DataFrame:
    """The bets a strategy places, in date order, with stake, profit and bankroll after each day."""
    frame = candidate_bets(rows, price_rule)
    bets = frame.with_columns(side=strategy.choose(frame)).filter(pl.col("side").is_not_null())
    bets = bets.with_columns(
        odds=pl.when(pl.col("side") == "OVER")
        .then(pl.col("over_odds"))
        .otherwise(pl.col("under_odds")),
        p_win=pl.when(pl.col("side") == "OVER").then(pl.col("p_over")).otherwise(pl.col("p_under")),
        outcome=settle_outcome(pl.col("side"), pl.col("actual"), pl.col("line")),
    ).sort("game_date", "player_id")
    if bets.height == 0:
        return bets.with_columns(
            stake=pl.lit(0.0), profit=pl.lit(0.0), bankroll_after=pl.lit(START_BANKROLL)
        )
    days = bets["game_date"].to_numpy()
    odds = bets["odds"].to_numpy()
    outcome = bets["outcome"].to_numpy()
    share = kelly_fraction(
        bets["p_win"].to_numpy(), odds, RULE.kelly, RULE.bet_cap, bets["p_push"].to_numpy()
    )
    share = cap_daily(share, days, RULE.day_cap)
    stakes = np.zeros(len(bets))
    profits = np.zeros(len(bets))
    after = np.zeros(len(bets))
    bankroll = START_BANKROLL
    start = 0
    while start < len(bets):
        end = start
        while end < len(bets) and days[end] == days[start]:
            end += 1
        sl = slice(start, end)
        if staking == "flat":
            stakes[sl] = 1.0
        else:
            stakes[sl] = share[sl] * max(bankroll, 0.0)
        profits[sl] = profit(stakes[sl], odds[sl], outcome[sl])
        bankroll += profits[sl].sum()
        after[sl] = bankroll
        start = end
    return bets.with_columns(
        pl.Series("stake", stakes), pl.Series("profit", profits), pl.Series("bankroll_after", after)
    )


def summarize_bets(bets: pl.DataFrame, seed: int = 7) -> dict[str, float]:
    """Bets, win rate, ROI, final bankroll, max drawdown, Sharpe and a 95% ROI interval from a
    bootstrap over game days."""
    placed = bets.filter(pl.col("stake") > 0)
    n = placed.height
    if n == 0:
        return {"bets": 0, "wins": 0, "losses": 0, "pushes": 0, "win_rate": math.nan,
                "staked": 0.0, "profit": 0.0, "roi": math.nan, "roi_low": math.nan,
                "roi_high": math.nan, "bet_days": 0, "final_bankroll": START_BANKROLL,
                "max_drawdown": 0.0, "sharpe": math.nan}  # fmt: skip
    outcome = placed["outcome"].to_numpy()
    stakes, profits = placed["stake"].to_numpy(), placed["profit"].to_numpy()
    wins, losses, pushes = (
        int((outcome == 1).sum()),
        int((outcome == 0).sum()),
        int((outcome == -1).sum()),
    )
    daily = placed.group_by("game_date", maintain_order=True).agg(
        pl.col("profit").sum(), pl.col("stake").sum(), pl.col("bankroll_after").last()
    )
    # the interval resamples whole game days: a night's bets share its games (a player's PTS,
    # PR and PRA, teammates, one pace), so they are not independent draws
    day_profit, day_stake = daily["profit"].to_numpy(), daily["stake"].to_numpy()
    if len(daily) >= MIN_INTERVAL_DAYS:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(daily), size=(BOOTSTRAP, len(daily)))
        boot = day_profit[idx].sum(axis=1) / np.maximum(day_stake[idx].sum(axis=1), 1e-12)
        roi_low, roi_high = float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))
    else:  # one night of bets: resampling it gives its own ROI back, not an interval
        roi_low = roi_high = math.nan
    curve = np.concatenate([[START_BANKROLL], daily["bankroll_after"].to_numpy()])
    peaks = np.maximum.accumulate(curve)
    drawdown = float(np.max((peaks - curve) / peaks))
    returns = daily["profit"].to_numpy() / curve[:-1]
    sharpe = (
        float(np.mean(returns) / np.std(returns, ddof=1) * math.sqrt(BETTING_DAYS_PER_SEASON))
        if len(returns) > 1 and np.std(returns, ddof=1) > 0
        else math.nan
    )
    return {
        "bets": n,
        "wins": wins,
        "losses": losses,
        "pushes": pushes,
        "win_rate": wins / (wins + losses) if wins + losses else math.nan,
        "staked": float(stakes.sum()),
        "profit": float(profits.sum()),
        "roi": float(profits.sum() / stakes.sum()),
        "roi_low": roi_low,
        "roi_high": roi_high,
        "bet_days": len(daily),
        "final_bankroll": float(curve[-1]),
        "max_drawdown": drawdown,
        "sharpe": sharpe,
    }


def closing_line_value(bets: pl.DataFrame) -> dict[str, float]:
    """Closing-line value of placed bets that have a later quote (`close_is_later`): the mean
    move of the consensus line toward our side (points; OVER gains when the line rises) and
    the share of bets that beat the close: the line moved our way, or it stayed and the closing
    de-vigged P of our side is above the opening's. Without close columns: no CLV bets."""
    cols = ("close_is_later", "close_line", "close_market_p_over", "market_p_over")
    if bets.height == 0 or any(c not in bets.columns for c in cols):
        return {"clv_bets": 0, "clv_line_move": math.nan, "clv_beat_close": math.nan}
    later = bets.filter(
        (pl.col("stake") > 0)
        & pl.col("close_is_later").fill_null(False)
        & pl.col("close_line").is_not_null()
        & pl.col("close_market_p_over").is_not_null()
    )
    if later.height == 0:
        return {"clv_bets": 0, "clv_line_move": math.nan, "clv_beat_close": math.nan}
    sign = pl.when(pl.col("side") == "OVER").then(1.0).otherwise(-1.0)
    scored = later.select(
        move=(pl.col("close_line") - pl.col("line")) * sign,
        p_gain=(pl.col("close_market_p_over") - pl.col("market_p_over")) * sign,
    )
    beat = (scored["move"] > 0) | ((scored["move"] == 0) & (scored["p_gain"] > 0))
    return {
        "clv_bets": later.height,
        "clv_line_move": float(scored["move"].mean()),
        "clv_beat_close": float(beat.mean()),
    }


def price_rules_of(rows: pl.DataFrame) -> list[str]:
    """The price rules that differ on these rows: "best" is left out when every row's best
    price is the reference book's (one book, or proxy lines): its bets would repeat them."""
    best, reference = PRICE_RULES["best"], PRICE_RULES["reference"]
    same = rows.select(
        ((pl.col(best[0]) == pl.col(reference[0])) & (pl.col(best[1]) == pl.col(reference[1])))
        .fill_null(True)
        .all()
    ).item()
    return ["reference"] if same else list(PRICE_RULES)


def run_backtest(rows: pl.DataFrame, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every strategy x staking x price rule (`price_rules_of` the rows): (results, bets). A
    row with a missing or non-finite probability, line, price or result is never bet
    (`non_finite_rows` counts them)."""
    rows, non_finite = finite_rows(rows, (*METRIC_INPUTS, "actual"))
    results, all_bets = [], []
    price_rules = price_rules_of(rows)
    for strategy in STRATEGIES:
        for price_rule in price_rules:
            for staking in STAKINGS:
                bets = simulate(rows, strategy, price_rule, staking)
                results.append(
                    {
                        "strategy": strategy.name,
                        "staking": staking,
                        "price_rule": price_rule,
                        **summarize_bets(bets, seed),
                        **closing_line_value(bets),
                        "non_finite_rows": non_finite,
                    }
                )
                all_bets.append(
                    bets.filter(pl.col("stake") > 0).select(
                        pl.lit(strategy.name).alias("strategy"),
                        pl.lit(staking).alias("staking"),
                        pl.lit(price_rule).alias("price_rule"),
                        "game_date",
                        "player_id",
                        "market",
                        "line",
                        "line_kind",
                        "side",
                        "odds",
                        "p_win",
                        "stake",
                        "outcome",
                        "profit",
                        "bankroll_after",
                        "actual",
                    )
                )
    return pl.DataFrame(results), pl.concat(all_bets, how="vertical_relaxed")
