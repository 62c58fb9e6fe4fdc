"""Sportsbook lines: name matching, pregame quotes, consensus prices, proxies."""

from datetime import date

import polars as pl
import pytest

from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.lines import (
    LINE_COLUMNS,
    _type_lines,
    consensus,
    match_players,
    pregame,
    proxy_lines,
)
from statmuse_pipelines.core.names import Candidate, match_name, normalize
from statmuse_pipelines.core.odds import devig


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Luka Dončić", "luka doncic"),
        ("Jaren Jackson Jr.", "jaren jackson"),
        ("De’Anthony Melton", "deanthony melton"),
        ("Daniel Theis (IND)", "daniel theis"),
        ("K. Caldwell-Pope", "k caldwell pope"),
        ("C.J. McCollum", "cj mccollum"),
        ("Portis, Bobby", "portis bobby"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


CANDIDATES = [
    Candidate(1, "Giannis Antetokounmpo", True),
    Candidate(2, "Kevin Love", True),
    Candidate(3, "Brook Lopez", True),
    Candidate(4, "Luka Dončić", True),
    Candidate(5, "Herbert Jones", True),
    Candidate(6, "Derrick Jones Jr.", True),
    Candidate(7, "Damian Jones", False),
    Candidate(8, "Bojan Bogdanovic", True),
    Candidate(9, "Dennis Schröder", True),
]


@pytest.mark.parametrize(
    "book, player, method",
    [
        ("Kevin Love", 2, "exact"),
        ("Luka Doncic", 4, "normalized"),
        ("Herb Jones", 5, "alias"),
        ("Love Kevin", 2, "reordered"),
        ("G. Antetokounmpo", 1, "initial"),
        ("Brook Robert Lopez", 3, "subset"),
        ("D. Jones", 6, "initial"),  # two D. Joneses: the one who played
        ("Bojan Bogdanovitch", 8, "fuzzy"),
    ],
)
def test_match_name_methods(book, player, method):
    m = match_name(book, CANDIDATES)
    assert (m.player_id, m.method) == (player, method)


def test_unmatched_names_say_why():
    m = match_name("Chris Boucher", CANDIDATES)
    assert m.player_id is None and "needs 0.85" in m.reason
    assert "no player of either team" in match_name("Anyone", []).reason
    both_played = [Candidate(6, "Derrick Jones", True), Candidate(7, "Damian Jones", True)]
    assert "ambiguous" in match_name("D. Jones", both_played).reason


def quotes(**over) -> pl.DataFrame:
    base = {
        "game_date": date(2024, 3, 2),
        "feed": "daily_snapshot",
        "commence_time_utc": "2024-03-03T00:10:00Z",
        "snapshot_time_utc": "2024-03-02T14:00:00Z",
        "is_pregame": True,
        "event_id": "e1",
        "home_team": "Denver Nuggets",
        "away_team": "Los Angeles Clippers",
        "player_name": "Nikola Jokic",
        "market_code": "PTS",
        "line": 25.5,
        "bookmaker": "fanduel",
        "over_odds": -110.0,
        "under_odds": -110.0,
    }
    rows = over.pop("rows")
    return pl.DataFrame([{**base, **r} for r in rows], schema=LINE_COLUMNS)


def test_pregame_keeps_each_books_last_quote_before_tip_off():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-02T14:00:00Z", "line": 25.5},
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-02T20:00:00Z", "line": 26.5},
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-03T00:30:00Z", "line": 30.5},
            {"bookmaker": "betmgm", "is_pregame": False, "line": 40.5},
        ]
    )
    kept = pregame(q)
    assert kept.height == 1 and kept["line"][0] == 26.5


def test_consensus_line_prices_and_market_probability():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "line": 25.5, "over_odds": -115.0, "under_odds": -105.0},
            {"bookmaker": "draftkings", "line": 25.5, "over_odds": -110.0, "under_odds": -110.0},
            {"bookmaker": "betmgm", "line": 26.5, "over_odds": 100.0, "under_odds": -130.0},
            {"bookmaker": "bovada", "line": 25.5, "over_odds": -105.0, "under_odds": -120.0},
        ]
    )
    games = pl.DataFrame(
        {
            "team_id": [1610612743],
            "player_id": [203999],
            "player_name": ["Nikola Jokić"],
            "game_date": [date(2024, 3, 2)],
        }
    )
    matches = match_players(q, games)
    assert matches.row(0, named=True)["player_id"] == 203999
    assert matches["method"][0] == "normalized" and matches["played"][0]
    row = consensus(q, matches).row(0, named=True)
    assert row["consensus_line"] == 25.5 and row["books_at_line"] == 3 and row["books"] == 4
    assert row["reference_book"] == "draftkings" and row["ref_over_odds"] == -110.0
    assert (row["best_over_odds"], row["best_over_book"]) == (-105.0, "bovada")
    assert (row["best_under_odds"], row["best_under_book"]) == (-105.0, "fanduel")
    expected = sorted(float(devig(o, u)[0]) for o, u in [(-115, -105), (-110, -110), (-105, -120)])[
        1
    ]
    assert row["market_p_over"] == pytest.approx(expected)
    assert row["line_kind"] == "real"


def test_unknown_team_names_and_bad_odds_are_errors():
    q = quotes(rows=[{"home_team": "Seattle SuperSonics"}])
    with pytest.raises(GameLogError, match="unknown team name"):
        schema = {"team_id": pl.Int64, "player_id": pl.Int64, "player_name": pl.String}
        match_players(q, pl.DataFrame(schema={**schema, "game_date": pl.Date}))
    raw = quotes(rows=[{"over_odds": 50.0}])
    with pytest.raises(GameLogError, match="American odds"):
        _type_lines(raw, "lines.parquet")
    with pytest.raises(GameLogError, match="missing column"):
        _type_lines(raw.drop("line"), "lines.parquet")


def test_proxy_lines_are_labelled_half_points_at_minus_110():
    frame = pl.DataFrame(
        {
            "game_date": [date(2024, 1, 1)] * 2,
            "player_id": [1, 2],
            "pts_median_10": [21.0, 7.4],
            "target_mean_10": [0.0, 0.0],
        }
    )
    lines = proxy_lines(frame, "PTS")
    assert lines["consensus_line"].to_list() == [21.5, 7.5]
    assert set(lines["line_kind"]) == {"proxy"} and set(lines["ref_over_odds"]) == {-110.0}
