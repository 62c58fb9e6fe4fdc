"""Features and datasets through Dagster: the lake, the warehouse, the checks, re-runs."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.automation.jobs import range_tags
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.conftest import TODAY
from tests.dagster.helpers import QUIET, check_evaluations, run_range

FIRST, LAST = date(2025, 10, 19), date(2025, 11, 9)


@pytest.fixture
def built(home):
    """Three weeks of the 2025-26 synthetic season (and no 2024-25: a cold history)."""
    settings = Settings(home=home, source="synthetic", seasons=2, today=TODAY)
    assert run_range(settings, FIRST, LAST).success
    return settings


def run_datasets(settings: Settings, instance=None) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("build_training_datasets_job")
    keys = list(TARGETS)
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=range_tags(keys[0], keys[-1]),
        run_config=QUIET,
    )


def test_features_cover_every_player_game_and_pass_their_checks(built):
    lake = LakeResource(root=str(built.lake_dir))
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    features = lake.read_days("player_features", days)
    games = lake.read_days("player_game_stats", days)
    assert features.height == games.height > 0
    assert (
        features["history_last_date"].drop_nulls()
        < features.filter(pl.col("history_last_date").is_not_null())["game_date"]
    ).all()
    wh = WarehouseResource(path=str(built.warehouse_path))
    assert wh.query("SELECT count(*) AS n FROM player_features")["n"][0] == features.height
    comment = wh.query(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'player_features' "
        "AND column_name = 'pts_ewm'"
    )["comment"][0]
    assert "exponentially weighted" in comment


def test_a_single_day_run_gives_what_the_range_run_gave(built):
    lake = LakeResource(root=str(built.lake_dir))
    day = date(2025, 11, 5)
    before = lake.read_days("player_features", [day])
    assert run_range(built, day, day).success
    assert lake.read_days("player_features", [day]).equals(before)


def test_datasets_are_written_versioned_and_stable(built):
    first = run_datasets(built)
    assert first.success
    evaluations = check_evaluations(first)
    assert {k for k in evaluations if k.startswith("training_datasets")} == {
        "training_datasets.splits_do_not_overlap",
        "training_datasets.every_split_has_rows",
        "training_datasets.no_duplicate_player_games",
        "training_datasets.target_present_and_non_negative",
    }
    assert all(evaluations.values())
    lake = LakeResource(root=str(built.lake_dir))
    versions = {t: lake.read_manifest(t)["version"] for t in TARGETS}
    assert len(set(versions.values())) == 12
    for t in TARGETS:
        manifest = lake.read_manifest(t)
        folder = lake.dataset_dir(t, manifest["version"])
        assert {p.name for p in folder.iterdir()} == {
            "train.parquet",
            "val.parquet",
            "test.parquet",
            "manifest.json",
        }
        splits = lake.read_dataset(t)
        assert {k: v.height for k, v in splits.items()} == manifest["rows"]
    created = lake.read_manifest("PTS")["created_at"]

    again = run_datasets(built)
    mats = {
        m.partition: m.metadata for m in again.asset_materializations_for_node("training_datasets")
    }
    assert {t: mats[t]["version"].value for t in TARGETS} == versions
    assert not any(mats[t]["new_version"].value for t in TARGETS)
    assert lake.read_manifest("PTS")["created_at"] == created
    wh = WarehouseResource(path=str(built.warehouse_path))
    table = wh.query("SELECT target, version, is_latest, rows_train FROM datasets ORDER BY target")
    assert table.height == 12 and table["is_latest"].all()
    assert dict(zip(table["target"], table["version"], strict=True)) == versions


def test_new_games_make_a_new_version_and_keep_the_old_one(built):
    assert run_datasets(built).success
    lake = LakeResource(root=str(built.lake_dir))
    old = lake.read_manifest("REB")["version"]
    assert run_range(built, LAST + timedelta(days=1), LAST + timedelta(days=3)).success
    assert run_datasets(built).success
    new = lake.read_manifest("REB")["version"]
    assert new != old and lake.read_manifest("REB", old) is not None
    wh = WarehouseResource(path=str(built.warehouse_path))
    rows = wh.query("SELECT version, is_latest FROM datasets WHERE target = 'REB'")
    assert dict(zip(rows["version"], rows["is_latest"], strict=True)) == {old: False, new: True}
