"""Stage `datasets`: versioned, time-split training data for each of the twelve stat targets."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import (
    check_results,
    check_specs,
    stop_if_blocked,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.features import player_features
from statmuse_pipelines.assets.normalize import player_game_stats
from statmuse_pipelines.core import checks
from statmuse_pipelines.core.checks import CheckOutcome
from statmuse_pipelines.core.datasets import PART_TARGETS, TARGETS, as_date, build_datasets
from statmuse_pipelines.core.schemas import DATASETS, PLAYER_GAME_STATS
from statmuse_pipelines.partitions import ONE_STAT_PER_RUN
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import GameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource

target_partitions = dg.StaticPartitionsDefinition(list(TARGETS))
# each target's dataset feeds its own partition and those of the combos it is a part of
WITH_PARTS = dg.StaticPartitionMapping(
    {t: [t, *(c for c, parts in PART_TARGETS.items() if t in parts)] for t in TARGETS}
)


def _combine(name: str, per_target: dict[str, CheckOutcome]) -> CheckOutcome:
    """One check result for a run that built several targets."""
    failed = {t: o for t, o in per_target.items() if not o.passed}
    return CheckOutcome(
        name=name,
        passed=not failed,
        severity=next(iter(per_target.values())).severity,
        description=(
            f"passed for {', '.join(per_target)}"
            if not failed
            else "; ".join(f"{t}: {o.description}" for t, o in failed.items())
        ),
        metadata={
            f"{t}_failing_rows": int(o.metadata.get("failing_rows", 0))
            for t, o in per_target.items()
        },
    )


def _dataset_row(manifest: dict, path: str) -> dict:
    dates = manifest["dates"]
    return {
        "target": manifest["target"],
        "version": manifest["version"],
        "created_at": manifest["created_at"],
        "is_latest": True,
        "target_definition": manifest["target_definition"],
        "rows_train": manifest["rows"]["train"],
        "rows_val": manifest["rows"]["val"],
        "rows_test": manifest["rows"]["test"],
        **{
            f"{split}_{edge}": as_date(dates[split][edge])
            for split in ("train", "val", "test")
            for edge in ("start", "end")
        },
        "features": len(manifest["features"]),
        "source": manifest["source"],
        "path": path,
        "manifest": json.dumps(manifest, sort_keys=True),
    }


@dg.asset(
    metadata=warehouse_table_metadata(DATASETS),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="datasets",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[
        dg.AssetDep(player_features, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(player_game_stats, partition_mapping=dg.AllPartitionMapping()),
    ],
    check_specs=check_specs("training_datasets"),
)
def training_datasets(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    game_logs: GameLogSource,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Train/validation/test parquet (oldest 70% / next 15% / newest 15% by date) and a manifest."""
    targets = list(context.partition_keys)
    days = lake.stored_days("player_features")
    if not days:
        raise dg.Failure("no player_features partitions yet: materialize player_features first")
    features = lake.read_days("player_features", days)
    outcomes_cols = ["player_id", "game_id", *{p for t in targets for p in TARGETS[t]}]
    outcomes = lake.read_days("player_game_stats", days, PLAYER_GAME_STATS.schema, outcomes_cols)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    source = f"{game_logs.describe()}; player_features {days[0]}..{days[-1]}"
    built = build_datasets(features, outcomes, targets, source, now)
    per_check: dict[str, dict[str, CheckOutcome]] = {n: {} for n in checks.DATASET_CHECK_NAMES}
    for t, ds in built.items():
        for o in checks.dataset_checks(ds):
            per_check[o.name][t] = o
    outcomes_all = [_combine(n, per) for n, per in per_check.items()]
    yield from stop_if_blocked("training_datasets", outcomes_all)

    summary = []
    for t, ds in built.items():
        existing = lake.read_manifest(t, ds.version)
        manifest = existing or ds.manifest  # same version: keep when it was first written
        written = lake.write_dataset(t, ds.splits(), manifest)
        path = str(lake.dataset_dir(t, ds.version))
        warehouse.upsert(
            DATASETS,
            pl.DataFrame([_dataset_row(manifest, path)], schema=DATASETS.schema),
            also=[
                ("UPDATE datasets SET is_latest = (version = ?) WHERE target = ?", [ds.version, t])
            ],
        )
        rows = manifest["rows"]
        context.add_asset_metadata(
            {
                "version": ds.version,
                "new_version": written,
                "rows_train": rows["train"],
                "rows_val": rows["val"],
                "rows_test": rows["test"],
                "dagster/row_count": sum(rows.values()),
                "train_end": manifest["cutoffs"]["train_end"],
                "test_start": manifest["cutoffs"]["test_start"],
                "features": len(manifest["features"]),
                "path": dg.MetadataValue.path(path),
            },
            partition_key=t,
        )
        summary.append(
            {
                "target": t,
                "version": ds.version,
                "new": written,
                "train": rows["train"],
                "val": rows["val"],
                "test": rows["test"],
                "train_end": manifest["cutoffs"]["train_end"],
                "test_start": manifest["cutoffs"]["test_start"],
            }
        )
        context.log.info(
            f"training_datasets[{t}]: version {ds.version} ({'new' if written else 'unchanged'})"
        )
    yield dg.MaterializeResult(
        metadata={
            "run_targets": ", ".join(targets),
            "feature_days": f"{days[0]}..{days[-1]}",
            "datasets": table_value(pl.DataFrame(summary), max_rows=12),
        },
        check_results=check_results("training_datasets", outcomes_all),
    )
