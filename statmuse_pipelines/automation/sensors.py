"""Daily operations: the morning chain, retraining on drift or new data, weekly retrains, alerts.

06:00 New York `daily_ingest_schedule` refreshes the last days; when that run succeeds,
`game_days_refreshed_sensor` grades the refreshed days, predicts today and checks drift per stat.
Failed drift checks make `retrain_on_drift_sensor` retrain the stat; enough new game days since a
stat's production model was trained make `new_data_sensor` retrain it; Mondays the
`weekly_retrain_schedule` retrains everything. Every retrain rebuilds the stat's dataset, trains,
goes through the promotion gate, and recalibrates and backtests. `alert_sensor` turns failed
checks into alerts, `failed_run_sensor` failed runs.
"""

import json
import logging
import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from statmuse_pipelines.automation.jobs import (
    DAILY_TAG,
    check_drift_job,
    grade_predictions_job,
    predict_slate_job,
    refresh_game_days_job,
    retrain_job,
)
from statmuse_pipelines.core.alerts import Alert
from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.drift import DRIFT_CHECKS
from statmuse_pipelines.core.schemas import ALERTS
from statmuse_pipelines.event_log import failed_check_executions
from statmuse_pipelines.resources.alerts import AlertsResource
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry
from statmuse_pipelines.resources.policies import RetrainPolicy
from statmuse_pipelines.resources.warehouse import WarehouseBusyError, WarehouseResource

# the alert sensor's deliveries per tick stay within this (Dagster stops a tick at 60 s)
TICK_BUDGET_SECONDS = 40.0


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[refresh_game_days_job],
    request_jobs=[grade_predictions_job, predict_slate_job, check_drift_job],
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After the morning refresh: grade the refreshed days, predict today, check drift.",
)
def game_days_refreshed_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    today = run.tags.get(DAILY_TAG)
    if not today:
        return dg.SkipReason(f"run {run.run_id[:8]} is not the morning refresh")
    first = run.tags["dagster/asset_partition_range_start"]
    last = run.tags["dagster/asset_partition_range_end"]
    requests = [
        dg.RunRequest(
            run_key=f"grade-{run.run_id}",
            job_name="grade_predictions_job",
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        ),
        dg.RunRequest(
            run_key=f"predict-{run.run_id}", job_name="predict_slate_job", partition_key=today
        ),
    ]
    requests += [
        dg.RunRequest(
            run_key=f"drift-{run.run_id}-{stat}", job_name="check_drift_job", partition_key=stat
        )
        for stat in TARGETS
    ]
    return requests


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A failed drift check asks for a retrain of its stat (one run per event).",
)
def retrain_on_drift_sensor(context: dg.SensorEvaluationContext):
    cursor = json.loads(context.cursor) if context.cursor else {"last_id": 0}
    newest = cursor["last_id"]
    requests: dict[str, dg.RunRequest] = {}
    for name in DRIFT_CHECKS.values():
        key = dg.AssetCheckKey(dg.AssetKey("feature_drift"), name)
        failed = failed_check_executions(context.instance, key, limit=50)
        for record in failed:
            if record.id <= cursor["last_id"] or record.partition is None:
                continue
            newest = max(newest, record.id)
            stat = record.partition
            requests.setdefault(
                stat,
                dg.RunRequest(
                    run_key=f"drift-{stat}-{record.id}",
                    partition_key=stat,
                    tags={"statmuse/trigger": f"drift:{name}"},
                ),
            )
    context.update_cursor(json.dumps({"last_id": newest}))
    if not requests:
        return dg.SkipReason("no new failed drift checks")
    return list(requests.values())


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Retrain a stat once enough new game days (STATMUSE_RETRAIN_AFTER_DAYS, 14 by "
    "default: the retrain_policy resource) have arrived since its production model's data ends.",
)
def new_data_sensor(
    context: dg.SensorEvaluationContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    registry: ModelRegistry,
    retrain_policy: RetrainPolicy,
):
    after = retrain_policy.after_days
    if not warehouse.table_exists("player_game_stats"):
        return dg.SkipReason("no box scores yet")
    cursor = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for stat in TARGETS:
        version = registry.production_version(stat)
        if version is None:
            continue
        manifest = registry.store.manifest(stat, version)
        dataset = lake.read_manifest(stat, manifest["dataset_version"])
        through = dataset["dates"]["test"]["end"]
        found = warehouse.query(
            "SELECT count(DISTINCT game_date) AS days, max(game_date) AS last "
            "FROM player_game_stats WHERE game_date > ?",
            [through],
        ).row(0, named=True)
        if found["days"] >= after and cursor.get(stat) != str(found["last"]):
            cursor[stat] = str(found["last"])
            requests.append(
                dg.RunRequest(
                    run_key=f"new-data-{stat}-{found['last']}",
                    partition_key=stat,
                    tags={"statmuse/trigger": f"new data: {found['days']} days after {through}"},
                )
            )
    context.update_cursor(json.dumps(cursor))
    return requests or dg.SkipReason(f"no stat has {after} new game days yet")


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Failed asset checks become rows in `alerts` (and a signed POST to "
    "STATMUSE_ALERT_WEBHOOK when set); failed runs are failed_run_sensor's.",
)
def alert_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alerts: AlertsResource
):
    """Each tick: the checks that failed since the last one become alerts; they are
    POSTed within TICK_BUDGET_SECONDS (Dagster stops a sensor tick at 60 s: what is left waits
    in the cursor for the next tick) and written to `alerts`. The cursor remembers what was
    delivered, so a busy warehouse never makes a tick post the same alert twice."""
    cursor = json.loads(context.cursor) if context.cursor else {"checks": 0}
    found: list[Alert] = []
    newest = cursor["checks"]
    for key in context.repository_def.asset_graph.asset_check_keys:
        failed = failed_check_executions(context.instance, key, limit=25)
        for record in failed:
            if record.id <= cursor["checks"]:
                continue
            newest = max(newest, record.id)
            evaluation = record.event.dagster_event.event_specific_data if record.event else None
            severity = evaluation.severity.value if evaluation is not None else "ERROR"
            where = f"{key.asset_key.to_user_string()}.{key.name}" + (
                f"[{record.partition}]" if record.partition else ""
            )
            found.append(
                Alert(
                    alert_id=f"check-{record.id}",
                    created_at=_iso(record.create_timestamp),
                    # the gate refusing a candidate: filed once, as what it is
                    kind="promotion_refused" if key.name == "promotion_gate" else "check_failed",
                    severity=severity,
                    subject=where,
                    message=(evaluation.description if evaluation is not None else "")
                    or "check failed",
                    run_id=record.run_id,
                )
            )
    waiting = [Alert(**a) for a in cursor.get("pending", [])]
    queue = waiting + [a for a in found if a.alert_id not in {w.alert_id for w in waiting}]
    if queue and alerts.webhook_url and not alerts.secret:
        context.log.warning("alerts go out unsigned: STATMUSE_ALERT_SECRET is not set")
    end = time.monotonic() + TICK_BUDGET_SECONDS
    rows, left = [dict(r) for r in cursor.get("unrecorded", [])], []
    for alert in queue:
        remaining = end - time.monotonic()
        if remaining < 1.0:
            left.append(alert)
            continue
        rows.append({**alert.__dict__, "webhook": alerts.send(alert, min(remaining, 12.0))})
    rows += [{**a.__dict__, "webhook": "waiting: the tick ran out of time"} for a in left]
    unrecorded = []
    if rows:
        table = pl.DataFrame(rows).unique("alert_id", keep="last", maintain_order=True)
        try:
            warehouse.upsert(ALERTS, table)
        except WarehouseBusyError as exc:  # delivered stays delivered; recorded next tick
            context.log.warning(f"alerts not written yet ({exc}); the next tick writes them")
            unrecorded = [r for r in table.to_dicts() if not r["webhook"].startswith("waiting")]
    context.update_cursor(
        json.dumps(
            {
                "checks": newest,
                "pending": [a.__dict__ for a in left],
                "unrecorded": unrecorded,
            }
        )
    )
    if not found and not waiting:
        return dg.SkipReason("nothing failed since the last tick")
    sent = len(queue) - len(left)
    context.log.info(f"{sent} alert(s) recorded, {len(left)} waiting for the next tick")
    return dg.SkipReason(
        f"{sent} alert(s) recorded" + (f", {len(left)} waiting for the next tick" if left else "")
    )


def alert_tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    """One tick of `alert_sensor` as the daemon would run it (the command's live days end with
    one): the failed checks so far become rows in `alerts`. Returns what the tick says."""
    resources = {"warehouse": defs.resources["warehouse"], "alerts": defs.resources["alerts"]}
    logging.disable(logging.INFO)  # the sensor's own log line: the command prints its own
    try:  # a context manager: the warehouse resource is set up and torn down around the tick
        with dg.build_sensor_context(
            instance=instance, definitions=defs, resources=resources
        ) as context:
            tick = alert_sensor(context)
    finally:
        logging.disable(logging.NOTSET)
    return getattr(tick, "skip_message", None) or "filed"


# Dagster evaluates up to 5 failed runs a tick and stops a tick at 60 s: each alert gets at most
# this long to be posted and to wait for the warehouse file (5 x 10 s), so a hanging webhook or a
# busy file never makes a tick run out of time and post its alerts again on the next one
RUN_ALERT_SECONDS = (6.0, 4.0)


@dg.run_failure_sensor(
    # the command's runs are made in-process and carry no code location of their own: without
    # this, a sensor matches only the runs launched from this code location (the UI, the daemon)
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A failed run becomes a row in `alerts` (and a signed POST to "
    "STATMUSE_ALERT_WEBHOOK when set).",
)
def failed_run_sensor(
    context: dg.RunFailureSensorContext, warehouse: WarehouseResource, alerts: AlertsResource
) -> None:
    """One alert per failed run (Dagster calls this once for each, and moves on even when it
    raises): POSTed, then written to `alerts`, within RUN_ALERT_SECONDS. A warehouse file still
    busy after that fails the tick with the alert named in the error (the POST went out); the
    row is not written again later."""
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    failed_at = record.end_time if record is not None else None  # when it failed, not this tick
    alert = Alert(
        alert_id=f"run-{run.run_id}",
        created_at=_iso(failed_at or time.time()),
        kind="run_failed",
        severity="ERROR",
        subject=run.job_name,
        message=(context.failure_event.message or "run failed")[:500],
        run_id=run.run_id,
    )
    status = alerts.send(alert, RUN_ALERT_SECONDS[0])
    row = pl.DataFrame([{**alert.__dict__, "webhook": status}])
    try:
        quick = warehouse.model_copy(update={"lock_timeout_seconds": RUN_ALERT_SECONDS[1]})
        quick.upsert(ALERTS, row)
    except WarehouseBusyError as exc:
        raise WarehouseBusyError(
            f"alert {alert.alert_id} ({run.job_name} failed) was sent ({status}) but not written "
            f"to `alerts`: {exc}"
        ) from exc
    context.log.info(f"run {run.run_id} ({run.job_name}) failed: alert filed ({status})")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat()
