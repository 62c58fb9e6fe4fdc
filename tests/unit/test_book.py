"""The simulated sportsbook behaves like a market: it keeps its margin against blanket bettors,
its P(over) is calibrated, a sharp book cannot be beaten and a sloppy one can, and the market
blend defers to the first and learns from the second. Every quote goes through the same lines
path as real quotes (pregame views, name matching, consensus, de-vig)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core.calibration import ece, log_loss
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.lines import (
    LINE_COLUMNS,
    consensus,
    match_players,
    match_rate,
    naive_p_over,
    pregame,
    with_close,
)
from statmuse_pipelines.core.market_blend import fit_blend, recommend
from statmuse_pipelines.core.odds import american_to_decimal, devig
from statmuse_pipelines.core.synthetic import BookSettings, SyntheticLeague
from statmuse_pipelines.core.synthetic.book import season_quotes
from statmuse_pipelines.core.synthetic.simulate import play_game, simulate_season

# the first seven weeks of 2025-26, with 2024-25 as history for the naive estimates
LEAGUE = SyntheticLeague(7, (2024, 2025), today=date(2025, 12, 8))
PERIOD = (date(2025, 10, 1), date(2025, 12, 7))


def _player_games() -> pl.DataFrame:
    logs = pl.concat([simulate_season(7, s).player_logs for s in LEAGUE.seasons])
    totals = [pl.sum_horizontal(pl.col(p.upper()) for p in parts).alias(m)
              for m, parts in TARGETS.items()]  # fmt: skip
    return logs.select(
        pl.col("TEAM_ID").alias("team_id"),
        pl.col("PLAYER_ID").alias("player_id"),
        pl.col("PLAYER_NAME").alias("player_name"),
        pl.col("GAME_DATE").alias("game_date"),
        *totals,
    ).sort("player_id", "game_date")


@lru_cache(maxsize=4)
def props(error: float) -> pl.DataFrame:
    """Per player-game-market with a line: the consensus at the opening, the close, the result
    and a naive bettor's P(over) from the player's last 10 games (before the game)."""
    quotes = LEAGUE.prop_lines(*PERIOD, BookSettings(error=error))
    games = _player_games()
    opening, close = pregame(quotes, "first"), pregame(quotes, "last")
    matches = match_players(close, games.select("team_id", "player_id", "player_name", "game_date"))
    lines = with_close(consensus(opening, matches), consensus(close, matches))
    recent = [
        stat
        for m in TARGETS
        for stat in (
            pl.col(m).shift(1).rolling_mean(10).over("player_id").alias(f"{m}_mean"),
            pl.col(m).shift(1).rolling_var(10).over("player_id").alias(f"{m}_var"),
        )
    ]
    history = games.with_columns(recent)
    long = pl.concat(
        history.select(
            "player_id",
            "game_date",
            pl.lit(m).alias("market"),
            pl.col(m).alias("actual"),
            pl.col(f"{m}_mean").alias("mean10"),
            pl.col(f"{m}_var").alias("var10"),
        )
        for m in TARGETS
    )
    rows = lines.join(long, on=["player_id", "game_date", "market"], how="inner").filter(
        pl.col("mean10").is_not_null()
    )
    naive = naive_p_over(
        rows["consensus_line"].to_numpy(), rows["mean10"].to_numpy(), rows["var10"].to_numpy()
    )
    return rows.with_columns(
        went_over=(pl.col("actual") > pl.col("consensus_line")).cast(pl.Float64),
        p_naive=pl.Series(naive),
    ).sort("game_date", "player_id", "market")


def roi(rows: pl.DataFrame, side: str) -> float:
    odds = rows[f"ref_{side}_odds"].to_numpy()
    won = rows["went_over"].to_numpy() == (1.0 if side == "over" else 0.0)
    return float(np.mean(np.where(won, american_to_decimal(odds) - 1.0, -1.0)))


def naive_bets(rows: pl.DataFrame) -> tuple[int, float, float]:
    """The served betting rule on the naive bettor's P(over): (bets, flat ROI, its std error)."""
    p = rows["p_naive"].to_numpy()
    rec, _, _ = recommend(
        p, 1.0 - p, np.zeros(len(p)), rows["market_p_over"].to_numpy(),
        rows["ref_over_odds"].to_numpy(), rows["ref_under_odds"].to_numpy(),
    )  # fmt: skip
    over, under = rec == "OVER", rec == "UNDER"
    y = rows["went_over"].to_numpy()
    dec_over = american_to_decimal(rows["ref_over_odds"].to_numpy())
    dec_under = american_to_decimal(rows["ref_under_odds"].to_numpy())
    profit = np.concatenate(
        [
            np.where(y[over] == 1, dec_over[over] - 1, -1.0),
            np.where(y[under] == 0, dec_under[under] - 1, -1.0),
        ]
    )
    return len(profit), float(profit.mean()), float(profit.std() / np.sqrt(len(profit)))


def test_a_range_over_two_seasons_is_each_seasons_book_in_turn():
    """Two seasons' books are replayed on both cores: the quotes are each season's own, in order."""
    league = SyntheticLeague(7, (2024, 2025), today=date(2025, 10, 24))
    start, end = date(2025, 4, 10), date(2025, 10, 23)
    both = league.prop_lines(start, end)
    each = [season_quotes(7, s, BookSettings(), league.today, league.pace_change, start, end)
            for s in (2024, 2025)]  # fmt: skip
    assert all(q.height for q in each) and both.equals(pl.concat(each))


def test_quotes_have_the_real_schema_and_are_deterministic():
    league = SyntheticLeague(7, (2025,), today=date(2025, 10, 24))
    quotes = league.prop_lines(date(2025, 10, 21), date(2025, 10, 23))
    assert quotes.schema == pl.Schema(LINE_COLUMNS)
    assert quotes.height > 1000
    assert set(quotes["market_code"].unique()) == set(TARGETS)
    assert quotes["bookmaker"].n_unique() >= 3 and quotes["snapshot_time_utc"].n_unique() > 2
    assert (quotes["snapshot_time_utc"] < quotes["commence_time_utc"]).all()
    assert ((quotes["over_odds"].abs() >= 100) & (quotes["under_odds"].abs() >= 100)).all()
    assert ((quotes["line"] * 2) % 2 == 1).all()  # .5 lines: no pushes
    _, overround = devig(quotes["over_odds"].to_numpy(), quotes["under_odds"].to_numpy())
    assert 1.05 < float(np.median(overround)) < 1.10  # the real quotes' median is 1.070
    season_quotes.cache_clear()
    again = league.prop_lines(date(2025, 10, 21), date(2025, 10, 23))
    assert again.equals(quotes)
    other = SyntheticLeague(8, (2025,), today=league.today)
    assert not other.prop_lines(date(2025, 10, 21), date(2025, 10, 23)).equals(quotes)


def test_today_has_a_morning_line_and_no_close_and_the_future_has_none():
    league = SyntheticLeague(7, (2025,), today=date(2025, 10, 23))
    quotes = league.prop_lines(date(2025, 10, 1), date(2025, 10, 30))
    assert quotes["game_date"].max() == date(2025, 10, 23)
    today = quotes.filter(pl.col("game_date") == date(2025, 10, 23))
    assert today.height and today["snapshot_time_utc"].str.slice(11, 2).is_in(["14", "15"]).all()
    # the morning's quotes of earlier days do not depend on how far the league has got
    earlier = quotes.filter(pl.col("game_date") == date(2025, 10, 22))
    later = SyntheticLeague(7, (2025,), today=date(2025, 11, 30))
    assert later.prop_lines(date(2025, 10, 22), date(2025, 10, 22)).equals(earlier)
    # nor on the range asked for: a day's run plays that day's games only
    assert (
        later.prop_lines(date(2025, 10, 1), date(2025, 10, 30))
        .filter(pl.col("game_date") == date(2025, 10, 22))
        .equals(earlier)
    )


def test_book_zero_error_prices_the_true_distribution():
    """The book's distribution is the simulator's own: its P(over) matches the over rate of
    fresh playings of the same games (not just of the one season that was played)."""
    plan = simulate_season(7, 2025).plans[0]
    fresh, _ = play_game(np.random.default_rng(99), plan, 4000)
    quotes = season_quotes(7, 2025, BookSettings(error=0.0), date(2025, 10, 22))
    q = quotes.filter(
        (pl.col("event_id") == f"syn-{plan.game_id}")
        & (pl.col("market_code") == "PTS")
        & (pl.col("bookmaker") == "draftkings")
    )
    names = {simulate_season(7, 2025).player_logs.filter(pl.col("PLAYER_ID") == pid)[
        "PLAYER_NAME"][0]: j for j, pid in enumerate(plan.sides[0].ids)}  # fmt: skip
    checked = 0
    for name, line, over, under in q.select(
        "player_name", "line", "over_odds", "under_odds"
    ).rows():
        if name not in names:
            continue
        p_book = devig(np.array([over]), np.array([under]))[0][0]
        p_true = float((fresh["PTS"][:, names[name]] > line).mean())
        assert abs(p_book - p_true) < 0.08, (name, line, p_book, p_true)
        checked += 1
    assert checked >= 3


def test_blanket_bets_lose_the_margin_and_the_market_is_calibrated():
    rows = props(BookSettings().error)
    assert rows.height > 20_000
    over, under = roi(rows, "over"), roi(rows, "under")
    # overrounds of 1.06-1.09: a blanket bettor loses about 3-4.5% a side of the stake's worth
    assert -0.11 < over < -0.02 and -0.11 < under < -0.02, (over, under)
    p, y = rows["market_p_over"].to_numpy(), rows["went_over"].to_numpy()
    assert ece(p, y) < 0.02
    assert 0.235 < float(np.mean((p - y) ** 2)) < 0.252  # the real market: 0.241-0.250
    # the close knows more than the morning
    closed = rows.filter(pl.col("close_is_later"))
    c = closed["close_market_p_over"].to_numpy()
    yc = closed["went_over"].to_numpy()
    assert log_loss(c, yc) < log_loss(closed["market_p_over"].to_numpy(), yc)
    # matching books' spellings (initials, team tags) works as on real lines
    quotes = LEAGUE.prop_lines(date(2025, 11, 1), date(2025, 11, 14))
    games = _player_games().select("team_id", "player_id", "player_name", "game_date")
    rate = match_rate(match_players(pregame(quotes, "last"), games))
    assert rate["match_rate"] > 0.98 and len(rate["by_method"]) >= 3


def test_a_sharp_book_cannot_be_beaten_and_a_sloppy_one_can():
    sharp, sloppy = props(0.0), props(1.0)
    n, mean, se = naive_bets(sharp)
    assert n > 1000 and mean + 2 * se < 0.0, (n, mean, se)
    n, mean, se = naive_bets(sloppy)
    assert n > 1000 and mean - 2 * se > 0.0, (n, mean, se)
    for rows, naive_wins in ((sharp, False), (sloppy, True)):
        y = rows["went_over"].to_numpy()
        better = log_loss(rows["p_naive"].to_numpy(), y) < log_loss(
            rows["market_p_over"].to_numpy(), y
        )
        assert better == naive_wins


@pytest.mark.parametrize(("error", "active"), [(0.0, False), (1.0, True)])
def test_the_blend_defers_to_a_sharp_book_and_learns_from_a_sloppy_one(error, active):
    """A walk-forward in three blocks of dates: fit on the first, its predictions on the second
    are its track record, the blend fit on both is scored on the third."""
    rows = props(error).rename({"p_naive": "p_over_raw"})
    days = rows["game_date"].unique().sort()
    cut1, cut2 = days[len(days) // 3], days[2 * len(days) // 3]
    first = rows.filter(pl.col("game_date") < cut1)
    second = rows.filter(pl.col("game_date").is_between(cut1, cut2, closed="left"))
    third = rows.filter(pl.col("game_date") >= cut2)
    early = fit_blend(first)
    assert early.fitted
    shadow = early.shadow(second["market_p_over"].to_numpy(), second["p_over_raw"].to_numpy())
    blend = fit_blend(pl.concat([first, second.with_columns(p_shadow=pl.Series(shadow))],
                                how="diagonal_relaxed"))  # fmt: skip
    assert blend.active == active, blend.reason
    y = third["went_over"].to_numpy()
    market = third["market_p_over"].to_numpy()
    final = blend.predict(market, third["p_over_raw"].to_numpy())
    if active:
        assert log_loss(final, y) < log_loss(market, y) - 0.005
    else:
        assert np.array_equal(final, market)
