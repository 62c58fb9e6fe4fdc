"""Stage `models`: per stat, a pooled model and per-player champions, gated into production."""

import math
import time
from typing import NamedTuple

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.assets._common import (
    check_result,
    check_specs,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.datasets import WITH_PARTS, target_partitions, training_datasets
from statmuse_pipelines.core.datasets import PART_TARGETS
from statmuse_pipelines.core.models import (
    BASELINES,
    TrainingSettings,
    model_version,
    pooled_features,
    reusable_tuning,
    train_stat,
)
from statmuse_pipelines.core.registry import (
    GateDecision,
    SumOfParts,
    combo_version,
    compose_stat,
    evaluation_model,
    is_sum_of_parts,
    manifest_of,
    promotion_gate,
)
from statmuse_pipelines.core.schemas import MODEL_METRICS, MODEL_REGISTRY, MODEL_STAGE_HISTORY
from statmuse_pipelines.partitions import ONE_STAT_PER_RUN
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import (
    ModelRegistry,
    ModelStoreResource,
    now_utc,
)
from statmuse_pipelines.resources.warehouse import WarehouseResource

_DEFAULT = TrainingSettings()  # the launchpad's defaults are the training defaults, stated once


class TrainingConfig(dg.Config):
    """How to train (the launchpad shows these; the demo passes small values)."""

    min_games: int = Field(
        _DEFAULT.min_games, description="training rows a player needs for own models"
    )
    max_players: int = Field(
        _DEFAULT.max_players, description="at most this many per-player model sets (0 = all)"
    )
    pooled_trials: int = Field(
        _DEFAULT.pooled_trials, description="Optuna trials for the pooled model (0 = defaults)"
    )
    player_trials: int = Field(
        _DEFAULT.player_trials,
        description="Optuna trials for the per-player settings (0 = defaults)",
    )
    tuning_players: int = Field(
        _DEFAULT.tuning_players, description="players sampled to score a per-player trial"
    )
    tuning_rows: int = Field(
        _DEFAULT.tuning_rows, description="training rows a pooled trial is fit on (0 = all)"
    )
    stacking_folds: int = Field(
        _DEFAULT.stacking_folds, description="folds of the per-player stack"
    )
    promotion_tolerance: float = Field(
        _DEFAULT.promotion_tolerance,
        description="how much worse than production (test MAE, share) a candidate may be",
    )
    champion_z: float = Field(
        _DEFAULT.champion_z,
        description="standard errors an own model must beat the pooled one by (0 = plain min)",
    )
    seed: int = Field(_DEFAULT.seed, description="seed of every random choice")
    retune_days: int = Field(
        _DEFAULT.retune_days,
        description="reuse production's tuned settings while younger than this (0 = always tune)",
    )
    combos_from_parts: bool = Field(
        _DEFAULT.combos_from_parts,
        description="a combo (PRA, PR, PA, RA, STL_BLK) is the sum of its parts' models "
        "(false: models of its own)",
    )

    def settings(self) -> TrainingSettings:
        return TrainingSettings(**self.model_dump(), n_jobs=_DEFAULT.n_jobs)


def _headline(manifest: dict) -> dict[str, float]:
    """Test MAE of the champion set, the pooled model and the best naive baseline, as floats the
    Plots tab charts across versions (and the change against that baseline, in %)."""
    mae = {r["kind"]: float(r["mae"]) for r in manifest["summary"]["test"]}
    best = min((v for k, v in mae.items() if k.startswith("baseline_")), default=math.nan)
    champion = mae.get("champion", math.nan)
    return {
        "test_mae_champion": round(champion, 4),
        "test_mae_pooled": round(mae.get("pooled", math.nan), 4),
        "test_mae_best_baseline": round(best, 4),
        "test_mae_vs_best_baseline_pct": round((champion / best - 1) * 100, 2),
    }


def _model_details(manifest: dict, version: str) -> dict:
    """What the version is made of: its parts (a combo built from them), or its pooled model,
    champions and tuning."""
    if is_sum_of_parts(manifest):
        parts = manifest["parts"]
        return {
            "built_from": ", ".join(f"{p} {m['version']}" for p, m in parts.items()),
            "players_with_own_champion_by_part": ", ".join(
                f"{p} {m['players_with_own_champion']}" for p, m in parts.items()
            ),
        }
    champions = pl.Series("kind", list(manifest["champions"].values()), dtype=pl.String)
    counts = champions.value_counts().sort("count", descending=True)
    importance = pl.DataFrame(manifest["importance"]).head(15)
    return {
        "players_with_candidates": len(manifest["champions"]),
        "players_with_own_champion": int((champions != "pooled").sum()),
        "champions_by_kind": table_value(counts),
        "pooled_feature_importance": table_value(
            importance.with_columns(pl.col(pl.Float64).round(4)), max_rows=15
        ),
        "tuned_by": manifest.get("tuned", {}).get("version", version),
        "tuned_at": manifest.get("tuned", {}).get("at") or "",
        "tuning_reused": bool(manifest.get("tuned", {}).get("reused", False)),
        "pooled_params": manifest["pooled_params"],
        "pooled_rounds": manifest["pooled_rounds"],
        "player_params": manifest["player_params"],
        "optuna_trials": dg.MetadataValue.json(manifest["tuning"]),
    }


def _summary_frame(manifest: dict, split: str) -> pl.DataFrame:
    return pl.DataFrame(manifest["summary"][split]).with_columns(pl.col(pl.Float64).round(4))


def _production_comparison(
    stat: str,
    candidate: dict,
    test: pl.DataFrame,
    lake: LakeResource,
    store: ModelStoreResource,
    registry: ModelRegistry,
) -> tuple[str | None, float | None, str | None]:
    """The production version's test MAE: on the candidate's own test rows when production's
    evaluation fit never saw them, else on its own test split (and the metadata says which)."""
    production = registry.production_version(stat)
    if production is None:
        return None, None, None
    prod = store.manifest(stat, production)
    prod_dataset = lake.read_manifest(stat, prod["dataset_version"]) if prod else None
    cand_dataset = lake.read_manifest(stat, candidate["dataset_version"])
    comparable = (
        prod is not None
        and prod_dataset is not None
        and store.has_fit(stat, production, "evaluation")
        and prod_dataset["cutoffs"]["val_end"] is not None
        and cand_dataset["cutoffs"]["test_start"] is not None
        and prod_dataset["cutoffs"]["val_end"] < cand_dataset["cutoffs"]["test_start"]
        and set(prod["features"]) <= set(test.columns)
    )
    if comparable:
        model = store.load(stat, production, "evaluation")
        pred = model.predict(test)
        mae = float((pl.Series(pred) - test["target"]).abs().mean())
        return production, mae, "the same test rows"
    mae = next(r["mae"] for r in prod["summary"]["test"] if r["kind"] == "champion")
    return production, mae, "each version's own test split"


def _dataset(stat: str, lake: LakeResource) -> dict:
    """The stat's newest dataset manifest, which must have rows in every split."""
    dataset = lake.read_manifest(stat)
    if dataset is None:
        raise dg.Failure(f"no training dataset for {stat}: materialize training_datasets first")
    empty = [s for s, n in dataset["rows"].items() if n == 0]
    if empty:
        raise dg.Failure(
            f"{stat} dataset {dataset['version']} has no {' or '.join(empty)} rows: too few game "
            "dates to choose and measure models; ingest more days and rebuild the datasets"
        )
    return dataset


def _parts_on_other_rows(stat: str, dataset: dict, lake: LakeResource) -> str | None:
    """Why a combo cannot be the sum of its parts' models for its dataset's rows (their
    datasets are another cut: the combo's was rebuilt alone, e.g. by a retrain of the combo
    only), or None when it can."""
    for part in PART_TARGETS[stat]:
        theirs = lake.read_manifest(part)
        same = theirs is not None and theirs["dates"] == dataset["dates"]
        if not same or theirs["rows"] != dataset["rows"]:
            cut = f"dataset {theirs['version']} ({theirs['rows']})" if theirs else "no dataset"
            return (
                f"{part} has {cut}, not the rows of {stat} dataset {dataset['version']} "
                f"({dataset['rows']}); rebuilding the training datasets together sums the parts"
            )
    return None


class StatVersion(NamedTuple):
    """What `train_or_reuse` found or trained for a stat."""

    version: str
    manifest: dict
    reused: bool
    dataset: dict  # the dataset's manifest
    splits: dict[str, pl.DataFrame]
    own_models_because: str | None = None  # a combo not summed from its parts, and why


def train_or_reuse(
    stat: str,
    settings: TrainingSettings,
    lake: LakeResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
    log=lambda msg: None,
) -> StatVersion:
    """The stat's version for its newest dataset and `settings`, trained (stored, registered as
    a candidate) or found stored. A combo
    with `combos_from_parts` is the sum of its parts' versions for the same rows, each part
    trained here if it is not stored yet (as its own run would train it); when its parts'
    datasets are another cut than its own, it trains models of its own, and says why."""
    dataset = _dataset(stat, lake)
    splits = lake.read_dataset(stat, dataset["version"])
    summed = settings.combos_from_parts and stat in PART_TARGETS
    other_rows = _parts_on_other_rows(stat, dataset, lake) if summed else None
    if other_rows:
        log(f"{stat}: models of its own this time, not the sum of its parts: {other_rows}")
    if summed and not other_rows:
        parts = {}
        for part in PART_TARGETS[stat]:
            parts[part] = train_or_reuse(part, settings, lake, model_store, registry, log).manifest
        version = combo_version(stat, dataset["version"],
                                {p: m["version"] for p, m in parts.items()})  # fmt: skip
        manifest = model_store.manifest(stat, version)
        if manifest is not None:
            log(f"{stat}: version {version} exists (same dataset and parts): reused")
            return StatVersion(version, manifest, True, dataset, splits)
        loaded = {p: model_store.load(p, m["version"], "evaluation") for p, m in parts.items()}
        created = now_utc()
        manifest, metrics = compose_stat(
            stat, splits, dataset["version"],
            SumOfParts(stat=stat, version=version, fit="evaluation", parts=loaded),
            parts, settings, created,
        )  # fmt: skip
        model_store.save_manifest(stat, version, manifest)
        registry.record_metrics(metrics, created)
        registry.register(manifest, "evaluation", created, metrics)
        log(f"{stat}: {version} is {' + '.join(m['version'] for m in parts.values())}")
        return StatVersion(version, manifest, False, dataset, splits)

    version, tuning = model_version(stat, dataset["version"], settings), None
    manifest = model_store.manifest(stat, version)
    if manifest is None:
        # a retrain reuses production's tuned settings while they are recent (retune_days)
        production = registry.production_version(stat)
        tuning = reusable_tuning(
            model_store.manifest(stat, production) if production else None,
            pooled_features(splits["train"]),
            settings,
            now_utc(),
        )
        if tuning is not None:
            version = model_version(stat, dataset["version"], settings, tuning)
            manifest = model_store.manifest(stat, version)
            log(
                f"{stat}: reusing the settings {tuning.version} tuned at {tuning.tuned_at} "
                f"(retune_days {settings.retune_days})"
            )
    if manifest is not None and model_store.has_fit(stat, version, "evaluation"):
        log(f"{stat}: version {version} exists (same dataset and settings): reused")
        return StatVersion(version, manifest, True, dataset, splits, other_rows)
    trained = train_stat(stat, splits, dataset["version"], settings, log=log, tuning=tuning)
    created = now_utc()
    manifest = manifest_of(trained, created)
    model_store.save_fit(evaluation_model(trained))
    model_store.save_manifest(stat, version, manifest)
    registry.record_metrics(trained.metrics, created)
    registry.register(manifest, "evaluation", created, trained.metrics)
    return StatVersion(version, manifest, False, dataset, splits, other_rows)


@dg.asset(
    metadata=warehouse_table_metadata(MODEL_REGISTRY, MODEL_METRICS, MODEL_STAGE_HISTORY),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="models",
    kinds={"xgboost", "scikit-learn", "optuna", "duckdb"},
    # no duckdb pool: a training takes minutes and would hold the warehouse's one slot against
    # the daily ingest all that time; its warehouse writes are short transactions at the end
    # that wait for the file (WarehouseResource retries while another writer holds it)
    # a combo built from its parts reads their datasets too (their models learn from them)
    deps=[dg.AssetDep(training_datasets, partition_mapping=WITH_PARTS)],
    # a refusal fails the WARN check promotion_gate, the run succeeds (what runs after it in the
    # same run, calibration and backtests, uses production as it was)
    check_specs=check_specs("player_models", partitions_def=target_partitions),
)
def player_models(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
) -> dg.MaterializeResult:
    """Per stat: a pooled model and per-player champions, measured against naive baselines."""
    stat = context.partition_key
    settings = config.settings()
    started = time.monotonic()
    version, manifest, reused, dataset, splits, own_models_because = train_or_reuse(
        stat, settings, lake, model_store, registry, context.log.info
    )
    train_seconds = time.monotonic() - started
    why_own = {"own_models_because": own_models_because} if own_models_because else {}

    test_summary = {r["kind"]: r for r in manifest["summary"]["test"]}
    baselines = {k: test_summary[k]["mae"] for k in BASELINES}
    production, production_mae, compared_on = _production_comparison(
        stat, manifest, splits["test"], lake, model_store, registry
    )
    if production == version:
        decision = GateDecision(
            passed=True,
            reason=f"{version} is already production",
            candidate_mae=test_summary["champion"]["mae"],
            best_baseline=min(baselines, key=baselines.get),
            best_baseline_mae=min(baselines.values()),
            production_version=production,
        )
    else:
        decision = promotion_gate(
            test_summary["champion"]["mae"],
            baselines,
            settings.promotion_tolerance,
            production,
            production_mae,
            compared_on,
        )
    refit_seconds = 0.0
    if decision.passed and production != version:
        manifest, refit_seconds = registry.ensure_production_fit(
            stat, version, lake.read_dataset, settings.n_jobs
        )
        registry.promote(stat, version, decision.reason, expected=production)
    stage = registry.stage(stat, version)
    context.log.info(f"{stat} {version}: {decision.reason}")

    return dg.MaterializeResult(
        metadata={
            "version": version,
            "dataset_version": dataset["version"],
            "stage": stage,
            "decision": decision.reason,
            "reused_existing_version": reused,
            "training_seconds": round(train_seconds, 1),
            "production_refit_seconds": round(refit_seconds, 1),
            **_headline(manifest),
            "test_champion_vs_baselines": table_value(_summary_frame(manifest, "test")),
            "validation_champion_vs_baselines": table_value(_summary_frame(manifest, "val")),
            **_model_details(manifest, version),
            **why_own,
            "model_path": dg.MetadataValue.path(str(model_store.version_dir(stat, version))),
        },
        check_results=[
            check_result(
                "promotion_gate",
                passed=decision.passed,
                description=decision.reason
                if decision.passed
                else f"not promoted: {decision.reason}",
                metadata=decision.metadata(),
            )
        ],
    )
