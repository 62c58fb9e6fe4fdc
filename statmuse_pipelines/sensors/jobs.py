"""Jobs and schedules: what runs, and when."""

from datetime import timedelta

import dagster as dg

from statmuse_pipelines.settings import LEAGUE_TZ

refresh_game_days_job = dg.define_asset_job(
    name="refresh_game_days_job",
    selection=dg.AssetSelection.groups("ingest", "normalize", "features"),
    description="For game dates: fetch box scores, normalize them, compute pregame features.",
)

build_training_datasets_job = dg.define_asset_job(
    name="build_training_datasets_job",
    selection=dg.AssetSelection.groups("datasets"),
    description="Write a versioned, time-split training dataset for each stat target.",
)

train_models_job = dg.define_asset_job(
    name="train_models_job",
    selection=dg.AssetSelection.groups("models"),
    description="Train, measure and gate the models of a stat target (one run per stat).",
)

evaluate_models_job = dg.define_asset_job(
    name="evaluate_models_job",
    selection=dg.AssetSelection.assets(
        "calibrators", "walk_forward_predictions", "backtest_reports"
    ),
    description="Calibrate, evaluate walk-forward on the lines and backtest a stat's production "
    "model (one run per stat).",
)

match_lines_job = dg.define_asset_job(
    name="match_lines_job",
    selection=dg.AssetSelection.assets("market_lines"),
    description="Store the configured sportsbook lines of game dates, matched to players "
    "(a range of dates in one run).",
)

# stats.nba.com corrects box scores for a day or two after a game: each morning re-ingest the last
# few days, not only yesterday (a re-run of a partition replaces it, so this is safe)
REINGEST_DAYS = 3


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run cover a range of partitions (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@dg.schedule(
    job=refresh_game_days_job,
    cron_schedule="0 6 * * *",
    execution_timezone=str(LEAGUE_TZ),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="06:00 New York: ingest yesterday's games (and re-ingest the two days before); "
    "when it succeeds, game_days_refreshed_sensor grades them, predicts today and checks drift.",
)
def daily_ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.astimezone(LEAGUE_TZ).date()
    yesterday = today - timedelta(days=1)
    first = yesterday - timedelta(days=REINGEST_DAYS - 1)
    return dg.RunRequest(
        run_key=f"ingest-{yesterday.isoformat()}",
        tags={
            **range_tags(first.isoformat(), yesterday.isoformat()),
            "statmuse/daily": today.isoformat(),
        },
    )
