"""Raw LeagueGameLog rows become player_game_stats and team_game_stats."""

from datetime import date

import polars as pl
import pytest

from statmuse_pipelines.core.gamelog import coerce_game_log
from statmuse_pipelines.core.normalize import (
    NormalizationError,
    normalize_player_logs,
    normalize_team_logs,
)
from statmuse_pipelines.core.schemas import PLAYER_GAME_STATS, TEAM_GAME_STATS

BOX = dict(MIN=30, FGM=5, FGA=10, FG_PCT=0.5, FG3M=1, FG3A=3, FG3_PCT=0.333, FTM=2, FTA=2,
           FT_PCT=1.0, OREB=1, DREB=4, REB=5, AST=3, STL=1, BLK=0, TOV=2, PF=2, PTS=13)  # fmt: skip


def player(pid, team_id, abbr, matchup, game_id="0022400001", wl="W", **over):
    row = dict(SEASON_ID=22024, PLAYER_ID=pid, PLAYER_NAME=f"P{pid}", TEAM_ID=team_id,
               TEAM_ABBREVIATION=abbr, TEAM_NAME=abbr, GAME_ID=game_id, GAME_DATE="2024-10-22",
               MATCHUP=matchup, WL=wl, **BOX, PLUS_MINUS=4)  # fmt: skip
    row.update(over)
    return row


def team(team_id, abbr, matchup, wl, pts, fga, fta, oreb, tov, game_id="0022400001", minutes=240):
    return dict(SEASON_ID=22024, TEAM_ID=team_id, TEAM_ABBREVIATION=abbr, TEAM_NAME=abbr,
                GAME_ID=game_id, GAME_DATE="2024-10-22", MATCHUP=matchup, WL=wl, MIN=minutes,
                PTS=pts, FGM=40, FGA=fga, FG_PCT=0.45, FG3M=12, FG3A=35, FG3_PCT=0.34, FTM=pts - 92,
                FTA=fta, FT_PCT=0.8, OREB=oreb, DREB=34, REB=oreb + 34, AST=25, STL=7, BLK=5,
                TOV=tov, PF=19, PLUS_MINUS=0)  # fmt: skip


def raw_players(rows):
    return coerce_game_log(pl.DataFrame(rows), "player", "test")


def raw_teams(rows):
    return coerce_game_log(pl.DataFrame(rows), "team", "test")


def test_player_rows_get_season_opponent_and_home():
    raw = raw_players(
        [
            player(1, 1610612743, "DEN", "DEN vs. LAL"),
            player(2, 1610612747, "LAL", "LAL @ DEN", wl="L"),
        ]
    )
    out = normalize_player_logs(raw)
    assert out.schema == pl.Schema(PLAYER_GAME_STATS.schema)
    den = out.filter(pl.col("player_id") == 1).row(0, named=True)
    assert den["season"] == "2024-25" and den["season_type"] == "Regular Season"
    assert den["game_date"] == date(2024, 10, 22)
    assert (den["team"], den["opponent"], den["opponent_id"]) == ("DEN", "LAL", 1610612747)
    assert den["is_home"] is True and den["won"] is True
    lal = out.filter(pl.col("player_id") == 2).row(0, named=True)
    assert lal["is_home"] is False and lal["won"] is False and lal["opponent_id"] == 1610612743
    assert den["pts"] == 13 and den["minutes"] == 30.0 and den["plus_minus"] == 4


def test_opponent_id_falls_back_to_the_abbreviation_when_one_side_is_missing():
    out = normalize_player_logs(raw_players([player(1, 1610612743, "DEN", "DEN @ BOS")]))
    assert out["opponent_id"][0] == 1610612738


def test_exhibitions_are_dropped_and_playoffs_kept():
    raw = raw_players(
        [
            player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0012400001"),  # preseason
            player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0032400001"),  # all-star
            player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0062400001"),  # cup final
            player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0042400101", SEASON_ID=42024),
            player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0052400001", SEASON_ID=52024),
        ]
    )
    out = normalize_player_logs(raw)
    assert sorted(out["season_type"].to_list()) == ["PlayIn", "Playoffs"]


def test_exact_duplicates_collapse_conflicts_fail():
    row = player(1, 1610612743, "DEN", "DEN vs. LAL")
    raw = raw_players([row])
    assert normalize_player_logs(pl.concat([raw, raw])).height == 1
    changed = raw.with_columns(pl.lit(99, dtype=pl.Int64).alias("PTS"))
    with pytest.raises(NormalizationError, match="PLAYER_ID=1, GAME_ID=0022400001"):
        normalize_player_logs(pl.concat([raw, changed]))


def test_unreadable_matchup_is_an_error_naming_the_game():
    raw = raw_players([player(1, 1610612743, "DEN", "DEN versus LAL")])
    with pytest.raises(NormalizationError, match="'DEN versus LAL' of game 0022400001"):
        normalize_player_logs(raw)


def test_team_rows_get_opponent_box_possessions_pace_and_ratings():
    raw = raw_teams(
        [
            team(1610612743, "DEN", "DEN vs. LAL", "W", pts=110, fga=90, fta=20, oreb=10, tov=12),
            team(1610612747, "LAL", "LAL @ DEN", "L", pts=100, fga=86, fta=25, oreb=8, tov=15),
        ]
    )
    out = normalize_team_logs(raw)
    assert out.schema == pl.Schema(TEAM_GAME_STATS.schema)
    den = out.filter(pl.col("team") == "DEN").row(0, named=True)
    own = 90 + 0.44 * 20 - 10 + 12  # 100.8
    theirs = 86 + 0.44 * 25 - 8 + 15  # 104.0
    poss = (own + theirs) / 2
    assert den["possessions"] == pytest.approx(poss)
    assert den["pace"] == pytest.approx(48 * poss / 48)  # 240 player-minutes = 48 game minutes
    assert den["off_rating"] == pytest.approx(100 * 110 / poss)
    assert den["def_rating"] == pytest.approx(100 * 100 / poss)
    assert (den["opp_pts"], den["opp_fga"], den["opponent"]) == (100, 86, "LAL")
    lal = out.filter(pl.col("team") == "LAL").row(0, named=True)
    assert lal["def_rating"] == pytest.approx(den["off_rating"])


def test_overtime_pace_uses_the_longer_game():
    raw = raw_teams(
        [
            team(1610612743, "DEN", "DEN vs. LAL", "W", 120, 100, 20, 10, 12, minutes=265),
            team(1610612747, "LAL", "LAL @ DEN", "L", 118, 100, 20, 10, 12, minutes=265),
        ]
    )
    out = normalize_team_logs(raw)
    poss = 100 + 8.8 - 10 + 12
    assert out["pace"][0] == pytest.approx(48 * poss / 53)


def test_a_season_id_that_game_id_contradicts_is_an_error():
    raw = raw_players([player(1, 1610612743, "DEN", "DEN vs. LAL", SEASON_ID=22023)])
    with pytest.raises(
        NormalizationError, match="SEASON_ID 22023 does not match GAME_ID 0022400001"
    ):
        normalize_player_logs(raw)
    playoffs = player(1, 1610612743, "DEN", "DEN vs. LAL", game_id="0042400101", SEASON_ID=42024)
    assert normalize_player_logs(raw_players([playoffs])).height == 1


def test_an_unknown_team_in_a_counting_game_is_an_error_an_exhibition_club_is_not():
    raw = raw_players([player(1, 1610619999, "XYZ", "XYZ vs. LAL")])
    with pytest.raises(NormalizationError, match="TEAM_ID 1610619999 \\(XYZ\\)"):
        normalize_player_logs(raw)
    preseason = player(1, 15000, "MAC", "MAC @ LAL", game_id="0012400001", SEASON_ID=12024)
    assert normalize_player_logs(raw_players([preseason])).height == 0
