"""Stage `ingest`: box scores as the source returned them, one parquet file per game date."""

import time
from collections.abc import Callable

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.assets._common import (
    add_partition_metadata,
    add_preview,
    check_result,
    check_specs,
    range_metadata,
    table_value,
)
from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.normalize import SCHEDULE_SCHEMA
from statmuse_pipelines.partitions import (
    DAYS_IN_ONE_RUN,
    INGEST_FRESHNESS,
    daily_partitions,
    partition_days,
)
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import (
    GameLogSource,
    NbaApiUnavailable,
    NbaApiUnreachable,
)

# stats.nba.com throttles and times out: after the source's own retries, Dagster tries the step
# again later. Bad data is not retried: it fails at once with the source's message.
_RETRIES_WHEN_UNAVAILABLE = 2
_RETRY_AFTER_SECONDS = 120


class IngestConfig(dg.Config):
    replace_empty_days: bool = Field(
        default=False,
        description="a stored day that has rows and comes back from the source with none keeps "
        "its rows (a WARN says so); set this to store the empty answer, deleting that day's games",
    )


EMPTIED_CHECK = "empty_answers_keep_stored_days"


def _answer(table: str, ask: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """The source's answer, or the run stops in the way its failure calls for."""
    try:
        return ask()
    except NbaApiUnreachable as exc:  # nothing answers: waiting minutes to retry will not help
        raise dg.Failure(f"{table}: nothing was written: {exc}") from exc
    except NbaApiUnavailable as exc:
        raise dg.RetryRequested(
            max_retries=_RETRIES_WHEN_UNAVAILABLE, seconds_to_wait=_RETRY_AFTER_SECONDS
        ) from exc
    except GameLogError as exc:
        raise dg.Failure(
            description=f"{table}: bad input, nothing was written: {exc}",
            metadata={"origin": exc.origin, "column": exc.column or "", "row": exc.row or 0},
        ) from exc


def _ingest(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    mode: str,
    table: str,
    game_logs: GameLogSource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    days = partition_days(context)
    started = time.monotonic()
    frame = _answer(table, lambda: game_logs.fetch(mode, days[0], days[-1]))
    # an empty answer for a day that has games stored is not news that the games vanished (an
    # empty file, a missing file, an outage answered with no rows): the stored day stays
    answered = set(frame["GAME_DATE"].unique().to_list()) if frame.height else set()
    stored = lake.stored_rows(table, days)
    emptied = {d: n for d, n in stored.items() if n and d not in answered}
    kept = {} if config.replace_empty_days else emptied
    written = [d for d in days if d not in kept]
    lake.keep_previous(table, written)  # until normalization accepts the new answer
    counts = lake.write_days(table, frame, written, "GAME_DATE")
    counts.update(kept)
    if kept:
        context.log.warning(
            f"{table}: the source answered with no rows for {len(kept)} day(s) that have rows "
            f"stored ({_days_text(kept)}): kept the stored rows (replace_empty_days deletes them)"
        )
    games = frame["GAME_ID"].n_unique() if frame.height else 0
    context.log.info(
        f"{table}: {frame.height:,} rows, {games:,} games over {len(days)} day(s) "
        f"from {game_logs.describe()} in {time.monotonic() - started:.1f}s"
    )
    add_partition_metadata(context, frame, days, "GAME_DATE", "GAME_ID")
    add_preview(context, days, frame.sort("GAME_ID") if frame.height else frame)
    check = check_result(
        EMPTIED_CHECK,
        passed=not kept,
        description=(
            f"the source answered with no rows for {len(kept)} stored day(s) ({_days_text(kept)}):"
            " their stored rows were kept"
            if kept
            else f"deleted on request: {_days_text(emptied)}"
            if emptied
            else "no stored day came back empty"
        ),
        metadata={"days_kept": len(kept), "days_emptied_on_request": len(emptied) - len(kept)},
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            **range_metadata(days, counts),
            "run_games": games,
            "source": game_logs.describe(),
            "lake_path": dg.MetadataValue.path(str(lake.path(table, days[0]).parent)),
        },
    )


def _days_text(days: dict) -> str:
    shown = ", ".join(f"{d} ({n:,} rows)" for d, n in sorted(days.items())[:5])
    return shown + (f" and {len(days) - 5} more" if len(days) > 5 else "")


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="ingest",
    kinds={"polars", "parquet"},
    pool="nba_api",
    freshness_policy=INGEST_FRESHNESS,
    check_specs=check_specs("raw_player_game_logs"),
)
def raw_player_game_logs(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    game_logs: GameLogSource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    """Player box scores exactly as the source returned them (LeagueGameLog player mode)."""
    return _ingest(context, config, "player", "raw_player_game_logs", game_logs, lake)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="ingest",
    kinds={"polars", "parquet"},
    pool="nba_api",
    freshness_policy=INGEST_FRESHNESS,
    check_specs=check_specs("raw_team_game_logs"),
)
def raw_team_game_logs(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    game_logs: GameLogSource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    """Team box scores exactly as the source returned them (LeagueGameLog team mode)."""
    return _ingest(context, config, "team", "raw_team_game_logs", game_logs, lake)


__all__ = ["daily_slate", "raw_player_game_logs", "raw_team_game_logs"]


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="ingest",
    kinds={"polars", "parquet"},
    # the live source's schedule is stats.nba.com's scoreboard: one caller at a time, as for logs
    pool="nba_api",
    check_specs=check_specs("daily_slate"),
)
def daily_slate(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    game_logs: GameLogSource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    """The games scheduled on each date (home and away team), as the source's schedule lists
    them: what daily_predictions predicts."""
    days = partition_days(context)
    answer = _answer("daily_slate", lambda: game_logs.schedule(days[0], days[-1]))
    frame = answer.select([pl.col(c).cast(t) for c, t in SCHEDULE_SCHEMA.items()]).sort(
        "game_date", "game_id"
    )
    # as for box scores: a stored slate with games is not emptied by an empty answer
    answered = set(frame["game_date"].unique().to_list())
    emptied = {
        d: n for d, n in lake.stored_rows("daily_slate", days).items() if n and d not in answered
    }
    kept = {} if config.replace_empty_days else emptied
    counts = lake.write_days("daily_slate", frame, [d for d in days if d not in kept], "game_date")
    counts.update(kept)
    if kept:
        context.log.warning(
            f"daily_slate: the source's schedule listed no games for {len(kept)} day(s) with a "
            f"stored slate ({_days_text(kept)}): kept the stored slate"
        )
    return dg.MaterializeResult(
        check_results=[
            check_result(
                EMPTIED_CHECK,
                passed=not kept,
                description=f"kept the stored slate of {_days_text(kept)}"
                if kept
                else "no stored day came back empty",
            )
        ],
        metadata={
            **range_metadata(days, counts),
            "run_games": frame.height,
            "source": game_logs.describe(),
            "lake_path": dg.MetadataValue.path(str(lake.path("daily_slate", days[0]).parent)),
            "preview": table_value(frame),
        },
    )
