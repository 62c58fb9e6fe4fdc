"""The files source on the real NBA exports in ../shared/data/nba."""

from datetime import date

import polars as pl
import pytest

from statmuse_pipelines.core import checks
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.seasons import season_bounds
from statmuse_pipelines.resources.sources import FilesGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import check_evaluations, run_range

pytestmark = pytest.mark.integration

# the per-season table of ../shared/data/nba/README.md
EXPECTED = {
    "2015-16": (26078, 1230),
    "2016-17": (26139, 1230),
    "2017-18": (26107, 1230),
    "2018-19": (26101, 1230),
    "2019-20": (20501, 971),
    "2020-21": (23054, 1080),
    "2021-22": (26039, 1230),
    "2022-23": (25895, 1230),
    "2023-24": (26401, 1230),
}


@pytest.fixture(scope="module")
def normalized(real_data):
    source = FilesGameLogSource(directory=str(real_data))
    start, end = date(2015, 10, 1), date(2024, 4, 30)
    players = normalize_player_logs(source.fetch("player", start, end))
    teams = normalize_team_logs(source.fetch("team", start, end))
    return players, teams


def test_every_season_has_exactly_the_documented_rows(normalized):
    players, _ = normalized
    per_season = players.group_by("season").agg(pl.len(), pl.col("game_id").n_unique())
    got = {r[0]: (r[1], r[2]) for r in per_season.iter_rows()}
    assert got == EXPECTED
    assert players.height == 226_315


def test_no_duplicates_and_every_check_passes(normalized):
    players, teams = normalized
    assert players.select(pl.struct("player_id", "game_id").is_duplicated().sum()).item() == 0
    for outcome in checks.player_game_checks(players, teams) + checks.team_game_checks(
        teams, players
    ):
        assert outcome.passed, (outcome.name, outcome.description)
    # team logs keep the regular season, play-in and playoffs; exhibitions are gone
    assert set(teams["season_type"].unique()) == {"Regular Season", "PlayIn", "Playoffs"}


@pytest.mark.parametrize("mode", ["player", "team"])
def test_season_windows_partition_the_rows(real_data, mode):
    """Fetching season by season (as the CLI's runs do) gives the same rows as one fetch, the
    2020 bubble (2019-20 games from July to October 2020) included."""
    source = FilesGameLogSource(directory=str(real_data))
    once = source.fetch(mode, date(2015, 7, 1), date(2024, 6, 30))
    chunks = pl.concat([source.fetch(mode, *season_bounds(int(label[:4]))) for label in EXPECTED])
    assert chunks.height == once.height
    assert chunks.sort("GAME_ID", chunks.columns[1]).equals(once.sort("GAME_ID", once.columns[1]))
    if mode == "player":
        assert once.height == 226_315
    else:
        bubble = once.filter(pl.col("GAME_DATE").is_between(date(2020, 7, 1), date(2020, 10, 31)))
        assert bubble.height > 300


def test_a_real_fortnight_through_dagster(real_data, home):
    settings = Settings(home=home, source="files", files_dir=real_data)
    result = run_range(settings, date(2023, 10, 20), date(2023, 11, 5))
    assert result.success
    evaluations = check_evaluations(result)
    assert evaluations and all(evaluations.values()), evaluations
    wh = WarehouseResource(path=str(settings.warehouse_path))
    got = wh.query("SELECT count(*) AS n, min(game_date) AS first FROM player_game_stats").row(
        0, named=True
    )
    expected = pl.read_parquet(real_data / "player_game_logs" / "season=2023-24.parquet").filter(
        pl.col("GAME_DATE") <= "2023-11-05"
    )
    assert got["n"] == expected.height
    assert got["first"] == date(2023, 10, 24)
