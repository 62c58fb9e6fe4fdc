"""The alert sensors under a bad webhook and a busy warehouse: a tick stays within its budget,
and an alert is posted once, whatever the warehouse did; a failed run is filed by
failed_run_sensor (a run failure sensor), a failed check by alert_sensor."""

import dagster as dg
import pytest

from statmuse_pipelines.automation import sensors as operations
from statmuse_pipelines.resources.alerts import AlertsResource
from statmuse_pipelines.resources.warehouse import WarehouseBusyError, WarehouseResource


@dg.op
def breaks():
    raise RuntimeError("boom")


@dg.job
def breaking_job():
    breaks()


@dg.asset(check_specs=[dg.AssetCheckSpec("always_fails", asset="flaky")])
def flaky():
    return dg.MaterializeResult(
        check_results=[dg.AssetCheckResult(check_name="always_fails", passed=False)]
    )


class Recorder(AlertsResource):
    """A webhook that records what it got (and answers at once)."""

    def send(self, alert, deadline_seconds=None):
        SENT.append(alert.alert_id)
        return "delivered (204)"


SENT: list[str] = []


class BusyWarehouse(WarehouseResource):
    def upsert(self, table, frame, also=()):
        raise WarehouseBusyError("an analyst's session holds the file")


@pytest.fixture
def failed_runs(tmp_path):
    """Three failed checks (three materializations of `flaky`) in an instance."""
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(3):
        dg.materialize([flaky], instance=instance)
    return instance, dg.Definitions(assets=[flaky])


def test_a_busy_warehouse_never_makes_an_alert_go_out_twice(failed_runs, tmp_path):
    instance, defs = failed_runs
    SENT.clear()
    busy = {"warehouse": BusyWarehouse(path=str(tmp_path / "w.duckdb")), "alerts": Recorder()}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=busy) as context:
        first = operations.alert_sensor(context)
    assert "3 alert(s) recorded" in first.skip_message and len(SENT) == 3
    # the warehouse is free again: the next tick writes the three rows and posts nothing again
    free = {"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")), "alerts": Recorder()}
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=free, cursor=context.cursor
    ) as context:
        operations.alert_sensor(context)
    assert len(SENT) == 3
    rows = free["warehouse"].query("SELECT alert_id, webhook FROM alerts ORDER BY alert_id")
    assert rows.height == 3 and set(rows["webhook"]) == {"delivered (204)"}


def test_a_slow_webhook_leaves_the_rest_for_the_next_tick(failed_runs, tmp_path, monkeypatch):
    instance, defs = failed_runs
    monkeypatch.setattr(operations, "TICK_BUDGET_SECONDS", 0.0)  # out of time at once
    SENT.clear()
    resources = {"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
                 "alerts": Recorder()}  # fmt: skip
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources
    ) as context:
        tick = operations.alert_sensor(context)
    assert "3 waiting for the next tick" in tick.skip_message and SENT == []
    waiting = resources["warehouse"].query("SELECT webhook FROM alerts")["webhook"].to_list()
    assert waiting == ["waiting: the tick ran out of time"] * 3
    monkeypatch.setattr(operations, "TICK_BUDGET_SECONDS", 40.0)
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, cursor=context.cursor
    ) as context:
        operations.alert_sensor(context)
    assert len(SENT) == 3
    done = resources["warehouse"].query("SELECT webhook FROM alerts")["webhook"].to_list()
    assert done == ["delivered (204)"] * 3


def _failure_context(instance, resources):
    result = breaking_job.execute_in_process(instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    return run, dg.build_run_status_sensor_context(
        sensor_name="failed_run_sensor",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources=resources,
    ).for_run_failure()


def test_a_failed_run_is_filed_by_the_run_failure_sensor(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    SENT.clear()
    resources = {"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
                 "alerts": Recorder()}  # fmt: skip
    run, context = _failure_context(instance, resources)
    with context:
        operations.failed_run_sensor(context)
    rows = resources["warehouse"].query("SELECT * FROM alerts")
    assert rows["alert_id"].to_list() == [f"run-{run.run_id}"] == SENT
    row = rows.row(0, named=True)
    assert (row["kind"], row["subject"], row["severity"]) == ("run_failed", "breaking_job", "ERROR")
    assert row["webhook"] == "delivered (204)" and row["run_id"] == run.run_id


def test_a_tick_of_the_sensor_files_a_failure_after_its_cursor(tmp_path):
    """The whole sensor evaluated as a tick (its resources, Dagster's cursor: the first tick
    only places it, a failure after it is filed). Which code locations it watches is not shown
    here: outside a daemon, a run and a sensor both have none, and Dagster matches them."""
    instance = dg.DagsterInstance.ephemeral()
    SENT.clear()
    resources = {"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
                 "alerts": Recorder()}  # fmt: skip
    defs = dg.Definitions(jobs=[breaking_job], sensors=[operations.failed_run_sensor])
    sensor = defs.resolve_sensor_def("failed_run_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as first:
        sensor.evaluate_tick(first)  # the first tick only sets the cursor
    result = breaking_job.execute_in_process(instance=instance, raise_on_error=False)
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, cursor=first.cursor
    ) as context:
        sensor.evaluate_tick(context)
    assert [f"run-{result.run_id}"] == SENT


def test_a_busy_warehouse_fails_the_failed_run_tick_naming_the_alert(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    SENT.clear()
    busy = {"warehouse": BusyWarehouse(path=str(tmp_path / "w.duckdb")), "alerts": Recorder()}
    run, context = _failure_context(instance, busy)
    with pytest.raises(WarehouseBusyError, match=f"run-{run.run_id}.*was sent"), context:
        operations.failed_run_sensor(context)
    assert [f"run-{run.run_id}"] == SENT
