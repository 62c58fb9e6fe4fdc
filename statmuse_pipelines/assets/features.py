"""Stage `features`: pregame features of every player-game, from games strictly before it."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import (
    add_partition_metadata,
    add_preview,
    check_results,
    check_specs,
    range_metadata,
    read_feature_window,
    stop_if_blocked,
    store_days,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.normalize import player_game_stats, team_game_stats
from statmuse_pipelines.core import checks
from statmuse_pipelines.core.features import (
    build_features,
    feature_names,
)
from statmuse_pipelines.core.schemas import PLAYER_FEATURES
from statmuse_pipelines.partitions import DAYS_IN_ONE_RUN, daily_partitions, partition_days
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource

_PREVIEW = [
    "game_date", "player_name", "team", "opponent", "pts_mean_5", "pts_ewm",
    "pts_season_mean", "reb_mean_10", "ast_mean_10", "games_last_10", "season_games",
    "rest_days", "opp_def_rank", "history_last_date",
]  # fmt: skip


@dg.asset(
    metadata=warehouse_table_metadata(PLAYER_FEATURES),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="features",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[player_game_stats, team_game_stats],
    check_specs=check_specs("player_features"),
)
def player_features(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Pregame features of each player-game, computed only from games before its date."""
    days = partition_days(context)
    lake.require_days("player_game_stats", days)
    window = read_feature_window(lake, days[0], days[-1])
    targets = window.history.filter(pl.col("game_date").is_between(days[0], days[-1]))
    features = build_features(window.history, window.team_history, targets, window.prior)
    outcomes = [
        checks.features_are_pregame(features),
        checks.one_row_per_player_game(features, targets),
        checks.no_missing_feature_values(features, feature_names()),
    ]
    yield from stop_if_blocked("player_features", outcomes)
    counts = store_days(lake, warehouse, PLAYER_FEATURES, features, days)
    box_scores = lake.modified("player_game_stats")
    for day, written in lake.modified("team_game_stats").items():
        box_scores[day] = max(written, box_scores.get(day, written))
    current = checks.later_features_are_current(lake.modified("player_features"), box_scores, days)
    if not current.passed:
        context.log.warning(current.description)
    add_partition_metadata(context, features, days, "game_date", "game_id")
    add_preview(context, days, features.select(_PREVIEW).with_columns(pl.col(pl.Float32).round(2)))
    context.log.info(
        f"player_features: {features.height:,} rows x {len(feature_names())} features; "
        f"history from {window.start} ({window.days_stored} of {window.days_in_window} days "
        "stored)"
    )
    yield dg.MaterializeResult(
        metadata={
            **range_metadata(days, counts),
            "features": len(feature_names()),
            "history_window_start": str(window.start),
            "history_days_stored": window.days_stored,
            "history_days_missing": window.days_in_window - window.days_stored,
            "earlier_days_counted_for_career_games": window.earlier_days,
            "lake_path": dg.MetadataValue.path(str(lake.path("player_features", days[0]).parent)),
            "warehouse_table": "player_features",
        },
        check_results=check_results("player_features", [*outcomes, current]),
    )
