"""Stage `ingest`: box scores as the source returned them, one parquet file per game date."""

import time

import dagster as dg

from statmuse_pipelines.assets._common import add_partition_metadata, md_table, range_metadata
from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.partitions import daily_partitions, partition_days
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import GameLogSource, NbaApiUnavailable

# stats.nba.com throttles and times out: after the source's own retries, Dagster tries the step
# again later. Bad data is not retried: it fails at once with the source's message.
_RETRIES_WHEN_UNAVAILABLE = 2
_RETRY_AFTER_SECONDS = 120


def _ingest(
    context: dg.AssetExecutionContext,
    mode: str,
    table: str,
    game_logs: GameLogSource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    days = partition_days(context)
    started = time.monotonic()
    try:
        frame = game_logs.fetch(mode, days[0], days[-1])
    except NbaApiUnavailable as exc:
        raise dg.RetryRequested(
            max_retries=_RETRIES_WHEN_UNAVAILABLE, seconds_to_wait=_RETRY_AFTER_SECONDS
        ) from exc
    except GameLogError as exc:
        raise dg.Failure(
            description=f"{table}: bad input, nothing was written: {exc}",
            metadata={"origin": exc.origin, "column": exc.column or "", "row": exc.row or 0},
        ) from exc
    counts = lake.write_days(table, frame, days, "GAME_DATE")
    games = frame["GAME_ID"].n_unique() if frame.height else 0
    context.log.info(
        f"{table}: {frame.height:,} rows, {games:,} games over {len(days)} day(s) "
        f"from {game_logs.describe()} in {time.monotonic() - started:.1f}s"
    )
    add_partition_metadata(context, frame, days, "GAME_DATE", "GAME_ID")
    return dg.MaterializeResult(
        metadata={
            **range_metadata(days, counts),
            "run_games": games,
            "source": game_logs.describe(),
            "lake_path": dg.MetadataValue.path(str(lake.path(table, days[0]).parent)),
            "preview": dg.MetadataValue.md(
                md_table(frame.sort("GAME_ID") if frame.height else frame)
            ),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"polars", "parquet"},
    pool="nba_api",
)
def raw_player_game_logs(
    context: dg.AssetExecutionContext, game_logs: GameLogSource, lake: LakeResource
) -> dg.MaterializeResult:
    """Player box scores exactly as the source returned them (LeagueGameLog player mode)."""
    return _ingest(context, "player", "raw_player_game_logs", game_logs, lake)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"polars", "parquet"},
    pool="nba_api",
)
def raw_team_game_logs(
    context: dg.AssetExecutionContext, game_logs: GameLogSource, lake: LakeResource
) -> dg.MaterializeResult:
    """Team box scores exactly as the source returned them (LeagueGameLog team mode)."""
    return _ingest(context, "team", "raw_team_game_logs", game_logs, lake)


__all__ = ["raw_player_game_logs", "raw_team_game_logs"]
