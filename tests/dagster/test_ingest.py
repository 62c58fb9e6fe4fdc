"""Ingest and normalize a week of the synthetic league through Dagster."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.conftest import TODAY
from tests.dagster.helpers import check_evaluations, run_range

FIRST, LAST = date(2025, 10, 19), date(2025, 10, 25)  # opening night 2025-10-21
DAYS = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


@pytest.fixture
def settings(home):
    return Settings(home=home, source="synthetic", seasons=1, today=TODAY)


def test_a_range_is_one_run_writing_one_file_per_day(settings):
    result = run_range(settings, FIRST, LAST)
    assert result.success
    # a single run materialized every partition of every asset
    for asset in (
        "raw_player_game_logs",
        "raw_team_game_logs",
        "player_game_stats",
        "team_game_stats",
    ):
        keys = {m.partition for m in result.asset_materializations_for_node(asset)}
        assert keys == {d.isoformat() for d in DAYS}, asset
    lake = LakeResource(root=str(settings.lake_dir))
    for table in ("raw_player_game_logs", "player_game_stats", "team_game_stats"):
        assert lake.stored_days(table) == DAYS
    # days before opening night have empty files and say 0 games
    assert pl.read_parquet(lake.path("player_game_stats", FIRST)).height == 0
    stats = lake.read_days("player_game_stats", DAYS)
    raw = lake.read_days("raw_player_game_logs", DAYS)
    assert stats.height == raw.height > 500
    # every check ran and passed
    evaluations = check_evaluations(result)
    assert len(evaluations) == 2 + 7 + 8 + 4 and all(evaluations.values())
    # the warehouse holds exactly the lake's rows
    wh = WarehouseResource(path=str(settings.warehouse_path))
    in_wh = wh.query("SELECT * FROM player_game_stats ORDER BY game_id, player_id")
    assert in_wh.equals(stats.sort("game_id", "player_id"))
    assert (
        wh.query("SELECT count(*) AS n FROM team_game_stats")["n"][0]
        == stats["game_id"].n_unique() * 2
    )
    mats = {
        m.partition: m.metadata for m in result.asset_materializations_for_node("player_game_stats")
    }
    meta = mats[LAST.isoformat()]
    assert meta["run_rows"].value == stats.height
    assert meta["run_days_without_games"].value == 2
    preview = meta["preview"]  # a table the UI lays out, not markdown
    assert "game_id" in [c.name for c in preview.schema.columns]
    assert len(preview.records) == min(10, stats.height)
    # the run's preview is on its last date's event only (one per date would be serialized
    # hundreds of times in a season's run)
    for asset in ("raw_player_game_logs", "player_game_stats", "player_features"):
        with_preview = [m.partition for m in result.asset_materializations_for_node(asset)
                        if "preview" in m.metadata]  # fmt: skip
        assert with_preview == [LAST.isoformat()], asset
    # each partition's event carries its own counts
    for day in DAYS:
        rows = stats.filter(pl.col("game_date") == day)
        assert mats[day.isoformat()]["dagster/row_count"].value == rows.height
        assert mats[day.isoformat()]["games"].value == rows["game_id"].n_unique()


def test_a_day_without_games_says_zero_games(settings):
    result = run_range(settings, FIRST, FIRST)
    meta = result.asset_materializations_for_node("raw_player_game_logs")[0].metadata
    assert meta["games"].value == 0 and meta["dagster/row_count"].value == 0
    assert meta["run_days_without_games"].value == 1


def test_rerunning_partitions_gives_the_same_result(settings):
    run_range(settings, FIRST, LAST)
    lake = LakeResource(root=str(settings.lake_dir))
    wh = WarehouseResource(path=str(settings.warehouse_path))
    before = lake.read_days("player_game_stats", DAYS)
    count = wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0]
    # a re-run of an overlapping range, then of a single day
    run_range(settings, date(2025, 10, 22), LAST)
    run_range(settings, date(2025, 10, 23), date(2025, 10, 23))
    assert lake.read_days("player_game_stats", DAYS).equals(before)
    assert wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0] == count
    dupes = wh.query(
        "SELECT player_id, game_id FROM player_game_stats GROUP BY ALL HAVING count(*) > 1"
    )
    assert dupes.height == 0


def test_runs_are_recorded_in_the_instance(settings, home):
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        run_range(settings, FIRST, LAST, instance=instance)
        records = instance.fetch_materializations(
            dg.AssetKey("player_game_stats"), limit=100
        ).records
        assert {r.partition_key for r in records} == {d.isoformat() for d in DAYS}


def test_an_earlier_week_backfilled_after_a_later_one_says_the_later_features_are_stale(settings):
    week2 = (date(2025, 10, 26), date(2025, 11, 1))
    assert run_range(settings, *week2).success
    earlier = run_range(settings, FIRST, LAST)
    assert earlier.success
    assert check_evaluations(earlier)["player_features.later_features_are_current"] is False
    # materializing the later week again brings its features up to date
    again = run_range(settings, *week2)
    assert check_evaluations(again)["player_features.later_features_are_current"] is True


def test_the_slate_is_stored_per_day_and_an_empty_answer_keeps_it(settings):
    """daily_slate stores the source's schedule, one file per day; a schedule that comes back
    empty for a day with a stored slate keeps it (WARN), as box scores do."""
    import dagster as dg

    from statmuse_pipelines.assets.ingest import daily_slate
    from statmuse_pipelines.automation.jobs import range_tags
    from statmuse_pipelines.resources.factory import build_resources
    from statmuse_pipelines.resources.sources import SyntheticGameLogSource

    class NoGames(SyntheticGameLogSource):
        def schedule(self, start, end):
            return super().schedule(start, end).clear()

    resources = build_resources(settings)
    tags = range_tags(FIRST.isoformat(), LAST.isoformat())
    result = dg.materialize([daily_slate], resources=resources, tags=tags)
    lake = LakeResource(root=str(settings.lake_dir))
    stored = lake.read_days("daily_slate", DAYS)
    expected = resources["game_logs"].schedule(FIRST, LAST)
    assert lake.stored_days("daily_slate") == DAYS
    assert stored.equals(expected.select(stored.columns)) and stored.height > 5
    assert all(check_evaluations(result).values())
    empty = {**resources, "game_logs": NoGames(seasons=1, today=TODAY.isoformat())}
    again = dg.materialize([daily_slate], resources=empty, tags=tags)
    assert lake.read_days("daily_slate", DAYS).equals(stored)
    assert check_evaluations(again) == {"daily_slate.empty_answers_keep_stored_days": False}
