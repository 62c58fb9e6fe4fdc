"""Bad input fails with a message that names the file, column and row, and loses nothing stored."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from statmuse_pipelines.execution import failure_message
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.exports import edit_csv, write_exports
from tests.dagster.helpers import check_evaluations, run_range

FIRST, LAST = date(2024, 10, 22), date(2024, 10, 24)
DAYS = [FIRST + timedelta(days=i) for i in range(3)]
TABLES = ("raw_player_game_logs", "raw_team_game_logs", "player_game_stats", "team_game_stats")


@pytest.fixture
def stored(home, tmp_path):
    """A files source with three good days already ingested."""
    exports = write_exports(tmp_path / "exports", FIRST, LAST)
    settings = Settings(home=home, source="files", files_dir=exports)
    assert run_range(settings, FIRST, LAST).success
    return settings, exports


def snapshot(settings: Settings) -> tuple[dict, list]:
    lake = LakeResource(root=str(settings.lake_dir))
    files = {(t, d): lake.path(t, d).read_bytes() for t in TABLES for d in DAYS}
    wh = WarehouseResource(path=str(settings.warehouse_path))
    rows = wh.query("SELECT * FROM player_game_stats ORDER BY game_id, player_id").rows()
    return files, rows


def player_csv(exports: Path, day: date) -> Path:
    return exports / "player_game_logs" / f"{day.isoformat()}.csv"


def drop_column(path: Path, column: str) -> None:
    lines = [line.split(",") for line in path.read_text().splitlines()]
    i = lines[0].index(column)
    path.write_text("\n".join(",".join(c[:i] + c[i + 1 :]) for c in lines) + "\n")


def duplicate_row(path: Path, row: int) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[row]]) + "\n")


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda p: edit_csv(p, 5, "PTS", "abc"), ["column PTS", "row 5", "not a number", "'abc'"]),
        (lambda p: drop_column(p, "REB"), ["missing column(s) REB"]),
        (lambda p: duplicate_row(p, 2), ["duplicate rows", "PLAYER_ID"]),
        (
            lambda p: edit_csv(p, 7, "GAME_DATE", "23.10.2024"),
            ["column GAME_DATE", "row 7", "unknown date format"],
        ),
    ],
    ids=["non-numeric", "missing-column", "duplicate-rows", "date-format"],
)
def test_bad_file_fails_naming_it_and_keeps_what_was_stored(stored, corrupt, expected):
    settings, exports = stored
    before = snapshot(settings)
    path = player_csv(exports, date(2024, 10, 23))
    corrupt(path)
    result = run_range(settings, FIRST, LAST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert str(path) in message
    for part in expected:
        assert part in message, message
    assert snapshot(settings) == before


def test_a_blocking_check_stops_bad_rows_before_they_are_stored(stored):
    settings, exports = stored
    before = snapshot(settings)
    # well-formed but inconsistent: points that do not add up
    original = player_csv(exports, date(2024, 10, 23)).read_text()
    edit_csv(player_csv(exports, date(2024, 10, 23)), 3, "PTS", "99")
    result = run_range(settings, FIRST, LAST, raise_on_error=False)
    assert not result.success
    evaluations = check_evaluations(result)
    assert evaluations["player_game_stats.points_add_up"] is False
    assert evaluations["player_game_stats.rebounds_add_up"] is True
    assert "team_game_stats" not in {
        e.step_key for e in result.all_events if e.event_type_value == "STEP_START"
    }
    message = failure_message(result)
    assert "points_add_up" in message and "previous copy of 3 day(s) restored" in message
    # every stored file is as it was, the raw audit copies included (the last accepted answer);
    # the rejected answer is kept beside them for a person to look at
    assert snapshot(settings) == before
    lake = LakeResource(root=str(settings.lake_dir))
    rejected = lake.table_dir("raw_player_game_logs") / "rejected" / "date=2024-10-23.parquet"
    assert (
        rejected.exists()
        and rejected.read_bytes() != before[0][("raw_player_game_logs", date(2024, 10, 23))]
    )
    # the good file again: accepted, and no previous copy is left behind
    player_csv(exports, date(2024, 10, 23)).write_text(original)
    assert run_range(settings, FIRST, LAST).success
    assert not list((lake.table_dir("raw_player_game_logs") / "previous").glob("*.parquet"))


def team_csv(exports: Path, day: date) -> Path:
    return exports / "team_game_logs" / f"{day.isoformat()}.csv"


def header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


@pytest.mark.parametrize(
    "empty", [header_only, lambda p: p.unlink()], ids=["header-only-csv", "missing-file"]
)
def test_an_empty_answer_for_a_stored_day_keeps_its_rows(stored, empty):
    settings, exports = stored
    before = snapshot(settings)
    day = date(2024, 10, 23)
    for path in (player_csv(exports, day), team_csv(exports, day)):
        empty(path)
    result = run_range(settings, FIRST, LAST)
    assert result.success
    # the stored day is as it was, and a WARN says why
    assert snapshot(settings) == before
    evaluations = check_evaluations(result)
    assert evaluations["raw_player_game_logs.empty_answers_keep_stored_days"] is False
    assert evaluations["raw_team_game_logs.empty_answers_keep_stored_days"] is False
    # a deliberate deletion is asked for
    replace = {"replace_empty_days": True}
    ops = {"raw_player_game_logs": {"config": replace}, "raw_team_game_logs": {"config": replace}}
    assert run_range(settings, FIRST, LAST, run_config={"ops": ops}).success
    wh = WarehouseResource(path=str(settings.warehouse_path))
    left = wh.query("SELECT count(*) AS n FROM player_game_stats WHERE game_date = ?", [day])
    assert left["n"][0] == 0


def test_a_phantom_player_row_is_stopped_before_either_table_is_written(stored):
    settings, exports = stored
    before = snapshot(settings)
    path = player_csv(exports, date(2024, 10, 23))
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    phantom = lines[1].split(",")
    # a well-formed row of a player the team box score does not know: every check of the row
    # alone passes, the team totals do not
    phantom[header.index("PLAYER_ID")] = "999999999"
    phantom[header.index("PLAYER_NAME")] = "Phantom Player"
    path.write_text("\n".join([*lines, ",".join(phantom)]) + "\n")
    result = run_range(settings, FIRST, LAST, raise_on_error=False)
    assert not result.success
    evaluations = check_evaluations(result)
    assert evaluations["player_game_stats.player_totals_match_team_totals"] is False
    assert evaluations["player_game_stats.points_add_up"] is True
    _, rows = snapshot(settings)
    assert rows == before[1]
    lake = LakeResource(root=str(settings.lake_dir))
    for table in ("player_game_stats", "team_game_stats"):
        for d in DAYS:
            assert lake.path(table, d).read_bytes() == before[0][(table, d)]


def test_an_unreadable_file_is_reported_with_its_name_not_the_library_error(stored):
    settings, exports = stored
    path = player_csv(exports, date(2024, 10, 23))
    path.write_bytes(b"")  # zero bytes: the CSV reader's own error names no file
    result = run_range(settings, FIRST, LAST, raise_on_error=False)
    message = failure_message(result)
    assert str(path) in message and "nothing was written" in message, message
    assert not message.split(": ", 2)[1].startswith("NoDataError"), message
