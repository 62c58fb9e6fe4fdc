"""Stage `normalize`: typed, deduplicated, checked box scores in the lake and the warehouse."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import (
    accept_raw,
    add_partition_metadata,
    add_preview,
    check_results,
    check_specs,
    range_metadata,
    reject_raw,
    stop_if_raw_rejected,
    store_days,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.ingest import raw_player_game_logs, raw_team_game_logs
from statmuse_pipelines.core import checks
from statmuse_pipelines.core.normalize import (
    NormalizationError,
    normalize_player_logs,
    normalize_team_logs,
)
from statmuse_pipelines.core.schemas import PLAYER_GAME_STATS, TEAM_GAME_STATS
from statmuse_pipelines.partitions import DAYS_IN_ONE_RUN, daily_partitions, partition_days
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.warehouse import WarehouseResource


def _metadata(frame: pl.DataFrame, days, counts, lake: LakeResource, table: str) -> dict:
    seasons = sorted(frame["season"].unique().to_list()) if frame.height else []
    return {
        **range_metadata(days, counts),
        "run_games": frame["game_id"].n_unique() if frame.height else 0,
        "seasons": ", ".join(seasons) or "none",
        "lake_path": dg.MetadataValue.path(str(lake.path(table, days[0]).parent)),
        "warehouse_table": table,
    }


@dg.asset(
    metadata=warehouse_table_metadata(PLAYER_GAME_STATS),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="normalize",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[raw_player_game_logs, raw_team_game_logs],
    check_specs=check_specs("player_game_stats"),
)
def player_game_stats(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """One typed, deduplicated row per player per game played. Every check runs on the new rows
    before anything is written, the team totals of the same days' team box scores included."""
    days = partition_days(context)
    try:
        frame = normalize_player_logs(lake.read_days("raw_player_game_logs", days))
        teams = normalize_team_logs(lake.read_days("raw_team_game_logs", days))
    except NormalizationError as exc:
        note = reject_raw(lake, days)
        raise dg.Failure(
            f"player_game_stats: nothing was written: {exc}" + (f". {note}" if note else "")
        ) from exc
    outcomes = checks.player_game_checks(frame, teams)
    yield from stop_if_raw_rejected("player_game_stats", outcomes, lake, days)
    counts = store_days(lake, warehouse, PLAYER_GAME_STATS, frame, days)
    add_partition_metadata(
        context, frame, days, "game_date", "game_id", {"players": pl.col("player_id").n_unique()}
    )
    add_preview(context, days, frame)
    meta = _metadata(frame, days, counts, lake, "player_game_stats")
    meta["run_players"] = frame["player_id"].n_unique() if frame.height else 0
    yield dg.MaterializeResult(
        metadata=meta, check_results=check_results("player_game_stats", outcomes)
    )


@dg.asset(
    metadata=warehouse_table_metadata(TEAM_GAME_STATS),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="normalize",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[raw_team_game_logs, player_game_stats],
    check_specs=check_specs("team_game_stats"),
)
def team_game_stats(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """One row per team per game: box score, opponent's box score, possessions, pace, ratings."""
    days = partition_days(context)
    frame = normalize_team_logs(lake.read_days("raw_team_game_logs", days))
    players = lake.read_days("player_game_stats", days)
    outcomes = checks.team_game_checks(frame, players)
    yield from stop_if_raw_rejected("team_game_stats", outcomes, lake, days)
    counts = store_days(lake, warehouse, TEAM_GAME_STATS, frame, days)
    accept_raw(lake, days)  # both tables of these days passed every check
    add_partition_metadata(
        context, frame, days, "game_date", "game_id", {"mean_pace": pl.col("pace").mean().round(2)}
    )
    add_preview(context, days, frame)
    meta = _metadata(frame, days, counts, lake, "team_game_stats")
    if frame.height:
        meta["run_mean_pace"] = round(float(frame["pace"].mean()), 2)
        meta["run_mean_points"] = round(float(frame["pts"].mean()), 2)
    yield dg.MaterializeResult(
        metadata=meta, check_results=check_results("team_game_stats", outcomes)
    )
