"""A combo (PR = PTS + REB) built from its parts' models: what it predicts, how it is measured."""

import numpy as np
import pytest

from statmuse_pipelines.core.datasets import PART_TARGETS, TARGETS, build_dataset
from statmuse_pipelines.core.features import KEYS, build_features
from statmuse_pipelines.core.models import BASELINES, POOLED, TrainingSettings, train_stat
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.registry import (
    SumOfParts,
    combo_version,
    compose_stat,
    evaluation_model,
    is_sum_of_parts,
    manifest_of,
)
from statmuse_pipelines.core.synthetic.simulate import simulate_season

SMALL = TrainingSettings(
    min_games=30, max_players=4, pooled_trials=0, player_trials=0, stacking_folds=2, champion_z=0
)


@pytest.fixture(scope="module")
def built():
    box = simulate_season(7, 2024)
    games = normalize_player_logs(box.player_logs)
    teams = normalize_team_logs(box.team_logs)
    features = build_features(games, teams, games)
    data = {t: build_dataset(features, games, t, "test", "t") for t in ("PTS", "REB", "PR")}
    parts = {t: train_stat(t, data[t].splits(), data[t].version, SMALL) for t in ("PTS", "REB")}
    version = combo_version("PR", data["PR"].version, {p: t.version for p, t in parts.items()})
    model = SumOfParts(
        "PR", version, "evaluation", {p: evaluation_model(t) for p, t in parts.items()}
    )
    manifests = {p: manifest_of(t, "t") for p, t in parts.items()}
    manifest, metrics = compose_stat("PR", data["PR"].splits(), data["PR"].version, model,
                                     manifests, SMALL, "t")  # fmt: skip
    return data, parts, model, manifest, metrics


def test_every_combo_names_single_stat_parts():
    assert PART_TARGETS["PRA"] == ("PTS", "REB", "AST")
    assert PART_TARGETS["STL_BLK"] == ("STL", "BLK")
    for combo, parts in PART_TARGETS.items():
        assert all(len(TARGETS[p]) == 1 for p in parts)
        assert tuple(TARGETS[p][0] for p in parts) == TARGETS[combo]
    assert set(PART_TARGETS) == {t for t, parts in TARGETS.items() if len(parts) > 1}


def test_the_combo_predicts_the_sum_of_its_parts_champions_on_the_same_rows(built):
    """Each part reads its own target_* features from the combo's rows: the sum equals the
    parts' own predictions on their own datasets, row for row (players with own models too)."""
    data, parts, model, _, _ = built
    assert any(m for m in (t.player_models for t in parts.values())), "no own models to route"
    for split in ("val", "test"):
        frame = data["PR"].splits()[split]
        expected = None
        for trained in parts.values():
            theirs = frame.select(KEYS).join(trained.predictions[split], on=KEYS, how="left")
            expected = theirs["champion"] if expected is None else expected + theirs["champion"]
        np.testing.assert_allclose(model.predict(frame), expected.to_numpy(), rtol=1e-6)


def test_the_combo_is_measured_on_its_own_rows_against_its_own_baselines(built):
    data, parts, model, manifest, metrics = built
    test = data["PR"].test
    actual = test["target"].to_numpy()
    summary = {r["kind"]: r for r in manifest["summary"]["test"]}
    for kind, column in BASELINES.items():
        mae = float(np.mean(np.abs(test[column].to_numpy() - actual)))
        assert summary[kind]["mae"] == pytest.approx(mae)
    champion = float(np.mean(np.abs(model.predict(test) - actual)))
    assert summary["champion"]["mae"] == pytest.approx(champion)
    assert summary["champion"]["rows"] == test.height
    pooled = float(np.mean(np.abs(model.pooled_predict(test) - actual)))
    assert summary[POOLED]["mae"] == pytest.approx(pooled)
    assert set(metrics["version"]) == {manifest["version"]}
    assert is_sum_of_parts(manifest) and manifest["champions"] == {}
    assert {p: m["version"] for p, m in manifest["parts"].items()} == {
        p: t.version for p, t in parts.items()
    }


def test_a_combos_version_follows_its_dataset_and_its_parts(built):
    data, parts, _, manifest, _ = built
    same = combo_version("PR", data["PR"].version, {p: t.version for p, t in parts.items()})
    assert same == manifest["version"]
    other = {"PTS": parts["PTS"].version, "REB": "reb-0000000000"}
    assert combo_version("PR", data["PR"].version, other) != same
    assert combo_version("PR", "another-dataset", {p: t.version for p, t in parts.items()}) != same


def test_a_combo_must_be_given_exactly_its_parts(built):
    data, parts, _, _, _ = built
    only = SumOfParts("PR", "pr-x", "evaluation", {"PTS": evaluation_model(parts["PTS"])})
    with pytest.raises(ValueError, match="PR is PTS \\+ REB"):
        compose_stat("PR", data["PR"].splits(), data["PR"].version, only,
                     {"PTS": manifest_of(parts["PTS"], "t")}, SMALL, "t")  # fmt: skip
