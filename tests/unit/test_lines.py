"""Sportsbook lines: name matching, pregame quotes, consensus prices, proxies."""

from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import stats

from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.lines import (
    LINE_COLUMNS,
    QUOTE_REASONS,
    _type_lines,
    audit_quotes,
    complete_quotes,
    consensus,
    match_players,
    naive_p_over,
    pregame,
    proxy_lines,
    quote_counts,
    reason_totals,
    with_close,
)
from statmuse_pipelines.core.names import Candidate, match_name, normalize
from statmuse_pipelines.core.odds import devig, implied_to_american


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
    with pytest.raises(GameLogError, match="missing column"):
        _type_lines(raw.drop("line"), "lines.parquet")
    with pytest.raises(GameLogError, match="column over_odds, row 1: cannot read the value"):
        _type_lines(raw.with_columns(over_odds=pl.lit("minus 110")), "lines.parquet")


def test_renamed_columns_are_named_in_the_error_with_the_expected_ones():
    raw = quotes(rows=[{}]).rename(
        {"market_code": "market", "bookmaker": "book", "over_odds": "price_over"}
    )
    with pytest.raises(GameLogError) as err:
        _type_lines(raw, "feed.csv")
    text = str(err.value)
    assert "feed.csv" in text and "'market' for 'market_code'" in text
    assert "'book' for 'bookmaker'" in text and "'price_over' for 'over_odds'" in text
    assert "expected columns: game_date, feed" in text


def test_a_feed_may_leave_out_snapshot_times_event_ids_and_its_name():
    raw = quotes(rows=[{}]).drop("snapshot_time_utc", "event_id", "feed")
    typed = _type_lines(raw, "/data/odds_feed.parquet")
    assert typed["feed"].to_list() == ["odds_feed"] and typed["event_id"].null_count() == 1
    done = complete_quotes(typed)
    assert done["event_id"][0] == "2024-03-02:Los Angeles Clippers@Denver Nuggets"
    # the morning of the game (15:00 UTC), before the 00:10 UTC tip-off
    assert done["snapshot_time_utc"][0] == "2024-03-02T15:00:00Z"
    assert done["snapshot_assumed"][0] and done["event_assumed"][0]
    assert pregame(typed).height == 1
    # a game that tips before the morning default: a minute before tip-off
    early = complete_quotes(typed.with_columns(commence_time_utc=pl.lit("2024-03-02T14:00:00Z")))
    assert early["snapshot_time_utc"][0] == "2024-03-02T13:59:00Z"


def test_every_quote_is_kept_or_rejected_for_one_stated_reason():
    q = quotes(
        rows=[
            # draftkings: two snapshots, the first with a ladder (the main line is 25.5)
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:00:00Z"},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:00:00Z",
             "line": 27.5, "over_odds": 150.0, "under_odds": -190.0},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:00:00Z"},  # repeat
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:30:00Z"},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:45:00Z"},
            {"bookmaker": "fanduel", "over_odds": -105.0, "under_odds": -115.0},
            {"bookmaker": "caesars", "line": 24.5},  # another line: its line counts only
            {"bookmaker": "bovada", "over_odds": 160.0, "under_odds": -200.0},  # off-market
            {"bookmaker": "betmgm", "is_pregame": False},
            {"bookmaker": "betmgm", "over_odds": None},
            {"bookmaker": "betrivers", "over_odds": float("nan")},
            {"bookmaker": "pointsbet", "under_odds": 50.0},
            {"bookmaker": "wynnbet", "snapshot_time_utc": "2024-03-03T00:10:00Z"},
            {"bookmaker": "unibet", "snapshot_time_utc": "2024-03-02T19:00:00Z"},  # stale
            {"bookmaker": "fanduel", "player_name": "Somebody Else"},
            {"bookmaker": "fanduel", "player_name": "Aaron Gordon"},  # did not play
        ]
    )  # fmt: skip
    games = pl.DataFrame(
        {
            "team_id": [1610612743, 1610612743],
            "player_id": [203999, 203932],
            "player_name": ["Nikola Jokić", "Aaron Gordon"],
            "game_date": [date(2024, 3, 2), date(2024, 2, 28)],
        }
    )
    audited = audit_quotes(q, match_players(pregame(q), games))
    assert audited["reason"].to_list() == [
        "priced", "duplicate_rung", "duplicate_rung", "superseded", "priced", "priced",
        "line_only", "off_market", "not_pregame", "no_odds", "no_odds", "odds_impossible",
        "after_tip_off", "stale_snapshot", "unmatched_player", "did_not_play",
    ]  # fmt: skip
    assert set(audited["reason"]) <= set(QUOTE_REASONS)
    assert audited.filter(pl.col("status") == "kept").height == 4
    counts = quote_counts(audited)
    assert counts["quotes"].sum() == q.height
    totals = reason_totals(counts)
    assert totals["priced"] == 3 and totals["no_odds"] == 2 and next(iter(totals)) == "not_pregame"
    # what the audit calls priced is what the consensus prices
    opening = consensus(pregame(q, "first"), match_players(pregame(q), games))
    jokic = opening.filter(pl.col("player_id") == 203999).row(0, named=True)
    assert jokic["books_at_line"] == 2 and jokic["books"] == 4  # draftkings, fanduel; caesars


def test_proxy_lines_are_labelled_half_points_priced_by_a_naive_book():
    frame = pl.DataFrame(
        {
            "game_date": [date(2024, 1, 1)] * 4,
            "player_id": [1, 2, 3, 4],
            "pts_median_10": [21.0, 7.4, 0.0, 5.0],
            "pts_mean_10": [21.5, 9.0, 0.0, 2.0],
            "pts_std_10": [6.0, 3.0, 0.0, 0.5],
            "target_mean_10": [0.0, 0.0, 0.0, 0.0],
        }
    )
    lines = proxy_lines(frame, "PTS")
    assert lines["consensus_line"].to_list() == [21.5, 7.5, 0.5, 5.5]
    assert set(lines["line_kind"]) == {"proxy"} and set(lines["reference_book"]) == {"proxy"}
    # the mix of a normal and a negative binomial with the last 10 games' mean and variance
    norm = 1 - stats.norm.cdf(21.5, 21.5, 6.0)
    m, v = 21.5, 36.0
    negbin = stats.nbinom.sf(21, m * m / (v - m), m / v)
    assert lines["market_p_over"][0] == pytest.approx(0.5 * norm + 0.5 * negbin)
    # a line below the mean favours the over, and the prices say so
    second = lines.row(1, named=True)
    assert second["market_p_over"] > 0.6
    assert second["ref_over_odds"] < -110 < 100 < second["ref_under_odds"]
    # the vig of -110/-110 on top of the naive probability, nothing else
    p_over, overround = devig(lines["ref_over_odds"].to_numpy(), lines["ref_under_odds"].to_numpy())
    np.testing.assert_allclose(p_over, lines["market_p_over"].to_numpy())
    np.testing.assert_allclose(overround, 2 * 110 / 210)
    # no history: defined prices; far below the line: the naive book's floor
    assert 0.05 <= lines["market_p_over"][2] < 0.5
    assert lines["market_p_over"][3] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="1 line"):
        naive_p_over(np.array([np.nan, 1.5]), np.ones(2), np.ones(2))


def test_the_naive_book_moves_the_right_way():
    line = np.full(5, 10.5)
    rising_mean = naive_p_over(line, np.array([6.0, 8, 10, 12, 14]), np.full(5, 16.0))
    assert np.all(np.diff(rising_mean) > 0)
    wider = naive_p_over(line, np.full(5, 8.0), np.array([9.0, 16, 25, 36, 49]))
    assert np.all(np.diff(wider) > 0)  # below the line, more spread means more overs
    assert np.all((rising_mean >= 0.05) & (rising_mean <= 0.95))


def test_proxy_lines_for_a_combo_sum_the_parts_variances():
    frame = pl.DataFrame(
        {
            "game_date": [date(2024, 1, 1)],
            "player_id": [1],
            "target_mean_10": [30.0],
            "pts_std_10": [6.0],
            "reb_std_10": [3.0],
            "ast_std_10": [2.0],
        }
    )
    line = proxy_lines(frame, "PRA").row(0, named=True)
    assert line["consensus_line"] == 30.5 and line["market"] == "PRA"
    expected = naive_p_over(np.array([30.5]), np.array([30.0]), np.array([36.0 + 9 + 4]))
    assert line["market_p_over"] == pytest.approx(expected[0])


def test_implied_to_american_inverts_the_implied_probability():
    np.testing.assert_allclose(implied_to_american([110 / 210, 0.4, 0.5]), [-110, 150, -100])
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        implied_to_american([1.2])


def test_pregame_is_the_same_in_any_row_order_and_keeps_the_main_line():
    # one book's ladder at its last snapshot: the main line is the pair nearest even odds
    ladder = [
        {"bookmaker": "fanduel", "line": 23.5, "over_odds": -190.0, "under_odds": 150.0},
        {"bookmaker": "fanduel", "line": 25.5, "over_odds": -112.0, "under_odds": -108.0},
        {"bookmaker": "fanduel", "line": 27.5, "over_odds": 145.0, "under_odds": -185.0},
        {"bookmaker": "draftkings", "line": 24.5, "over_odds": -110.0, "under_odds": -110.0},
        {"bookmaker": "draftkings", "line": 25.5, "over_odds": -110.0, "under_odds": -110.0},
        {"bookmaker": "betmgm", "line": 25.5, "over_odds": None, "under_odds": -110.0},
    ]
    q = quotes(rows=ladder)
    kept = pregame(q).sort("bookmaker")
    # the betmgm quote has no over price: dropped; draftkings' tie goes to the lower line
    assert kept["bookmaker"].to_list() == ["draftkings", "fanduel"]
    assert kept["line"].to_list() == [24.5, 25.5]
    for seed in range(5):
        shuffled = pregame(q.sample(fraction=1.0, shuffle=True, seed=seed)).sort("bookmaker")
        assert shuffled.equals(kept)


def test_consensus_drops_off_market_quotes_from_the_prices():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "line": 25.5, "over_odds": -110.0, "under_odds": -110.0},
            {"bookmaker": "draftkings", "line": 25.5, "over_odds": -105.0, "under_odds": -115.0},
            {"bookmaker": "bovada", "line": 25.5, "over_odds": -112.0, "under_odds": -108.0},
            # a stale quote: its over at +160 would be "the best price" by far
            {"bookmaker": "betrivers", "line": 25.5, "over_odds": 160.0, "under_odds": -210.0},
        ]
    )
    games = pl.DataFrame(
        {
            "team_id": [1610612743],
            "player_id": [203999],
            "player_name": ["Nikola Jokic"],
            "game_date": [date(2024, 3, 2)],
        }
    )
    row = consensus(q, match_players(q, games)).row(0, named=True)
    assert row["best_over_book"] == "draftkings" and row["books_at_line"] == 3


def test_a_feed_without_tip_times_takes_its_events_tip_from_another_feed():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "feed": "daily_snapshot", "line": 25.5},
            # the closing feed has no commence time; its snapshot came after the tip: dropped
            {"bookmaker": "draftkings", "feed": "closing", "commence_time_utc": None,
             "snapshot_time_utc": "2024-03-03T00:12:00Z", "line": 27.5},
            {"bookmaker": "betmgm", "feed": "closing", "commence_time_utc": None,
             "snapshot_time_utc": "2024-03-03T00:05:00Z", "line": 26.5},
        ]
    )  # fmt: skip
    # the morning quote opens, the 00:05 one closes (ten hours apart: one moment each)
    assert pregame(q, "first")["bookmaker"].to_list() == ["fanduel"]
    assert pregame(q, "last")["bookmaker"].to_list() == ["betmgm"]


JOKIC = pl.DataFrame(
    {
        "team_id": [1610612743],
        "player_id": [203999],
        "player_name": ["Nikola Jokic"],
        "game_date": [date(2024, 3, 2)],
    }
)


def test_the_opening_and_the_close_are_each_books_first_and_last_quote():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-02T14:00:00Z", "line": 25.5},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:01:00Z", "line": 25.5},
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-02T23:55:00Z", "line": 26.5,
             "over_odds": -105.0, "under_odds": -115.0},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T23:56:00Z", "line": 26.5,
             "over_odds": -105.0, "under_odds": -115.0},
        ]
    )  # fmt: skip
    opening, close = pregame(q, "first"), pregame(q, "last")
    assert opening["line"].to_list() == [25.5, 25.5] and close["line"].to_list() == [26.5, 26.5]
    matches = match_players(close, JOKIC)
    row = with_close(consensus(opening, matches), consensus(close, matches)).row(0, named=True)
    assert row["consensus_line"] == 25.5 and row["close_line"] == 26.5 and row["close_is_later"]
    assert row["market_p_over"] == pytest.approx(0.5)
    assert row["close_market_p_over"] == pytest.approx(float(devig(-105, -115)[0]))
    # one snapshot only: the close is the opening, no later quote to measure against
    only = pregame(q.head(2), "first")
    same = with_close(consensus(only, matches), consensus(pregame(q.head(2)), matches))
    assert not same["close_is_later"][0] and same["close_line"][0] == 25.5
    with pytest.raises(ValueError, match="first"):
        pregame(q, "middle")


def test_a_stale_quote_is_not_priced_with_the_others():
    q = quotes(
        rows=[
            {"bookmaker": "fanduel", "snapshot_time_utc": "2024-03-02T14:00:00Z"},
            {"bookmaker": "draftkings", "snapshot_time_utc": "2024-03-02T14:02:00Z"},
            {"bookmaker": "betmgm", "snapshot_time_utc": "2024-03-02T14:03:00Z"},
            # four days old, at a price the others no longer offer
            {"bookmaker": "bovada", "snapshot_time_utc": "2024-02-27T14:00:00Z",
             "over_odds": 105.0, "under_odds": -125.0},
        ]
    )  # fmt: skip
    for view in ("first", "last"):
        kept = pregame(q, view)
        assert sorted(kept["bookmaker"].to_list()) == ["betmgm", "draftkings", "fanduel"], view
        row = consensus(kept, match_players(kept, JOKIC)).row(0, named=True)
        assert row["best_over_odds"] == -110.0 and row["books"] == 3
