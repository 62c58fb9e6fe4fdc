"""Housekeeping: old finished runs are deleted so the run storage does not grow forever.

(Dagster's instance config purges old schedule and sensor ticks itself; see deploy/dagster.yaml.)
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


class RunRetentionConfig(dg.Config):
    keep_days: int = Field(
        90, description="finished runs older than this are deleted, with their event logs"
    )
    batch: int = Field(500, description="at most this many runs are deleted per run of the job")


@dg.op(description="Delete finished runs (and their event logs) older than keep_days.")
def prune_old_runs(context: dg.OpExecutionContext, config: RunRetentionConfig) -> dg.Output:
    cutoff = datetime.now(UTC) - timedelta(days=config.keep_days)
    old = context.instance.get_run_records(
        filters=dg.RunsFilter(statuses=FINISHED, created_before=cutoff), limit=config.batch
    )
    deleted = 0
    for record in old:
        if record.dagster_run.run_id == context.run_id:
            continue
        context.instance.delete_run(record.dagster_run.run_id)
        deleted += 1
    context.log.info(f"deleted {deleted} finished runs created before {cutoff:%Y-%m-%d}")
    return dg.Output(deleted, metadata={"deleted_runs": deleted, "cutoff": cutoff.isoformat()})


@dg.job(description="Delete finished runs older than the retention period (default 90 days).")
def prune_old_runs_job():
    prune_old_runs()


prune_old_runs_schedule = dg.ScheduleDefinition(
    name="prune_old_runs_schedule",
    job=prune_old_runs_job,
    cron_schedule="30 4 * * 0",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays 04:30 New York: delete finished runs older than 90 days.",
)
