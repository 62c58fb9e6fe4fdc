"""Daily operations on a small synthetic league: a week operated day by day through Dagster
(predict before the games, ingest, grade), then a regime change that the drift check catches and
the retrain sensor answers. Plus the schedules and the other sensors."""

import dataclasses
import json
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.assets.monitoring import RollbackConfig, check_rollbacks
from statmuse_pipelines.automation.jobs import range_tags
from statmuse_pipelines.automation.schedules import daily_ingest_schedule, weekly_retrain_schedule
from statmuse_pipelines.automation.sensors import (
    alert_sensor,
    failed_run_sensor,
    game_days_refreshed_sensor,
    new_data_sensor,
    retrain_on_drift_sensor,
)
from statmuse_pipelines.cli import main as cli
from statmuse_pipelines.core.alerts import SIGNATURE_HEADER, sign
from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.drift import UNMONITORED
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.execution import RunReport
from statmuse_pipelines.resources.alerts import AlertsResource
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry
from statmuse_pipelines.resources.policies import RetrainPolicy
from statmuse_pipelines.resources.sources import SyntheticGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.runs import live_days
from statmuse_pipelines.settings import LEAGUE_TZ, Settings
from tests.dagster.helpers import QUIET

STATS = ("PTS", "REB")
SMALL = {
    "min_games": 40,
    "max_players": 2,
    "pooled_trials": 0,
    "player_trials": 0,
    "stacking_folds": 2,
}
FIRST, TODAY = date(2025, 12, 1), date(2025, 12, 8)  # operate Dec 1..7, then predict Dec 8
DAYS = (TODAY - FIRST).days


@pytest.fixture(scope="module")
def operated(tmp_path_factory):
    home = tmp_path_factory.mktemp("ops_home")
    settings = Settings(home=home, source="synthetic", seasons=2, today=TODAY, lines="proxy")
    # history through Nov 30, written with the core functions (the stages are tested elsewhere)
    league = SyntheticGameLogSource(seasons=2, today=TODAY.isoformat())
    start, end = date(2024, 7, 1), FIRST - timedelta(days=1)
    games = normalize_player_logs(league.fetch("player", start, end))
    teams = normalize_team_logs(league.fetch("team", start, end))
    features = build_features(games, teams, games)
    lake = LakeResource(root=str(settings.lake_dir))
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    for table, frame in (
        ("player_game_stats", games),
        ("team_game_stats", teams),
        ("player_features", features),
    ):
        lake.write_days(table, frame, days, "game_date")
    for stat in STATS:
        ds = build_dataset(features, games, stat, "synthetic", "2025-12-01T06:00:00")
        lake.write_dataset(stat, ds.splits(), ds.manifest)
    # an in-memory instance: the runs, their events and the checks' history, without a SQLite
    # file opened per event (the file-backed instances are tested in test_cli and test_postgres)
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    for stat in STATS:
        assert defs.resolve_job_def("train_models_job").execute_in_process(
            instance=instance, partition_key=stat,
            run_config={**QUIET, "ops": {"player_models": {"config": SMALL}}},
        ).success  # fmt: skip
    walk = {
        "ops": {"walk_forward_predictions": {"config": {"warmup_dates": 20, "refit_months": 3}}}
    }
    for stat in STATS:
        assert (
            defs.resolve_job_def("evaluate_models_job")
            .execute_in_process(instance=instance, partition_key=stat, run_config={**QUIET, **walk})
            .success
        )
    report = RunReport()
    live_days(defs, instance, FIRST, TODAY, report, lambda line: None)
    assert report.failed is None, report.failed
    yield settings, defs, instance, league
    instance.dispose()


def test_a_week_predicted_before_the_games_and_graded_after(operated):
    settings, _, _, league = operated
    wh = WarehouseResource(path=str(settings.warehouse_path))
    for offset in range(DAYS):
        day = FIRST + timedelta(days=offset)
        schedule = league.schedule(day, day)
        preds = wh.query("SELECT * FROM predictions WHERE prediction_date = ?", [day])
        assert set(preds["stat"]) == set(STATS), day
        # every scheduled game is predicted, and nearly every player who then played
        assert set(schedule["game_id"]) == set(preds["game_id"]), day
        played = league.fetch("player", day, day)
        covered = played.join(
            preds.select(pl.col("player_id").alias("PLAYER_ID")).unique(), on="PLAYER_ID"
        )
        assert covered.height >= 0.9 * played.height, (day, covered.height, played.height)
        graded = wh.query("SELECT * FROM prediction_outcomes WHERE prediction_date = ?", [day])
        assert graded.height == preds.height
        # deep-bench candidates who then sat out are void, not graded
        assert (graded["result"] != "void").mean() > 0.7
        assert graded.filter(pl.col("result") != "void")["actual"].null_count() == 0
    today = wh.query("SELECT count(*) AS n FROM predictions WHERE prediction_date = ?", [TODAY])
    assert today["n"][0] > 0
    perf = wh.query("SELECT * FROM model_performance WHERE as_of = ?", [TODAY - timedelta(days=1)])
    assert set(perf["stat"]) == set(STATS) and set(perf["window_days"]) == {1, 7, 30}
    week = perf.filter((pl.col("stat") == "PTS") & (pl.col("window_days") == 7)).row(0, named=True)
    assert week["predictions"] > 500 and 0 < week["mae"] < 10
    # drift is checked after the last operated day, for every stat with a production model
    drift = wh.query("SELECT stat, max(window_end) AS end FROM feature_drift GROUP BY stat")
    assert set(drift["stat"]) == set(STATS)
    assert set(drift["end"]) == {TODAY - timedelta(days=1)}
    # the analysts' views on a real registry (their rows and values are checked on hand-made
    # rows in tests/unit/test_lake_warehouse.py): one production version per stat; no bets, as
    # every line here is a proxy (lines="proxy") and proxies are never bet
    production = wh.query("SELECT * FROM production_models")
    assert production["stat"].to_list() == sorted(STATS)
    assert (
        production["test_mae"].is_not_null().all() and production["promoted_at"].is_not_null().all()
    )
    kinds = wh.query(
        "SELECT DISTINCT line_kind FROM predictions WHERE prediction_date = ?", [TODAY]
    )
    assert kinds["line_kind"].to_list() == ["proxy"]
    assert wh.query("SELECT count(*) AS n FROM todays_bets")["n"][0] == 0


def test_the_hindsight_guard_skips_a_stat_and_keeps_its_earlier_predictions(operated):
    """Re-predict a past date when one stat's production model has seen that date (as after a
    retrain): that stat is skipped, and its earlier, honest predictions of the date stay."""
    settings, defs, instance, _ = operated
    wh = WarehouseResource(path=str(settings.warehouse_path))
    day = FIRST + timedelta(days=2)
    before = wh.query("SELECT * FROM predictions WHERE prediction_date = ? ORDER BY ALL", [day])
    registry = ModelRegistry(warehouse=wh, store=settings_store(settings))
    version = registry.production_version("REB")
    dataset = registry.store.manifest("REB", version)["dataset_version"]
    path = settings.lake_dir / "training_datasets" / "REB" / dataset / "manifest.json"
    original = path.read_text()
    manifest = json.loads(original)
    manifest["dates"]["test"]["end"] = (day + timedelta(days=5)).isoformat()
    path.write_text(json.dumps(manifest))
    try:
        result = defs.resolve_job_def("predict_slate_job").execute_in_process(
            instance=instance, partition_key=day.isoformat(), run_config=QUIET
        )
    finally:
        path.write_text(original)
    assert result.success
    skipped = result.asset_materializations_for_node("daily_predictions")[0].metadata["skipped"]
    assert "trained through" in skipped.value[f"{day} REB"]
    after = wh.query("SELECT * FROM predictions WHERE prediction_date = ? ORDER BY ALL", [day])
    reb = pl.col("stat") == "REB"
    assert after.filter(reb).height > 0
    assert after.filter(reb).drop("created_at").equals(before.filter(reb).drop("created_at"))
    assert after.filter(~reb).height == before.filter(~reb).height


def test_the_served_slate_is_the_stored_daily_slate(operated):
    """daily_predictions predicts the games daily_slate stored (its declared upstream), not a
    schedule it asks the source for itself: a game taken out of the stored slate is not
    predicted, and features come from box scores before the day only."""
    from statmuse_pipelines.assets.serving import predict_day

    settings, _, _, league = operated
    lake = LakeResource(root=str(settings.lake_dir))
    wh = WarehouseResource(path=str(settings.warehouse_path))
    day = FIRST + timedelta(days=3)
    stored = lake.read_days("daily_slate", [day])
    assert stored.equals(league.schedule(day, day).select(stored.columns)) and stored.height > 1
    registry = ModelRegistry(warehouse=wh, store=settings_store(settings))
    path = lake.path("daily_slate", day)
    original = path.read_bytes()
    dropped = stored["game_id"][0]
    stored.filter(pl.col("game_id") != dropped).write_parquet(path)
    try:
        rows, _, games, _ = predict_day(day, lake, registry)
    finally:
        path.write_bytes(original)
    assert games == stored.height - 1
    assert set(rows["game_id"]) == set(stored["game_id"]) - {dropped}
    # the day's own box scores are stored (the week was ingested), and the reader leaves them out
    from statmuse_pipelines.assets._common import read_feature_window

    assert lake.read_days("player_game_stats", [day]).height > 0
    window = read_feature_window(lake, day, day - timedelta(days=1))
    assert day - timedelta(days=4) < window.history["game_date"].max() < day


def settings_store(settings):
    from statmuse_pipelines.resources.models import ModelStoreResource

    return ModelStoreResource(root=str(settings.models_dir))


def test_a_regime_change_fails_the_drift_check_and_asks_for_a_retrain(operated):
    settings, defs, instance, _ = operated
    drift = defs.resolve_job_def("check_drift_job")
    sensor_context = dg.build_sensor_context(instance=instance, definitions=defs)
    before = drift.execute_in_process(instance=instance, partition_key="PTS", run_config=QUIET)
    assert before.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in before.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["features_have_not_drifted"], "no regime change yet: no feature drift"
    first_tick = retrain_on_drift_sensor(sensor_context)
    assert isinstance(first_tick, dg.SkipReason)

    # from Dec 8 every game is played 30% faster; three weeks of it arrive
    changed = dataclasses.replace(settings, today=date(2026, 1, 1), pace_change=(TODAY, 1.3))
    changed_defs = build_definitions(changed)
    assert (
        changed_defs.resolve_job_def("refresh_game_days_job")
        .execute_in_process(
            instance=instance, tags=range_tags(TODAY.isoformat(), "2025-12-31"), run_config=QUIET
        )
        .success
    )
    after = changed_defs.resolve_job_def("check_drift_job").execute_in_process(
        instance=instance, partition_key="PTS", run_config=QUIET, raise_on_error=False
    )
    evaluation = next(
        e.event_specific_data for e in after.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "features_have_not_drifted"
    )  # fmt: skip
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    drifted = evaluation.metadata["drifted"].value
    assert any("pace" in name or "fga" in name for name in drifted), drifted

    requests = retrain_on_drift_sensor(sensor_context)
    assert [r.partition_key for r in requests] == ["PTS"]
    assert requests[0].run_key.startswith("drift-PTS-") and requests[0].job_name in (
        None,
        "retrain_job",
    )
    assert json.loads(sensor_context.cursor)["last_id"] > 0
    # the same failed check does not ask twice
    assert isinstance(retrain_on_drift_sensor(sensor_context), dg.SkipReason)
    wh = WarehouseResource(path=str(settings.warehouse_path))
    history = wh.query("SELECT count(*) AS n FROM feature_drift WHERE stat = 'PTS' AND drifted")
    assert history["n"][0] > 0
    # the calendar moved on, the shift did not: only features of the game itself drifted
    names = wh.query("SELECT name FROM feature_drift WHERE stat = 'PTS' AND drifted")["name"]
    assert not set(names) & UNMONITORED


def test_failed_checks_and_failed_runs_become_signed_alerts(operated):
    settings, defs, instance, _ = operated
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers[SIGNATURE_HEADER]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = AlertsResource(
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook", secret="s3cret"
    )
    # a drift check that fails (a regime change in the features) and a run that fails (AST has
    # no production model in this league, so its drift check cannot run)
    changed = dataclasses.replace(settings, today=date(2026, 1, 1), pace_change=(TODAY, 1.3))
    changed_defs = build_definitions(changed)
    assert changed_defs.resolve_job_def("refresh_game_days_job").execute_in_process(
        instance=instance, tags=range_tags(TODAY.isoformat(), "2025-12-31"), run_config=QUIET
    ).success  # fmt: skip
    runs = [
        changed_defs.resolve_job_def("check_drift_job").execute_in_process(
            instance=instance, partition_key=stat, run_config=QUIET, raise_on_error=False
        )
        for stat in ("PTS", "AST")
    ]
    warehouse = WarehouseResource(path=str(settings.warehouse_path))
    resources = {"warehouse": warehouse, "alerts": hook}
    try:
        with dg.build_sensor_context(
            instance=instance, definitions=defs, resources=resources
        ) as context:
            tick = alert_sensor(context)
            again = alert_sensor(context)
        failed_run = runs[1]
        assert not failed_run.success
        event = next(e for e in failed_run.all_events if e.event_type_value == "PIPELINE_FAILURE")
        with dg.build_run_status_sensor_context(
            sensor_name="failed_run_sensor",
            dagster_event=event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed_run.run_id),
            resources=resources,
        ).for_run_failure() as context:
            failed_run_sensor(context)
    finally:
        server.shutdown()
    assert "alert(s) recorded" in tick.skip_message
    assert again.skip_message == "nothing failed since the last tick"
    alerts = warehouse.query("SELECT * FROM alerts")
    check = alerts.filter(pl.col("subject") == "feature_drift.features_have_not_drifted[PTS]")
    assert check.height >= 1 and set(check["severity"]) == {"WARN"}
    assert "features drifted" in check["message"][0]
    failed = alerts.filter(
        (pl.col("kind") == "run_failed") & (pl.col("subject") == "check_drift_job")
    )
    assert failed.height >= 1
    assert set(alerts["webhook"]) == {"delivered (204)"}
    assert len(received) == alerts.height
    for body, signature in received:
        assert signature == sign(body, "s3cret")
        assert json.loads(body)["source"] == "statmuse-pipelines"


def test_new_data_sensor_waits_for_enough_new_days(operated):
    settings, defs, instance, _ = operated
    resources = {
        "lake": LakeResource(root=str(settings.lake_dir)),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "registry": defs.resources["registry"],
        "retrain_policy": RetrainPolicy(after_days=5),
    }
    # the registry resource holds the warehouse and model store resources: a context manager
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = new_data_sensor(context)
        # the models' data ends Nov 30; the box scores now reach past it by 5+ game days
        stats = sorted(r.partition_key for r in result)
        assert stats == ["PTS", "REB"]
        assert all(r.run_key.startswith(f"new-data-{r.partition_key}-") for r in result)
        again = new_data_sensor(context)
        assert isinstance(again, dg.SkipReason)  # cursor: asked once per new last game date
    # the threshold is the policy's (STATMUSE_RETRAIN_AFTER_DAYS through Settings)
    patient = {**resources, "retrain_policy": RetrainPolicy(after_days=10_000)}
    with dg.build_sensor_context(instance=instance, resources=patient) as context:
        later = new_data_sensor(context)
    assert isinstance(later, dg.SkipReason) and "10000 new game days" in later.skip_message


def test_a_promoted_retrain_that_grades_worse_is_rolled_back_with_an_alert(operated):
    settings, defs, instance, _ = operated
    warehouse = WarehouseResource(path=str(settings.warehouse_path))
    store = defs.resources["model_store"]
    registry = ModelRegistry(warehouse=warehouse, store=store)
    first = registry.production_version("PTS")
    # a retrain with another seed: a new version, promoted (by the gate or by the operator)
    assert defs.resolve_job_def("train_models_job").execute_in_process(
        instance=instance, partition_key="PTS",
        run_config={**QUIET, "ops": {"player_models": {"config": {**SMALL, "seed": 8}}}},
    ).success  # fmt: skip
    second = registry.versions("PTS").filter(pl.col("version") != first)["version"][0]
    if registry.production_version("PTS") != second:
        assert cli(["models", "promote", "--stat", "PTS", "--version", second,
                    "--home", str(settings.home)]) == 0  # fmt: skip
    assert registry.production_version("PTS") == second

    # the first version's graded week, Dec 1-7, and a week graded after the promotion: the same
    # games a week later, as good (no rollback) or with P(over) and P(under) swapped (rollback)
    graded = warehouse.query(
        "SELECT * FROM prediction_outcomes WHERE stat = 'PTS' AND prediction_date < ?",
        [FIRST + timedelta(days=7)],
    )
    later = graded.with_columns(
        pl.col("prediction_date") + timedelta(days=7), model_version=pl.lit(second)
    )
    day = FIRST + timedelta(days=13)
    rule = RollbackConfig(window_days=7)
    as_good = check_rollbacks(pl.concat([graded, later]), day, registry, print, rule)
    assert as_good == {"PTS": "within the runbook's margins"}
    assert registry.production_version("PTS") == second
    worse = later.with_columns(p_over=pl.col("p_under"), p_under=pl.col("p_over"))
    decided = check_rollbacks(pl.concat([graded, worse]), day, registry, print, rule)
    assert decided["PTS"].startswith("Brier")
    assert registry.production_version("PTS") == first
    alert = warehouse.query("SELECT * FROM alerts WHERE kind = 'rollback'").row(0, named=True)
    assert alert["subject"] == "PTS" and f"rolled back from {second} to {first}" in alert["message"]
    # the restored version is not judged again (no flip-flop)
    assert check_rollbacks(pl.concat([graded, worse]), day, registry, print, rule) == {}
    assert registry.production_version("PTS") == first


def test_the_morning_chain_and_the_weekly_retrain(tmp_path):
    repository = build_definitions(Settings(home=tmp_path)).get_repository_def()
    at = datetime(2025, 12, 15, 6, 0, tzinfo=LEAGUE_TZ)
    request = daily_ingest_schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=at)
    ).run_requests[0]
    assert request.tags["statmuse/daily"] == "2025-12-15"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-12-14"
    weekly = weekly_retrain_schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=datetime(2025, 12, 15, 7, 0, tzinfo=LEAGUE_TZ),
            repository_def=repository,
        )
    ).run_requests
    assert len(weekly) == 12 and weekly[0].run_key == "weekly-2025-12-15-PTS"

    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(job_def=_dummy_job(), tags={**request.tags})
        event = dg.DagsterEvent(
            event_type_value="PIPELINE_SUCCESS", job_name="refresh_game_days_job", message="ok"
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="game_days_refreshed_sensor", dagster_event=event,
            dagster_instance=instance, dagster_run=run,
        )  # fmt: skip
        requests = game_days_refreshed_sensor(context)
        jobs = [r.job_name for r in requests]
        assert jobs.count("grade_predictions_job") == 1 and jobs.count("predict_slate_job") == 1
        assert jobs.count("check_drift_job") == 12
        predict = next(r for r in requests if r.job_name == "predict_slate_job")
        assert predict.partition_key == "2025-12-15"
        grade = next(r for r in requests if r.job_name == "grade_predictions_job")
        assert grade.tags["dagster/asset_partition_range_start"] == "2025-12-12"


def _dummy_job():
    @dg.op
    def noop():
        return None

    @dg.job(name="refresh_game_days_job")
    def refresh_game_days_job():
        noop()

    return refresh_game_days_job
