"""The code location: every asset, check, job, schedule and resource of statmuse-pipelines."""

from __future__ import annotations

import dagster as dg

from statmuse_pipelines.assets.calibration import calibrators
from statmuse_pipelines.assets.datasets import training_datasets
from statmuse_pipelines.assets.evaluation import backtest_reports, walk_forward_predictions
from statmuse_pipelines.assets.features import player_features
from statmuse_pipelines.assets.ingest import daily_slate, raw_player_game_logs, raw_team_game_logs
from statmuse_pipelines.assets.lines import market_lines
from statmuse_pipelines.assets.models import player_models
from statmuse_pipelines.assets.monitoring import (
    feature_drift,
    model_performance,
    prediction_outcomes,
)
from statmuse_pipelines.assets.normalize import player_game_stats, team_game_stats
from statmuse_pipelines.assets.serving import daily_predictions
from statmuse_pipelines.automation.jobs import (
    build_training_datasets_job,
    check_drift_job,
    evaluate_models_job,
    grade_predictions_job,
    match_lines_job,
    predict_slate_job,
    prune_old_runs_job,
    refresh_game_days_job,
    retrain_job,
    train_models_job,
)
from statmuse_pipelines.automation.schedules import (
    daily_ingest_schedule,
    prune_old_runs_schedule,
    weekly_retrain_schedule,
)
from statmuse_pipelines.automation.sensors import (
    alert_sensor,
    failed_run_sensor,
    game_days_refreshed_sensor,
    new_data_sensor,
    retrain_on_drift_sensor,
)
from statmuse_pipelines.resources.factory import build_resources
from statmuse_pipelines.settings import Settings

OWNER = "team:statmuse-pipelines"


def _catalogued(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Owner and a `stored` tag on every asset: the catalog filters on them (`stored: warehouse`
    lists the assets whose tables an analyst can query; the others keep parquet or model files
    only)."""
    stored = "warehouse" if "dagster/table_name" in spec.metadata else "files"
    return spec.replace_attributes(owners=[OWNER], tags={**spec.tags, "stored": stored})


_ASSETS = [
    raw_player_game_logs,
    raw_team_game_logs,
    daily_slate,
    player_game_stats,
    team_game_stats,
    player_features,
    training_datasets,
    player_models,
    market_lines,
    calibrators,
    walk_forward_predictions,
    backtest_reports,
    daily_predictions,
    prediction_outcomes,
    model_performance,
    feature_drift,
]
# each asset's page links to the function that defines it (its file and line)
ASSETS = dg.with_source_code_references(dg.map_asset_specs(_catalogued, _ASSETS))


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[
            refresh_game_days_job,
            build_training_datasets_job,
            train_models_job,
            match_lines_job,
            evaluate_models_job,
            predict_slate_job,
            grade_predictions_job,
            check_drift_job,
            retrain_job,
            prune_old_runs_job,
        ],
        schedules=[daily_ingest_schedule, weekly_retrain_schedule, prune_old_runs_schedule],
        sensors=[
            game_days_refreshed_sensor,
            retrain_on_drift_sensor,
            new_data_sensor,
            alert_sensor,
            failed_run_sensor,
        ],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    # environment read here, when Dagster loads the code location, not at import
    return build_definitions(Settings.from_env())
