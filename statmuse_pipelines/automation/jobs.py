"""Jobs: what runs (schedules and sensors in this package say when)."""

from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

refresh_game_days_job = dg.define_asset_job(
    name="refresh_game_days_job",
    # the slate is the predict job's: a backfill of past days has no use for their schedule
    selection=dg.AssetSelection.groups("ingest", "normalize", "features")
    - dg.AssetSelection.assets("daily_slate"),
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


predict_slate_job = dg.define_asset_job(
    name="predict_slate_job",
    selection=dg.AssetSelection.assets("daily_slate", "market_lines", "daily_predictions"),
    description="Store a day's slate and sportsbook lines, and predict the slate with the "
    "production models.",
)
grade_predictions_job = dg.define_asset_job(
    name="grade_predictions_job",
    selection=dg.AssetSelection.assets("prediction_outcomes", "model_performance"),
    description="Grade the predictions of game days and update performance over time.",
)
check_drift_job = dg.define_asset_job(
    name="check_drift_job",
    selection=dg.AssetSelection.assets("feature_drift"),
    description="Compare recent features, predictions and calibration with the training data.",
)
retrain_job = dg.define_asset_job(
    name="retrain_job",
    selection=dg.AssetSelection.assets(
        "training_datasets",
        "player_models",
        "calibrators",
        "walk_forward_predictions",
        "backtest_reports",
    ),
    description="Rebuild a stat's dataset, train, gate, calibrate and backtest (one run per stat).",
)

# the morning refresh's tag: the day it predicts after grading (game_days_refreshed_sensor)
DAILY_TAG = "statmuse/daily"


# --- run retention: old finished runs are deleted so the run storage does not grow forever
# (Dagster's instance config purges old schedule and sensor ticks itself; see deploy/dagster.yaml)

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
