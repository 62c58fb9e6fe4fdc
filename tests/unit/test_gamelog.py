"""The LeagueGameLog gate: typing, and errors that name the file, column, row and value."""

from datetime import date

import polars as pl
import pytest

from statmuse_pipelines.core.gamelog import (
    PLAYER_LOG_SCHEMA,
    TEAM_LOG_SCHEMA,
    GameLogError,
    coerce_game_log,
)
from statmuse_pipelines.core.synthetic.simulate import simulate_season


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return simulate_season(7, 2024).player_logs.head(40)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """What a CSV export looks like once read without type inference."""
    return frame.with_columns(
        pl.col("GAME_DATE").cast(pl.String),
        *(pl.col(c).cast(pl.String) for c in frame.columns if c != "GAME_DATE"),
    )


def set_value(frame: pl.DataFrame, column: str, row: int, value: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )


def test_typed_rows_round_trip_through_text(rows):
    typed = coerce_game_log(as_text(rows), "player", "x.csv")
    assert typed.schema == pl.Schema(PLAYER_LOG_SCHEMA)
    assert typed.equals(rows)


def test_missing_column_names_the_file_and_column(rows):
    with pytest.raises(GameLogError) as err:
        coerce_game_log(rows.drop("REB"), "player", "logs/2024-01-05.csv")
    assert "logs/2024-01-05.csv" in str(err.value)
    assert "REB" in str(err.value)


def test_non_numeric_value_names_column_row_and_value(rows):
    bad = set_value(as_text(rows), "PTS", 17, "twelve")
    with pytest.raises(GameLogError) as err:
        coerce_game_log(bad, "player", "p.csv")
    e = err.value
    assert (e.origin, e.column, e.row, e.value) == ("p.csv", "PTS", 17, "twelve")
    assert "p.csv, column PTS, row 17: not a number" in str(e)


def test_fractional_count_is_rejected(rows):
    bad = set_value(as_text(rows), "AST", 3, "2.5")
    with pytest.raises(GameLogError, match="column AST, row 3: not a whole number"):
        coerce_game_log(bad, "player", "p.csv")


def test_unknown_date_format_names_the_row(rows):
    bad = set_value(as_text(rows), "GAME_DATE", 4, "24/10/2024")
    with pytest.raises(GameLogError) as err:
        coerce_game_log(bad, "player", "p.csv")
    assert (err.value.column, err.value.row, err.value.value) == ("GAME_DATE", 4, "24/10/2024")
    assert "unknown date format" in str(err.value)


@pytest.mark.parametrize(
    "text", ["2024-10-22", "2024-10-22T00:00:00", "OCT 22, 2024", "Oct 22, 2024", "10/22/2024"]
)
def test_known_date_formats(rows, text):
    frame = as_text(rows.head(1)).with_columns(GAME_DATE=pl.lit(text))
    assert coerce_game_log(frame, "player", "p")["GAME_DATE"][0] == date(2024, 10, 22)


def test_duplicate_player_game_names_both_rows(rows):
    dup = pl.concat([rows.head(5), rows.slice(2, 1)])
    with pytest.raises(GameLogError) as err:
        coerce_game_log(dup, "player", "p.parquet")
    assert "duplicate rows" in str(err.value)
    assert "rows 3, 6" in str(err.value)


def test_empty_required_value_is_an_error(rows):
    bad = set_value(as_text(rows), "PLAYER_ID", 9, "")
    with pytest.raises(GameLogError, match="column PLAYER_ID, row 9: required value is empty"):
        coerce_game_log(bad, "player", "p.csv")


def test_spreadsheet_quirks_are_repaired(rows):
    frame = as_text(rows.head(2)).with_columns(
        GAME_ID=pl.lit("22400001"), MIN=pl.lit("34:30"), PLUS_MINUS=pl.lit("-3.0")
    )
    typed = coerce_game_log(frame, "player", "p.csv")
    assert typed["GAME_ID"].to_list() == ["0022400001"] * 2
    assert typed["MIN"].to_list() == [34.5, 34.5]
    assert typed["PLUS_MINUS"].to_list() == [-3.0, -3.0]


def test_extra_columns_are_dropped_and_team_mode_works():
    teams = simulate_season(7, 2024).team_logs.head(4).with_columns(VIDEO_AVAILABLE=pl.lit(1))
    typed = coerce_game_log(teams, "team", "t")
    assert list(typed.columns) == list(TEAM_LOG_SCHEMA)


@pytest.mark.parametrize(
    "column, value, problem",
    [
        ("PTS", "nan", "not a finite number"),
        ("MIN", "inf", "not a finite number"),
        ("PLUS_MINUS", "-inf", "not a finite number"),
        ("REB", "1e30", "too large for a count"),
        ("PLAYER_ID", "1e30", "too large for an id"),
    ],
)
def test_non_finite_and_impossible_numbers_name_the_column_and_row(rows, column, value, problem):
    with pytest.raises(GameLogError) as err:
        coerce_game_log(set_value(as_text(rows), column, 4, value), "player", "logs/x.csv")
    text = str(err.value)
    assert f"logs/x.csv, column {column}, row 4: {problem}" in text and repr(value) in text


def test_a_nan_percentage_is_an_empty_percentage(rows):
    typed = coerce_game_log(set_value(as_text(rows), "FG3_PCT", 2, "NaN"), "player", "x.csv")
    assert typed["FG3_PCT"][1] is None
