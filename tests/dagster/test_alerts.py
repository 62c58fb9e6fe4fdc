"""The alert sensor under a bad webhook and a busy warehouse: a tick stays within its budget,
and an alert is posted once, whatever the warehouse did."""

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
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(3):
        breaking_job.execute_in_process(instance=instance, raise_on_error=False)
    return instance, dg.Definitions(jobs=[breaking_job])


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
