"""Stage `serving`: the day's slate, predicted by the production models, in `predictions`."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import joblib
import polars as pl

from statmuse_pipelines.assets._common import (
    range_metadata,
    read_feature_window,
    store_days,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.ingest import daily_slate
from statmuse_pipelines.assets.lines import read_market_lines
from statmuse_pipelines.assets.normalize import player_game_stats, team_game_stats
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.schemas import PREDICTIONS
from statmuse_pipelines.core.serving import predict_stat, slate_candidates
from statmuse_pipelines.partitions import (
    DAYS_IN_ONE_RUN,
    SLATE_FRESHNESS,
    daily_partitions,
    partition_days,
)
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource
from statmuse_pipelines.resources.warehouse import WarehouseResource


def predict_day(
    day: date,
    lake: LakeResource,
    registry: ModelRegistry,
    log=lambda msg: None,
) -> tuple[pl.DataFrame, dict[str, str], int, int]:
    """Predictions for the stored slate of `day` (daily_slate): (rows, skipped stats and why,
    games, candidates). Features read the box scores stored before `day` only."""
    slate = lake.read_days("daily_slate", [day])
    if slate.height == 0:
        return pl.DataFrame(schema=PREDICTIONS.schema), {}, 0, 0
    window = read_feature_window(lake, day, day - timedelta(days=1))
    targets = slate_candidates(window.history, slate, day)
    features = build_features(window.history, window.team_history, targets, window.prior)
    day_lines = read_market_lines(lake, [day])
    store = registry.store
    out, skipped = [], {}
    production = registry.production_versions()
    for stat in TARGETS:
        version = production.get(stat)
        if version is None:
            skipped[stat] = "no production model"
            continue
        manifest = store.manifest(stat, version)
        dataset = lake.read_manifest(stat, manifest["dataset_version"])
        trained_through = date.fromisoformat(dataset["dates"]["test"]["end"])
        if trained_through >= day:
            # the production fit has seen this day's games: its predictions would be hindsight
            skipped[stat] = f"production model trained through {trained_through}"
            continue
        walk_forward_path = store.version_dir(stat, version) / "walk_forward.joblib"
        if not walk_forward_path.exists():
            skipped[stat] = f"{version} has no walk-forward evaluation yet"
            continue
        model = store.load(stat, version, "production")
        walk_forward = joblib.load(walk_forward_path)
        out.append(predict_stat(features, stat, model, walk_forward, day_lines))
    rows = pl.concat(out) if out else pl.DataFrame(schema=PREDICTIONS.schema)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    rows = rows.with_columns(created_at=pl.lit(created))
    log(f"{day}: {slate.height} games, {targets.height} players, {rows.height} predictions")
    return PREDICTIONS.conform(rows), skipped, slate.height, targets.height


def keep_skipped_history(new: pl.DataFrame, lake: LakeResource, days: list[date]) -> pl.DataFrame:
    """The new predictions plus the stored ones of stats not predicted again: re-predicting a
    past date after a retrain (when the hindsight guard skips a stat) keeps that stat's earlier,
    honest predictions instead of deleting them."""
    stored = set(lake.stored_days("predictions"))
    before = [d for d in days if d in stored]
    if not before:
        return new
    old = PREDICTIONS.conform_stored(lake.read_days("predictions", before))
    again = new.select("prediction_date", "stat").unique()
    kept = old.join(again, on=["prediction_date", "stat"], how="anti")
    return pl.concat([new, kept], how="vertical_relaxed").sort("prediction_date", "stat")


@dg.asset(
    metadata=warehouse_table_metadata(PREDICTIONS),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="serving",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    freshness_policy=SLATE_FRESHNESS,
    deps=[
        daily_slate,
        # the box scores before the day: Dagster has no "every earlier partition" mapping, and
        # the reader (core.features.window_days) takes only dates before the slate's
        dg.AssetDep(player_game_stats, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(team_game_stats, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("walk_forward_predictions", partition_mapping=dg.AllPartitionMapping()),
        "market_lines",
    ],
)
def daily_predictions(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
) -> Iterator[dg.MaterializeResult]:
    """The day's slate: each candidate player x stat with P(over), a recommendation and a stake."""
    days = partition_days(context)
    frames, notes = [], {}
    games = players = 0
    for day in days:
        rows, skipped, n_games, n_players = predict_day(day, lake, registry, context.log.info)
        frames.append(rows)
        notes.update({f"{day} {k}": v for k, v in skipped.items()})
        games, players = games + n_games, players + n_players
    out = keep_skipped_history(pl.concat(frames), lake, days)
    counts = store_days(lake, warehouse, PREDICTIONS, out, days, "prediction_date")
    top = (
        out.filter(pl.col("recommendation") != "PASS")
        .sort("confidence", descending=True)
        .select(
            "prediction_date",
            "player_name",
            "team",
            "opponent",
            "stat",
            "line",
            "line_kind",
            "prediction",
            "recommendation",
            "confidence",
            "kelly_stake",
        )
        .with_columns(pl.col(pl.Float64).round(3))
    )
    yield dg.MaterializeResult(
        metadata={
            **range_metadata(days, counts),
            "games": games,
            "candidate_players": players,
            "predictions_by_stat": dg.MetadataValue.json(
                dict(out.group_by("stat").len().sort("stat").iter_rows())
            ),
            "recommendations": dg.MetadataValue.json(
                dict(out.group_by("recommendation").len().sort("recommendation").iter_rows())
            ),
            "line_kinds": ", ".join(sorted(out["line_kind"].unique().to_list())) or "none",
            "skipped": dg.MetadataValue.json(notes),
            "top_recommendations": table_value(top, max_rows=15),
            "warehouse_table": "predictions",
        }
    )
