"""Schedules: the morning ingest, the weekly retrain, run retention (all start STOPPED)."""

from datetime import timedelta

import dagster as dg

from statmuse_pipelines.automation.jobs import (
    DAILY_TAG,
    REINGEST_DAYS,
    prune_old_runs_job,
    range_tags,
    refresh_game_days_job,
    retrain_job,
)
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.settings import LEAGUE_TZ


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
            DAILY_TAG: today.isoformat(),
        },
    )


@dg.schedule(
    job=retrain_job,
    cron_schedule="0 7 * * 1",
    execution_timezone=str(LEAGUE_TZ),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Mondays 07:00 New York: retrain every stat (through the promotion gate).",
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(LEAGUE_TZ).date()
    return [
        dg.RunRequest(
            run_key=f"weekly-{day}-{stat}", partition_key=stat, tags={"statmuse/trigger": "weekly"}
        )
        for stat in TARGETS
    ]


prune_old_runs_schedule = dg.ScheduleDefinition(
    name="prune_old_runs_schedule",
    job=prune_old_runs_job,
    cron_schedule="30 4 * * 0",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays 04:30 New York: delete finished runs older than 90 days.",
)
