"""Bad input fails with a message that names the file, column and row, and loses nothing stored."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.runs import failure_message
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
    edit_csv(player_csv(exports, date(2024, 10, 23)), 3, "PTS", "99")
    result = run_range(settings, FIRST, LAST, raise_on_error=False)
    assert not result.success
    evaluations = check_evaluations(result)
    assert evaluations["player_game_stats.points_add_up"] is False
    assert evaluations["player_game_stats.rebounds_add_up"] is True
    assert "team_game_stats" not in {
        e.step_key for e in result.all_events if e.event_type_value == "STEP_START"
    }
    assert "points_add_up" in failure_message(result)
    files, rows = snapshot(settings)
    # the audit copy took the new raw rows; nothing downstream of it changed
    assert rows == before[1]
    for table in ("player_game_stats", "team_game_stats"):
        for d in DAYS:
            assert files[(table, d)] == before[0][(table, d)]
