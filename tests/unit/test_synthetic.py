"""The synthetic league: seeded, NBA-shaped, and honest about what has been played."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core.synthetic import SyntheticLeague, default_seasons
from statmuse_pipelines.core.synthetic.league import _state, season_league
from statmuse_pipelines.core.synthetic.schedule import season_schedule
from statmuse_pipelines.core.synthetic.simulate import simulate_season


@pytest.fixture(scope="module")
def box():
    return simulate_season(7, 2024)


def test_same_seed_same_league_different_seed_different_league(box):
    simulate_season.cache_clear()
    again = simulate_season(7, 2024)
    assert again.player_logs.equals(box.player_logs)
    other = simulate_season(8, 2024)
    assert not other.player_logs.head(200).equals(box.player_logs.head(200))


def test_a_season_is_a_pure_function_of_seed_and_season():
    season_league.cache_clear()
    _state.cache_clear()
    alone = season_league(11, 2025)
    season_league.cache_clear()
    _state.cache_clear()
    season_league(11, 2022)  # warm the caches along another path first
    after = season_league(11, 2025)
    assert alone == after


def test_schedule_is_nba_shaped():
    games = season_schedule(7, 2025)
    assert games.height == 1230
    assert games["game_id"].n_unique() == 1230
    long = pl.concat(
        [
            games.select(
                "game_date", pl.col("home_team_id").alias("team"), pl.lit(1).alias("home")
            ),
            games.select(
                "game_date", pl.col("away_team_id").alias("team"), pl.lit(0).alias("home")
            ),
        ]
    ).sort("team", "game_date")
    per_team = long.group_by("team").agg(
        pl.len().alias("games"),
        pl.col("home").sum().alias("home"),
        pl.col("game_date").n_unique().alias("days"),
        (pl.col("game_date").diff().dt.total_days() == 1).sum().alias("b2b"),
        (pl.col("game_date").diff(2).dt.total_days() == 2).sum().alias("three_in_three"),
    )
    assert per_team.height == 30
    assert per_team["games"].to_list() == [82] * 30
    assert per_team["home"].to_list() == [41] * 30
    assert per_team["days"].to_list() == [82] * 30  # never twice a day
    assert per_team["three_in_three"].sum() == 0
    assert 5 <= per_team["b2b"].mean() <= 18
    assert games["game_date"].min().month == 10 and games["game_date"].max().month == 4
    assert games["game_date"].max() <= date(2026, 4, 20)


def test_box_scores_obey_box_score_identities(box):
    p, t = box.player_logs, box.team_logs
    assert (p["PTS"] == 2 * p["FGM"] + p["FG3M"] + p["FTM"]).all()
    assert (p["REB"] == p["OREB"] + p["DREB"]).all()
    assert (p["FGM"] <= p["FGA"]).all() and (p["FG3M"] <= p["FG3A"]).all()
    sums = p.group_by("GAME_ID", "TEAM_ID").agg(pl.col("PTS").sum(), pl.col("REB").sum())
    joined = sums.join(t, on=["GAME_ID", "TEAM_ID"], suffix="_team")
    assert joined.height == t.height == 2460
    assert (joined["PTS"] == joined["PTS_team"]).all()
    assert (joined["REB"] == joined["REB_team"]).all()
    # every game has a winner and a loser
    assert t.group_by("GAME_ID").agg(pl.col("WL").sort()).get_column("WL").to_list()[0] == [
        "L",
        "W",
    ]
    minutes = t.group_by("GAME_ID").agg(pl.col("MIN").first())["MIN"]
    assert set(minutes.unique().to_list()) <= {240.0, 265.0, 290.0}


def test_team_scoring_and_home_court_look_like_the_nba(box):
    t = box.team_logs
    assert 105 <= t["PTS"].mean() <= 120
    home = t.filter(pl.col("MATCHUP").str.contains(" vs. "))
    away = t.filter(pl.col("MATCHUP").str.contains(" @ "))
    assert home["PTS"].mean() > away["PTS"].mean()
    assert 0.53 <= (home["WL"] == "W").mean() <= 0.65


def test_trades_and_injuries_happen(box):
    p = box.player_logs
    teams_per_player = p.group_by("PLAYER_ID").agg(pl.col("TEAM_ID").n_unique())
    assert teams_per_player.filter(pl.col("TEAM_ID") > 1).height >= 10
    league = season_league(7, 2024)
    assert len(league.trades) >= 10
    # the best players miss games: injuries and rest
    games = p.group_by("PLAYER_ID").len()
    assert games["len"].max() <= 86  # a traded player can play a few more than 82
    assert games.filter(pl.col("len") < 70).height > 100


def test_players_carry_over_between_seasons():
    a = set(simulate_season(7, 2024).player_logs["PLAYER_ID"].unique().to_list())
    b = set(simulate_season(7, 2025).player_logs["PLAYER_ID"].unique().to_list())
    assert 0.7 < len(a & b) / len(a) < 0.98  # most return, some retire, rookies arrive


def test_today_only_decides_what_has_been_played():
    today = date(2025, 11, 15)
    league = SyntheticLeague(7, default_seasons(today, 2), today)
    assert league.seasons == (2024, 2025)
    logs = league.game_logs("player", date(2025, 10, 1), date(2025, 12, 31))
    assert logs["GAME_DATE"].max() < today
    schedule = league.schedule(date(2025, 10, 1), date(2025, 12, 31))
    assert schedule.filter(~pl.col("played")).height > 0
    assert schedule.filter(~pl.col("played"))["game_date"].min() >= today
    # the same games, played later, have the same box scores
    later = SyntheticLeague(7, (2024, 2025), today + timedelta(days=30))
    again = later.game_logs("player", date(2025, 10, 1), today - timedelta(days=1))
    assert again.equals(logs)


def test_no_games_outside_the_configured_seasons():
    league = SyntheticLeague(7, (2025,), date(2026, 1, 1))
    assert league.game_logs("team", date(2024, 10, 1), date(2025, 6, 30)).height == 0
    assert league.game_logs("team", date(2025, 8, 1), date(2025, 8, 31)).height == 0


def test_minutes_follow_the_rotation(box):
    p = box.player_logs
    per_team_game = p.group_by("GAME_ID", "TEAM_ID").len()["len"]
    assert 9.5 <= per_team_game.mean() <= 11.5
    assert np.isclose(p["MIN"].mean(), 22.7, atol=2.0)
