"""The local homes' event log: a range run's per-partition events written in one batch, with the
same records Dagster's own SQLite event log keeps when it writes them one by one."""

import sqlite3
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry

from statmuse_pipelines.event_log import BatchedSqliteEventLogStorage, add_metadata_by_partition
from statmuse_pipelines.instance import INSTANCE_YAML

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")


@dg.asset(
    partitions_def=DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("counted", asset="days")],
)
def days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata({"day": key}, partition_key=key)
    return dg.MaterializeResult(
        metadata={"run_days": len(context.partition_keys)},
        check_results=[dg.AssetCheckResult(check_name="counted", passed=True)],
    )


def _run_range(home: Path, yaml_text: str, monkeypatch) -> tuple[dg.DagsterInstance, str]:
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml_text)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    job = dg.Definitions(assets=[days], jobs=[dg.define_asset_job("days_job", [days])])
    result = job.resolve_job_def("days_job").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-10",
        },
    )
    assert result.success
    return instance, result.run_id


def _records(instance: dg.DagsterInstance) -> list[tuple]:
    found = instance.fetch_materializations(dg.AssetKey("days"), limit=100).records
    return sorted(
        (r.partition_key, r.asset_materialization.metadata["day"].value, r.storage_id)
        for r in found
    )


def _check_rows(home: Path) -> list[tuple]:
    """The check executions Dagster's index keeps: a row per planned partition, each with the
    event it came from (its type and partitions), and the status the evaluation gave it."""
    with sqlite3.connect(home / "history" / "runs" / "index.db") as db:
        rows = db.execute(
            "SELECT asset_key, check_name, partition, execution_status, evaluation_event "
            "FROM asset_check_executions ORDER BY partition"
        ).fetchall()
    out = []
    for *key, event in rows:
        entry = dg.deserialize_value(event, EventLogEntry)
        data = entry.dagster_event.event_specific_data
        subset = getattr(data, "partitions_subset", None)
        keys = sorted(subset.get_partition_keys()) if subset else None
        out.append((*key, entry.dagster_event.event_type_value, keys))
    return out


def test_a_range_run_is_stored_as_one_batch_with_dagsters_records(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "500")
    calls = []
    original = BatchedSqliteEventLogStorage.store_event_batch

    def spy(self, events):
        calls.append(len(events))
        return original(self, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", spy)
    ours, ours_run = _run_range(tmp_path / "ours", INSTANCE_YAML, monkeypatch)
    storage = ours.event_log_storage
    assert isinstance(storage, BatchedSqliteEventLogStorage)
    # the run's plan (the materialization and the check, one event each), then the ten
    # partitions' materializations in one call
    assert calls == [2, 10]

    plain_yaml = "telemetry:\n  enabled: false\n"
    plain, plain_run = _run_range(tmp_path / "plain", plain_yaml, monkeypatch)
    assert not isinstance(plain.event_log_storage, BatchedSqliteEventLogStorage)

    # the same materializations, one per day, in the same order of ids
    ours_records, plain_records = _records(ours), _records(plain)
    assert [r[:2] for r in ours_records] == [r[:2] for r in plain_records]
    assert [r[0] for r in ours_records] == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert [r[2] for r in ours_records] == sorted(r[2] for r in ours_records)
    # the run's own log holds every event too, and the asset's latest event is the last day
    for instance, run_id in ((ours, ours_run), (plain, plain_run)):
        logged = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert len(logged) == 10
        latest = instance.get_latest_materialization_event(dg.AssetKey("days"))
        assert latest.dagster_event.partition == "2024-01-10"
    # the check planned for the ten partitions: the rows Dagster's own storage keeps
    ours_checks = _check_rows(tmp_path / "ours")
    assert ours_checks == _check_rows(tmp_path / "plain")
    planned = [r for r in ours_checks if r[2] is not None]
    assert [r[2] for r in planned] == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert {r[4] for r in planned} == {"ASSET_CHECK_EVALUATION_PLANNED"}
    # partition status the UI reads
    assert ours.get_materialized_partitions(dg.AssetKey("days")) == {
        f"2024-01-{d:02d}" for d in range(1, 11)
    }


def test_other_events_are_stored_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    storage = BatchedSqliteEventLogStorage.from_config_value(None, {})
    assert Path(storage._base_dir) == tmp_path / "history" / "runs"
    assert not storage._batchable([])
    monkeypatch.delenv("DAGSTER_HOME")
    with pytest.raises(ValueError, match="DAGSTER_HOME"):
        BatchedSqliteEventLogStorage.from_config_value(None, {})


def _by_day(context: dg.AssetExecutionContext) -> dict[str, dict]:
    return {key: {"day": key, "n": int(key[-2:])} for key in context.partition_keys}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def public_calls(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key, metadata in _by_day(context).items():
        context.add_asset_metadata(metadata, partition_key=key)
    context.add_asset_metadata({"last": True}, partition_key=context.partition_keys[-1])
    return dg.MaterializeResult(metadata={"run_days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def one_update(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    add_metadata_by_partition(context, _by_day(context))
    context.add_asset_metadata({"last": True}, partition_key=context.partition_keys[-1])
    return dg.MaterializeResult(metadata={"run_days": len(context.partition_keys)})


def test_metadata_by_partition_in_one_update_is_what_the_public_calls_leave():
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[public_calls, one_update])
    job = dg.define_asset_job("both", [public_calls, one_update])
    tags = {
        "dagster/asset_partition_range_start": "2024-01-02",
        "dagster/asset_partition_range_end": "2024-01-09",
    }
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    assert defs.resolve_job_def("both").execute_in_process(instance=instance, tags=tags).success

    def metadata(asset: str) -> dict:
        found = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
        return {
            r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}
            for r in found
        }

    ours = metadata("one_update")
    assert ours == metadata("public_calls")
    assert sorted(ours) == [f"2024-01-{d:02d}" for d in range(2, 10)]
    assert ours["2024-01-05"] == {"day": "2024-01-05", "n": 5, "run_days": 8}
    assert ours["2024-01-09"]["last"] is True
