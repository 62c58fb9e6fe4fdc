"""A combo built from its parts through Dagster: trained, gated, served and evaluated as the sum
of its parts' versions (PR = PTS + REB), with its own rows, baselines and promotion."""

from datetime import date

import dagster as dg
import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.registry import ServingModel, SumOfParts
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource
from statmuse_pipelines.resources.sources import SyntheticGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import QUIET

SMALL = {"min_games": 40, "max_players": 3, "pooled_trials": 0, "player_trials": 0,
         "stacking_folds": 2}  # fmt: skip
# the last three weeks, a warm-up fold and one refit per part: enough to sum means fold by fold
WALK = {"ops": {"walk_forward_predictions": {"config": {"warmup_dates": 20,
                                                         "start": "2025-11-24"}}}}  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """PTS, REB and PR datasets of a season and a half of the synthetic league, as
    training_datasets writes them; PR trained first, so its run trains its parts."""
    settings = Settings(home=tmp_path_factory.mktemp("combo_home"), source="synthetic",
                        seasons=2, today=date(2025, 12, 15), lines="proxy")  # fmt: skip
    league = SyntheticGameLogSource(seasons=2, today="2025-12-15")
    start, end = date(2024, 7, 1), date(2025, 12, 14)
    games = normalize_player_logs(league.fetch("player", start, end))
    teams = normalize_team_logs(league.fetch("team", start, end))
    features = build_features(games, teams, games)
    lake = LakeResource(root=str(settings.lake_dir))
    data = {}
    for target in ("PTS", "REB", "PR"):
        data[target] = build_dataset(features, games, target, "synthetic", "t")
        lake.write_dataset(target, data[target].splits(), data[target].manifest)
    instance = dg.DagsterInstance.ephemeral()
    first = _train(settings, instance, "PR")
    assert first.success
    return settings, instance, data, first, (features, games)


def _train(settings, instance, stat, **config):
    job = build_definitions(settings).resolve_job_def("train_models_job")
    return job.execute_in_process(
        instance=instance, partition_key=stat, raise_on_error=False,
        run_config={**QUIET, "ops": {"player_models": {"config": {**SMALL, **config}}}},
    )  # fmt: skip


def _registry(settings) -> ModelRegistry:
    return ModelRegistry(warehouse=WarehouseResource(path=str(settings.warehouse_path)),
                         store=ModelStoreResource(root=str(settings.models_dir)))  # fmt: skip


def _meta(result):
    return result.asset_materializations_for_node("player_models")[0].metadata


def test_a_combos_run_trains_its_parts_and_promotes_only_the_combo(home):
    settings, _, data, first, _ = home
    meta, reg = _meta(first), _registry(settings)
    version = meta["version"].value
    parts = reg.store.manifest("PR", version)["parts"]
    assert list(parts) == ["PTS", "REB"]
    assert meta["built_from"].value == ", ".join(f"{p} {m['version']}" for p, m in parts.items())
    assert meta["stage"].value == "production" and reg.production_version("PR") == version
    # the parts are versions of their own: candidates until their own gates pass
    for part, m in parts.items():
        assert reg.stage(part, m["version"]) == "candidate"
        assert reg.store.has_fit(part, m["version"], "production")  # serving the combo needs it
    rows = reg.warehouse.query(
        "SELECT scope, kind, params FROM model_registry WHERE version = ? AND fit = 'production'",
        [version],
    )
    assert sorted(rows["scope"]) == ["PTS", "REB"] and set(rows["kind"]) == {"part"}
    # served: the sum of the parts' production fits, each reading its own target features
    served = reg.store.load("PR", version, "production")
    assert isinstance(served, SumOfParts)
    test = data["PR"].test
    parts_sum = sum(  # the datasets hold the same rows in the same order
        reg.store.load(p, m["version"], "production").predict(data[p].test)
        for p, m in parts.items()
    )
    np.testing.assert_allclose(served.predict(test), parts_sum, rtol=1e-6)
    # measured on its own rows against its own baselines
    summary = {r["kind"]: r for r in reg.store.manifest("PR", version)["summary"]["test"]}
    actual = test["target"].to_numpy()
    assert summary["champion"]["rows"] == test.height
    last10 = float(np.mean(np.abs(test["target_mean_10"].to_numpy() - actual)))
    assert summary["baseline_last10"]["mae"] == pytest.approx(last10)
    evaluation = reg.store.load("PR", version, "evaluation")
    champion = float(np.mean(np.abs(evaluation.predict(test) - actual)))
    assert summary["champion"]["mae"] == pytest.approx(champion)


def test_a_parts_own_run_reuses_the_version_the_combo_trained(home):
    settings, instance, _, first, _ = home
    parts = _registry(settings).store.manifest("PR", _meta(first)["version"].value)["parts"]
    again = _train(settings, instance, "PTS")
    assert again.success
    meta = _meta(again)
    assert meta["version"].value == parts["PTS"]["version"]
    assert meta["reused_existing_version"].value
    assert meta["stage"].value == "production"  # its own gate promotes it


def test_a_combo_whose_parts_have_other_rows_trains_its_own_and_says_why(home, tmp_path):
    """A combo's dataset rebuilt alone (a retrain of the combo only): its parts' datasets are
    another cut, so summing them would mix rows; it trains models of its own this time."""
    _, _, data, _, (features, games) = home
    other = Settings(home=tmp_path, source="synthetic", seasons=2, today=date(2025, 12, 15),
                     lines="proxy")  # fmt: skip
    lake = LakeResource(root=str(other.lake_dir))
    for target in ("PTS", "PR"):
        lake.write_dataset(target, data[target].splits(), data[target].manifest)
    last = data["REB"].test["game_date"].max()  # REB rebuilt alone, a day short
    fewer = build_dataset(features.filter(pl.col("game_date") < last), games, "REB", "s", "t")
    lake.write_dataset("REB", fewer.splits(), fewer.manifest)
    result = _train(other, dg.DagsterInstance.ephemeral(), "PR")
    assert result.success
    meta = _meta(result)
    assert "built_from" not in meta and meta["pooled_rounds"].value > 0
    why = meta["own_models_because"].value
    assert f"REB has dataset {fewer.version}" in why and "rebuilding the training datasets" in why
    registry = _registry(other)
    assert registry.versions("PTS").height == 0  # no part was trained for it


def test_combos_can_still_have_models_of_their_own(home):
    settings, instance, _, first, _ = home
    # its own models; a gate it cannot pass keeps the sum in production for the tests after
    own = _train(settings, instance, "PR", combos_from_parts=False, promotion_tolerance=-0.5)
    assert own.success
    meta = _meta(own)
    assert meta["version"].value != _meta(first)["version"].value
    assert "built_from" not in meta and meta["pooled_rounds"].value > 0
    model = _registry(settings).store.load("PR", meta["version"].value, "evaluation")
    assert isinstance(model, ServingModel)  # a pooled model and champions of its own


def test_a_combos_walk_forward_sums_its_parts_means(home):
    settings, instance, _, _, _ = home
    _train(settings, instance, "REB")  # promote the other part too, so both are evaluated
    defs = build_definitions(settings)
    results = {
        stat: defs.resolve_job_def("evaluate_models_job").execute_in_process(
            instance=instance, partition_key=stat, run_config={**QUIET, **WALK}
        )
        for stat in ("PTS", "REB", "PR")
    }
    assert all(r.success for r in results.values())
    meta = results["PR"].asset_materializations_for_node("walk_forward_predictions")[0].metadata
    assert meta["means"].value.startswith("PTS reused") and "REB reused" in meta["means"].value
    folder = settings.lake_dir / "walk_forward"
    mu = {  # one mean per player-game (a player-game may be scored at several lines)
        stat: pl.read_parquet(folder / stat / f"{json_version(folder / stat)}.parquet")
        .select("game_date", "player_id", "mu")
        .unique()
        for stat in ("PTS", "REB", "PR")
    }
    keys = ["game_date", "player_id"]
    joined = (
        mu["PR"]
        .join(mu["PTS"].rename({"mu": "pts"}), on=keys)
        .join(mu["REB"].rename({"mu": "reb"}), on=keys)
    )
    assert joined.height == mu["PR"].height > 0
    np.testing.assert_allclose(joined["mu"], joined["pts"] + joined["reb"], rtol=1e-6)


def json_version(folder):
    import json

    return json.loads((folder / "latest.json").read_text())["model_version"]
