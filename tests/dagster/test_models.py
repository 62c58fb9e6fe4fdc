"""player_models through Dagster: training, the promotion gate, the registry, the CLI."""

import dataclasses
import shutil
from datetime import date

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.cli import main
from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource, RegistryError
from statmuse_pipelines.resources.sources import SyntheticGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import QUIET

SMALL = {
    "min_games": 15,
    "max_players": 3,
    "pooled_trials": 0,
    "player_trials": 0,
    "stacking_folds": 2,
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The PTS dataset of a season and a half of the synthetic league, written to the lake as
    training_datasets writes it (built with the core functions: the stages before are tested
    elsewhere, and Dagster's per-partition events would make this fixture slow)."""
    return _pipeline(tmp_path_factory.mktemp("models_home"))


def _pipeline(home):
    settings = Settings(home=home, source="synthetic", seasons=2, today=date(2025, 12, 15))
    league = SyntheticGameLogSource(seasons=2, today="2025-12-15")
    start, end = date(2024, 7, 1), date(2025, 12, 14)
    games = normalize_player_logs(league.fetch("player", start, end))
    teams = normalize_team_logs(league.fetch("team", start, end))
    features = build_features(games, teams, games)
    ds = build_dataset(features, games, "PTS", league.describe(), "2025-12-15T06:00:00")
    LakeResource(root=str(settings.lake_dir)).write_dataset("PTS", ds.splits(), ds.manifest)
    return settings, dg.DagsterInstance.ephemeral()


def train(settings, instance, stat, **config):
    job = build_definitions(settings).resolve_job_def("train_models_job")
    return job.execute_in_process(
        instance=instance,
        partition_key=stat,
        run_config={**QUIET, "ops": {"player_models": {"config": {**SMALL, **config}}}},
        raise_on_error=False,
    )


def registry(settings) -> ModelRegistry:
    return ModelRegistry(
        warehouse=WarehouseResource(path=str(settings.warehouse_path)),
        store=ModelStoreResource(root=str(settings.models_dir)),
    )


def gate(result) -> dg.AssetCheckEvaluation:
    [ev] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return ev


def test_train_gate_promote_reuse_and_keep_a_candidate(pipeline, capsys):
    settings, instance = pipeline
    first = train(settings, instance, "PTS")
    assert first.success, gate(first).description
    meta = first.asset_materializations_for_node("player_models")[0].metadata
    version = meta["version"].value
    assert meta["stage"].value == "production"
    summary = meta["test_champion_vs_baselines"]
    assert "champion" in [v for r in summary.records for v in r.data.values()]
    mae = {r.data["kind"]: r.data["mae"] for r in summary.records}
    best = min(v for k, v in mae.items() if k.startswith("baseline_"))
    assert meta["test_mae_champion"].value == mae["champion"]  # a float the Plots tab charts
    assert meta["test_mae_best_baseline"].value == best
    assert "feature" in [c.name for c in meta["pooled_feature_importance"].schema.columns]
    ev = gate(first)
    assert ev.passed and ev.partition == "PTS" and "promoted" in ev.description
    reg = registry(settings)
    assert reg.production_version("PTS") == version
    store = reg.store
    assert store.has_fit("PTS", version, "evaluation") and store.has_fit(
        "PTS", version, "production"
    )
    assert (store.version_dir("PTS", version) / "production" / "pooled.json").exists()
    served = store.load("PTS", version, "production")
    assert (
        served.predict(
            pl.read_parquet(
                next((settings.lake_dir / "training_datasets" / "PTS").glob("*/test.parquet"))
            )
        ).shape[0]
        > 0
    )
    wh = reg.warehouse
    rows = wh.query(
        "SELECT kind, split, rows FROM model_metrics WHERE version = ? AND scope = 'all'", [version]
    )
    assert set(rows["kind"]) == {
        "champion",
        "pooled",
        "baseline_last10",
        "baseline_ewm",
        "baseline_season",
    }
    assert rows.filter(pl.col("split") == "test")["rows"].n_unique() == 1

    # the same dataset and settings: the same version, reused, still production
    again = train(settings, instance, "PTS")
    meta2 = again.asset_materializations_for_node("player_models")[0].metadata
    assert meta2["version"].value == version and meta2["reused_existing_version"].value
    assert "already production" in gate(again).description

    # other settings, and a gate no candidate can pass: it stays a candidate, the run says why
    strict = train(settings, instance, "PTS", min_games=41, promotion_tolerance=-0.5)
    assert strict.success  # the gate did its job: not a crash
    ev = gate(strict)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.description.startswith("not promoted: ") and "stays a candidate" in ev.description
    candidate = strict.asset_materializations_for_node("player_models")[0].metadata["version"].value
    assert candidate != version
    assert reg.stage("PTS", candidate) == "candidate"
    assert reg.production_version("PTS") == version

    # the operator promotes it by hand (refit on every row first), then rolls back
    assert main(["models", "promote", "--stat", "PTS", "--version", candidate,
                 "--home", str(settings.home)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "refit on every row" in out and f"{candidate} is production" in out
    assert reg.production_version("PTS") == candidate and reg.stage("PTS", version) == "archived"
    assert main(["models", "list", "--stat", "PTS", "--home", str(settings.home)]) == 0
    listing = capsys.readouterr().out
    assert candidate in listing and version in listing and "archived" in listing
    assert main(["models", "rollback", "--stat", "PTS", "--home", str(settings.home)]) == 0
    assert f"rolled back from {candidate}" in capsys.readouterr().out
    assert reg.production_version("PTS") == version
    history = reg.history("PTS")["to_stage"].to_list()
    assert history == [
        "candidate",
        "production",
        "candidate",
        "archived",
        "production",
        "archived",
        "production",
    ]
    # nothing earlier to go back to twice in a row? the first version was production before it
    assert main(["models", "rollback", "--stat", "PTS", "--home", str(settings.home)]) == 0
    assert reg.production_version("PTS") == candidate
    # a decision made against an older production (a gate that ran while an operator promoted
    # or rolled back) changes nothing and says why
    with pytest.raises(RegistryError, match="production changed during this run"):
        reg.promote("PTS", version, "a stale gate", expected=version)
    assert reg.production_version("PTS") == candidate
    assert reg.promote("PTS", version, "a current gate", expected=candidate) == candidate
    assert reg.production_version("PTS") == version

    # and a change between the read and the write is caught inside the transaction
    reads = []

    class Raced(ModelRegistry):
        def production_version(self, stat):
            reads.append(stat)  # the first read is stale: another promotion lands right after it
            return None if len(reads) == 1 else super().production_version(stat)

    raced = Raced(warehouse=reg.warehouse, store=reg.store)
    with pytest.raises(RegistryError, match="production changed during this run"):
        raced.promote("PTS", candidate, "raced")
    assert reg.production_version("PTS") == version and reg.stage("PTS", candidate) == "archived"


def test_registry_errors_are_one_line(pipeline, capsys):
    settings, _ = pipeline
    code = main(
        [
            "models",
            "promote",
            "--stat",
            "REB",
            "--version",
            "reb-nope",
            "--home",
            str(settings.home),
        ]
    )
    assert code == 2
    assert "no REB version reb-nope" in capsys.readouterr().err
    code = main(["models", "rollback", "--stat", "BLK", "--home", str(settings.home)])
    assert code == 2 and "no production version" in capsys.readouterr().err


def test_statmuse_train_reports_each_stat(pipeline, capsys):
    settings, _ = pipeline
    args = ["train", "--stat", "pts", "--small", "--min-games", "42", "--home", str(settings.home)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[1/1] models PTS" in out
    kept = "kept as candidate:" in out
    assert kept or "production:" in out
    assert ("not promoted: PTS: " in out) == kept  # the summary says why a candidate stayed one
    assert "models, test split" in out and "PTS" in out


def test_a_retrain_reuses_productions_recent_tuning(pipeline, tmp_path):
    # a home of its own (no production version yet) with the module's dataset files
    shared, _ = pipeline
    settings = dataclasses.replace(shared, home=tmp_path)
    datasets = ("training_datasets", "PTS")
    shutil.copytree(shared.lake_dir.joinpath(*datasets), settings.lake_dir.joinpath(*datasets))
    instance = dg.DagsterInstance.ephemeral()
    tuned = {"pooled_trials": 1, "player_trials": 0}

    def meta(result):
        assert result.success, gate(result).description
        return {
            k: v.value
            for k, v in result.asset_materializations_for_node("player_models")[0].metadata.items()
        }

    first = meta(train(settings, instance, "PTS", **tuned))
    assert not first["tuning_reused"] and first["tuned_by"] == first["version"]
    # other settings, the same tuning: production's tuned settings are reused, not tuned again
    retrain = meta(train(settings, instance, "PTS", **tuned, min_games=16))
    assert retrain["version"] != first["version"]
    assert retrain["tuning_reused"] and retrain["tuned_by"] == first["version"]
    assert retrain["tuned_at"] == first["tuned_at"]
    assert retrain["pooled_params"] == first["pooled_params"]
    # asked to tune (retune_days 0, `statmuse train --tune`), or other trials: tuned again
    fresh = meta(train(settings, instance, "PTS", **tuned, min_games=17, retune_days=0))
    assert not fresh["tuning_reused"] and fresh["tuned_by"] == fresh["version"]
    other = meta(train(settings, instance, "PTS", **{**tuned, "pooled_trials": 2}, min_games=16))
    assert not other["tuning_reused"]
