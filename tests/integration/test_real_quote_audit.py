"""Real sportsbook quotes as other feeds deliver them (../shared/data/nba/prop_lines): without
snapshot times or event ids, with a ladder of alternate lines, a NaN price, a renamed column.
Each quote is kept or rejected for a stated reason, counted; the market rows stay the same."""

from datetime import date

import polars as pl
import pytest

from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.lines import (
    audit_quotes,
    consensus,
    market_view,
    match_players,
    pregame,
    quote_counts,
    read_lines,
    reason_totals,
    with_close,
)
from statmuse_pipelines.core.normalize import normalize_player_logs
from statmuse_pipelines.resources.sources import FilesGameLogSource

pytestmark = pytest.mark.integration
KEY = ["game_date", "player_id", "market"]


@pytest.fixture(scope="module")
def real(real_data):
    quotes = read_lines(real_data / "prop_lines")
    source = FilesGameLogSource(directory=str(real_data))
    games = normalize_player_logs(source.fetch("player", date(2023, 9, 1), date(2024, 6, 30)))
    return quotes, games.select("team_id", "player_id", "player_name", "game_date")


def _market(quotes: pl.DataFrame, games: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """The market rows (opening with the close beside it) and the per-reason counts."""
    opening, close = pregame(quotes, "first"), pregame(quotes, "last")
    matches = match_players(close, games)
    lines = with_close(consensus(opening, matches), consensus(close, matches))
    counts = quote_counts(audit_quotes(quotes, matches))
    assert counts["quotes"].sum() == quotes.height  # every quote accounted for, once
    return lines, reason_totals(counts)


def test_blanked_snapshot_times_and_event_ids_give_the_same_market_rows(real, tmp_path):
    quotes, games = real
    lines, counts = _market(quotes, games)
    assert counts["priced"] > 150_000 and counts["not_pregame"] == 728  # the file's flags
    blank = tmp_path / "blanked.parquet"
    quotes.with_columns(
        snapshot_time_utc=pl.lit(None, pl.String), event_id=pl.lit(None, pl.String)
    ).write_parquet(blank)
    blanked = read_lines(blank)
    b_lines, b_counts = _market(blanked, games)
    # nothing dropped in silence: every market row of the original is there
    assert lines.join(b_lines, on=KEY, how="anti").height == 0
    assert b_lines.join(lines, on=KEY, how="anti").height <= 0.001 * lines.height
    # the same consensus line except where the snapshot time was needed to break a tie
    # (the PRA closing feed and the morning one become the same moment)
    same = lines.join(b_lines, on=KEY, suffix="_b")
    agree = (same["consensus_line"] == same["consensus_line_b"]).mean()
    assert agree > 0.97
    # reasons that need a time cannot apply; the times and events are said to be assumed
    assert "superseded" not in b_counts and "stale_snapshot" not in b_counts
    assert b_counts["not_pregame"] == counts["not_pregame"]
    assert sum(b_counts.values()) == sum(counts.values()) == quotes.height


def test_a_ladder_a_nan_price_and_impossible_odds_are_rejected_and_counted(real):
    quotes, games = real
    day = quotes.filter(pl.col("game_date") == date(2024, 3, 6))
    lines, counts = _market(day, games)
    main = day.filter(pl.col("bookmaker") == "draftkings").head(20)
    # alternates one and two points either side, priced away from even: rungs of the ladder
    ladder = pl.concat(
        [
            main.with_columns(
                line=pl.col("line") + step, over_odds=pl.lit(odds), under_odds=pl.lit(-odds - 40.0)
            )
            for step, odds in ((-1.0, -150.0), (-2.0, -200.0))
        ]
        + [
            main.with_columns(
                line=pl.col("line") + step, over_odds=pl.lit(odds), under_odds=pl.lit(-odds - 40.0)
            )
            for step, odds in ((1.0, 130.0), (2.0, 170.0))
        ]
    )
    nan_price = main.head(1).with_columns(bookmaker=pl.lit("nan_book"), over_odds=float("nan"))
    impossible = main.head(1).with_columns(bookmaker=pl.lit("odd_book"), under_odds=pl.lit(-50.0))
    more = pl.concat([day, ladder, nan_price, impossible])
    m_lines, m_counts = _market(more, games)
    assert m_counts["duplicate_rung"] == counts["duplicate_rung"] + ladder.height
    assert m_counts.get("no_odds", 0) == counts.get("no_odds", 0) + 1
    assert m_counts.get("odds_impossible", 0) == counts.get("odds_impossible", 0) + 1
    # the market's view does not move, and no figure it gives is NaN
    assert m_lines.select(KEY, "consensus_line").equals(lines.select(KEY, "consensus_line"))
    assert m_lines["market_p_over"].is_finite().all()


def test_a_renamed_column_is_a_clear_error(real, tmp_path):
    quotes, _ = real
    renamed = tmp_path / "other_feed.csv"
    quotes.head(50).rename({"market_code": "market", "over_odds": "price_over"}).write_csv(renamed)
    with pytest.raises(GameLogError) as err:
        read_lines(renamed)
    text = str(err.value)
    assert "other_feed.csv" in text and "'market' for 'market_code'" in text
    assert "'price_over' for 'over_odds'" in text and "expected columns" in text


def test_the_one_pass_view_is_the_steps_taken_one_by_one(real):
    quotes, games = real
    week = quotes.filter(pl.col("game_date").is_between(date(2024, 4, 8), date(2024, 4, 21)))
    lines, counts = _market(week, games)
    view = market_view(week, games)
    assert view.lines.equals(lines)
    assert reason_totals(quote_counts(view.audited)) == counts
    assert view.matches.equals(match_players(pregame(week, "last"), games))
