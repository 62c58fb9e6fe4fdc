"""The files source: folders of nba_api exports, CSV or parquet, per season or per date."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from statmuse_pipelines.core.files import discover, load_range, name_window
from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.synthetic.simulate import simulate_season


@pytest.fixture(scope="module")
def season():
    return simulate_season(7, 2024)


def write_per_date_csv(root: Path, frame: pl.DataFrame, folder: str) -> None:
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    for (day,), part in frame.partition_by("GAME_DATE", as_dict=True).items():
        part.write_csv(out / f"{day.isoformat()}.csv")


def write_per_season_parquet(root: Path, frame: pl.DataFrame, folder: str) -> None:
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out / "season=2024-25.parquet")


def test_csv_per_date_and_parquet_per_season_give_the_same_rows(tmp_path, season):
    first_week = season.player_logs.filter(pl.col("GAME_DATE") < date(2024, 11, 1))
    write_per_date_csv(tmp_path / "a", first_week, "player_game_logs")
    write_per_season_parquet(tmp_path / "b", season.player_logs, "player_game_logs")
    start, end = date(2024, 10, 20), date(2024, 10, 31)
    a = load_range(tmp_path / "a", "player", start, end)
    b = load_range(tmp_path / "b", "player", start, end)
    assert a.height == first_week.height > 0
    assert a.equals(b)


def test_file_names_prune_what_is_opened(tmp_path):
    # a season file may hold games after June 30 (the 2020 bubble ran to October)
    assert name_window(Path("season=2019-20.parquet")) == (date(2019, 7, 1), date(2020, 12, 31))
    assert name_window(Path("2024-01-05.csv")) == (date(2024, 1, 5), date(2024, 1, 5))
    assert name_window(Path("player_logs.csv")) is None
    # a broken file outside the requested season is never opened
    folder = tmp_path / "player_game_logs"
    folder.mkdir()
    (folder / "season=2019-20.csv").write_text("not,a,game,log\n1,2,3\n")
    assert load_range(tmp_path, "player", date(2024, 10, 1), date(2024, 10, 31)).height == 0


def test_identical_rows_in_two_files_collapse(tmp_path, season):
    day = season.player_logs.filter(pl.col("GAME_DATE") == date(2024, 10, 22))
    write_per_date_csv(tmp_path, day, "player_game_logs")
    day.write_parquet(tmp_path / "player_game_logs" / "reexport.parquet")
    out = load_range(tmp_path, "player", date(2024, 10, 22), date(2024, 10, 22))
    assert out.height == day.height


def test_conflicting_rows_in_two_files_name_both_files(tmp_path, season):
    day = season.player_logs.filter(pl.col("GAME_DATE") == date(2024, 10, 22))
    write_per_date_csv(tmp_path, day, "player_game_logs")
    corrected = day.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("STL") + 1)
        .otherwise(pl.col("STL"))
        .alias("STL")
    )
    corrected.write_parquet(tmp_path / "player_game_logs" / "corrections.parquet")
    with pytest.raises(GameLogError) as err:
        load_range(tmp_path, "player", date(2024, 10, 22), date(2024, 10, 22))
    assert "2024-10-22.csv" in str(err.value) and "corrections.parquet" in str(err.value)
    assert "different values" in str(err.value)


def test_bad_csv_names_file_column_and_row(tmp_path, season):
    day = season.player_logs.filter(pl.col("GAME_DATE") == date(2024, 10, 22))
    write_per_date_csv(tmp_path, day, "player_game_logs")
    path = tmp_path / "player_game_logs" / "2024-10-22.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[5].split(",")
    cells[header.index("FGA")] = "n/a"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GameLogError) as err:
        load_range(tmp_path, "player", date(2024, 10, 22), date(2024, 10, 22))
    assert str(path) in str(err.value)
    assert (err.value.column, err.value.row, err.value.value) == ("FGA", 5, "n/a")


def test_missing_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(GameLogError, match="player_game_logs/ and team_game_logs/"):
        discover(tmp_path, "player")


def test_unreadable_parquet_names_the_file(tmp_path):
    folder = tmp_path / "team_game_logs"
    folder.mkdir()
    (folder / "season=2024-25.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(GameLogError, match=r"season=2024-25\.parquet: cannot read the file"):
        load_range(tmp_path, "team", date(2024, 10, 1), date(2024, 10, 31))


def test_a_row_in_another_days_file_is_an_error_whatever_the_range(tmp_path):
    from datetime import date

    import pytest

    from statmuse_pipelines.core.files import load_range
    from statmuse_pipelines.core.gamelog import GameLogError
    from tests.dagster.exports import write_exports

    root = write_exports(tmp_path / "x", date(2024, 10, 22), date(2024, 10, 24))
    day23 = root / "player_game_logs" / "2024-10-23.csv"
    lines = day23.read_text().splitlines()
    header = lines[0].split(",")
    moved = lines[3].split(",")
    moved[header.index("GAME_DATE")] = "2024-10-24"
    day23.write_text("\n".join([*lines[:3], ",".join(moved), *lines[4:]]) + "\n")
    for start, end in ((date(2024, 10, 22), date(2024, 10, 24)), (date(2024, 10, 23),) * 2):
        with pytest.raises(GameLogError) as err:
            load_range(root, "player", start, end)
        text = str(err.value)
        assert str(day23) in text and "column GAME_DATE, row 3" in text
        assert "dated 2024-10-24, not 2024-10-23" in text
