"""Training datasets: twelve targets, split by date, versioned by content."""

import polars as pl
import pytest

from statmuse_pipelines.core import checks
from statmuse_pipelines.core.datasets import (
    TARGETS,
    Dataset,
    build_dataset,
    build_datasets,
    split_by_date,
    target_feature_names,
)
from statmuse_pipelines.core.features import build_features, feature_names
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.synthetic.simulate import simulate_season


@pytest.fixture(scope="module")
def inputs():
    box = simulate_season(7, 2024)
    games = normalize_player_logs(box.player_logs)
    teams = normalize_team_logs(box.team_logs)
    return build_features(games, teams, games), games


def test_twelve_targets():
    assert list(TARGETS) == [
        "PTS", "REB", "AST", "FG3M", "STL", "BLK", "TOV", "PRA", "PR", "PA", "RA", "STL_BLK",
    ]  # fmt: skip


def test_split_is_by_date_70_15_15(inputs):
    features, _ = inputs
    train, val, test = split_by_date(features)
    assert train.height + val.height + test.height == features.height
    assert train["game_date"].max() < val["game_date"].min()
    assert val["game_date"].max() < test["game_date"].min()
    share = [f.height / features.height for f in (train, val, test)]
    assert share[0] == pytest.approx(0.70, abs=0.01)
    assert share[1] == pytest.approx(0.15, abs=0.01)
    assert share[2] == pytest.approx(0.15, abs=0.01)


def test_combo_targets_and_their_features(inputs):
    features, games = inputs
    ds = build_dataset(features, games, "PRA", "test", "2026-01-01T00:00:00")
    rows = pl.concat(list(ds.splits().values()))
    joined = rows.join(games, on=["player_id", "game_id"])
    assert (joined["target"] == joined["pts"] + joined["reb"] + joined["ast"]).all()
    assert (
        (
            rows["target_mean_5"] - (rows["pts_mean_5"] + rows["reb_mean_5"] + rows["ast_mean_5"])
        ).abs()
        < 1e-3
    ).all()
    assert set(rows.columns) >= {*feature_names(), *target_feature_names("PRA"), "target"}
    manifest = ds.manifest
    assert manifest["rows"] == {
        "train": ds.train.height,
        "val": ds.val.height,
        "test": ds.test.height,
    }
    assert manifest["cutoffs"]["train_end"] < manifest["cutoffs"]["val_start"]
    assert manifest["target_definition"] == "pts + reb + ast"
    assert len(manifest["features"]) == len(feature_names()) + len(target_feature_names("PRA"))


def test_version_depends_on_content_and_settings_not_on_time(inputs):
    features, games = inputs
    a = build_dataset(features, games, "PTS", "x", "2026-01-01T00:00:00")
    b = build_dataset(features, games, "PTS", "y", "2026-02-02T00:00:00")
    assert a.version == b.version
    # the same rows in many pieces (as read from one file per day) hash the same
    pieces = pl.concat(
        [features.slice(i, 997) for i in range(0, features.height, 997)], rechunk=False
    )
    assert pieces.n_chunks() > 1
    assert build_dataset(pieces, games, "PTS", "x", "t").version == a.version
    changed = games.with_columns(
        pl.when(pl.int_range(pl.len()) == 100)
        .then(pl.col("pts") + 1)
        .otherwise(pl.col("pts"))
        .alias("pts")
    )
    assert build_dataset(features, changed, "PTS", "x", "t").version != a.version
    assert build_dataset(features, games, "PTS", "x", "t", (0.6, 0.2, 0.2)).version != a.version
    assert build_dataset(features, games, "REB", "x", "t").version != a.version


def test_dataset_checks_catch_overlap_duplicates_and_bad_targets(inputs):
    features, games = inputs
    ds = build_dataset(features, games, "AST", "x", "t")
    assert all(o.passed for o in checks.dataset_checks(ds))
    overlap = Dataset("AST", ds.train, pl.concat([ds.train.tail(5), ds.val]), ds.test, ds.manifest)
    outcomes = {o.name: o for o in checks.dataset_checks(overlap)}
    assert not outcomes["splits_do_not_overlap"].passed
    assert not outcomes["no_duplicate_player_games"].passed
    negative = Dataset(
        "AST", ds.train.with_columns(pl.col("target") - 100), ds.val, ds.test, ds.manifest
    )
    outcomes = {o.name: o for o in checks.dataset_checks(negative)}
    assert not outcomes["target_present_and_non_negative"].passed


def test_the_twelve_built_together_are_each_built_alone(inputs):
    """One join, order and split for all targets gives every target the frames and version it
    has built alone, row for row (shuffled inputs: the order comes from the build)."""
    features, games = inputs
    together = build_datasets(features.sample(fraction=1.0, shuffle=True, seed=3),
                              games.sample(fraction=1.0, shuffle=True, seed=4),
                              list(TARGETS), "s", "t")  # fmt: skip
    for target in ("PTS", "FG3M", "PRA", "STL_BLK"):
        alone = build_dataset(features, games, target, "s", "t")
        assert together[target].version == alone.version
        assert together[target].manifest == alone.manifest
        for split, frame in alone.splits().items():
            assert together[target].splits()[split].equals(frame), (target, split)
    assert list(together) == list(TARGETS)
    with pytest.raises(ValueError, match="unknown target 'XYZ'"):
        build_datasets(features, games, ["PTS", "XYZ"], "s", "t")
