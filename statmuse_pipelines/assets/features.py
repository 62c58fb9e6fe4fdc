"""Stage `features`: pregame features of every player-game, from games strictly before it."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import (
    add_partition_metadata,
    check_results,
    range_metadata,
    stop_if_blocked,
    store_days,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.normalize import player_game_stats, team_game_stats
from statmuse_pipelines.core import checks
from statmuse_pipelines.core.features import (
    build_features,
    feature_names,
    history_start,
    team_history_start,
)
from statmuse_pipelines.core.schemas import PLAYER_FEATURES, PLAYER_GAME_STATS
from statmuse_pipelines.partitions import DAYS_IN_ONE_RUN, daily_partitions, partition_days
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource

_CHECK_DOCS = {
    "features_are_pregame": "no row's history reaches its own game date (leakage)",
    "one_row_per_player_game": "exactly one feature row per player-game of the partition",
    "no_missing_feature_values": "no null or NaN feature (cold starts are 0 with a 0 count)",
}

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
    check_specs=[
        *(
            dg.AssetCheckSpec(n, asset="player_features", blocking=True, description=_CHECK_DOCS[n])
            for n in checks.FEATURE_CHECK_NAMES
        ),
        dg.AssetCheckSpec(
            "later_features_are_current",
            asset="player_features",
            description="no stored feature day outside the run was computed before earlier box "
            "scores were written again (WARN: re-run player_features for the days it lists)",
        ),
    ],
)
def player_features(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Pregame features of each player-game, computed only from games before its date."""
    days = partition_days(context)
    # what any feature of these days can see (core.features.window_inputs, read from the lake):
    # player games of the current and previous season, team games of one season more
    start, team_start = history_start(days[0]), team_history_start(days[0])
    targets = lake.read_days("player_game_stats", days)
    stored = set(lake.stored_days("player_game_stats"))
    window = [start + timedelta(days=i) for i in range((days[0] - start).days)]
    history_days = [d for d in window if d in stored]
    history = pl.concat(
        [lake.read_days("player_game_stats", history_days, PLAYER_GAME_STATS.schema), targets]
    )
    team_stored = set(lake.stored_days("team_game_stats"))
    team_window = [team_start + timedelta(days=i) for i in range((days[-1] - team_start).days + 1)]
    team_history = lake.read_days("team_game_stats", [d for d in team_window if d in team_stored])
    # career counts need every earlier game, but only who played: one column
    earlier = [d for d in sorted(stored) if d < start]
    prior = (
        lake.read_days("player_game_stats", earlier, PLAYER_GAME_STATS.schema, ["player_id"])
        .group_by("player_id")
        .agg(pl.len().alias("games"))
    )
    features = build_features(history, team_history, targets, prior)
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
    context.log.info(
        f"player_features: {features.height:,} rows x {len(feature_names())} features; "
        f"history from {start} ({len(history_days)} of {len(window)} days stored)"
    )
    yield dg.MaterializeResult(
        metadata={
            **range_metadata(days, counts),
            "features": len(feature_names()),
            "history_window_start": str(start),
            "history_days_stored": len(history_days),
            "history_days_missing": len(window) - len(history_days),
            "earlier_days_counted_for_career_games": len(earlier),
            "lake_path": dg.MetadataValue.path(str(lake.path("player_features", days[0]).parent)),
            "warehouse_table": "player_features",
            "preview": table_value(
                features.select(_PREVIEW).with_columns(pl.col(pl.Float32).round(2))
            ),
        },
        check_results=check_results("player_features", [*outcomes, current]),
    )
