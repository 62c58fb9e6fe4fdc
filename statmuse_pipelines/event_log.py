"""The event log of the local (SQLite) Dagster instance, with batched writes of asset events.

A range run records one materialization per date and asset: a season of game days is ~1,500 of
them. Dagster's SQLite event log stores each event on its own (a new connection, a commit, a
close, for the run's file and again for the cross-run index), which made those writes ~75% of a
season's backfill. Dagster already marks the per-partition events of one output as a batch and,
with `DAGSTER_EVENT_BATCH_SIZE` set, hands them to `store_event_batch`, which PostgreSQL's storage
writes at once and SQLite's writes one by one. This storage writes such a batch in one
transaction per database file: the same rows, the same ids in order, the same asset records (the
index keeps the tags of every event, the asset table its latest event, as PostgreSQL's does).
A check planned for a range run is stored as Dagster stores it, a row per partition, with the
event serialized once rather than once per row.

`statmuse` writes it into the dagster.yaml of the homes it creates; deploy/dagster.yaml uses
PostgreSQL instead.

This module is the one place the project reaches into Dagster's internals (`dagster._core`): the
storage above extends Dagster's own, `failed_check_executions` below asks for an asset check's
history, for which Dagster 1.13 has no public call, and `add_metadata_by_partition` gives a
range run's partitions their own metadata in one step. Everything else uses public APIs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import Field, StringSource, serialize_value
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.context.metadata_logging import (
    AssetMetadataHandle,
    OutputMetadataAccumulator,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result

from statmuse_pipelines.settings import environment


def failed_check_executions(instance, key, limit: int) -> list:
    """The latest failed executions of the asset check `key` (a `dg.AssetCheckKey`), newest
    first: records with `id`, `partition`, `run_id`, `create_timestamp` and the evaluation event.
    The same storage call the UI's check history makes; private in 1.13, so kept here."""
    return list(
        instance.event_log_storage.get_asset_check_execution_history(
            key, limit=limit, status={AssetCheckExecutionRecordStatus.FAILED}
        )
    )


def add_metadata_by_partition(context, per_partition: Mapping[str, Mapping[str, Any]]) -> None:
    """Each partition's own metadata on its materialization in a range run, as one
    `context.add_asset_metadata(metadata, partition_key=key)` per partition leaves it, in one
    update. That public call lists the run's partitions and copies every partition's metadata
    so far each time: quadratic, ~4 s of each asset's step in a nine-season run (3,135 days).
    The step's metadata accumulator is private in 1.13, so kept here; a step that has none
    where 1.13 keeps it gets the public call per partition."""
    step = context.get_step_execution_context()
    accumulator = getattr(step, "_metadata_accumulator", None)
    if not isinstance(accumulator, OutputMetadataAccumulator):
        for key, metadata in per_partition.items():
            context.add_asset_metadata(metadata, partition_key=key)
        return
    merged = dict(accumulator.per_output_metadata)
    for key, metadata in per_partition.items():
        handle = AssetMetadataHandle(asset_key=context.assets_def.key, partition_key=key)
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)


BATCHED = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION})


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose `store_event_batch` writes a batch in one transaction."""

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchedSqliteEventLogStorage:
        """`base_dir` defaults to Dagster's own place for the event log, $DAGSTER_HOME/history/runs
        (so one dagster.yaml serves every home, and a home's earlier runs stay where they are)."""
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = environment().get("DAGSTER_HOME")
            if not home:
                raise ValueError(
                    "BatchedSqliteEventLogStorage needs DAGSTER_HOME (or config.base_dir) to "
                    "know where the event log is"
                )
            base_dir = os.path.join(home, "history", "runs")
        return cls(base_dir=base_dir, inst_data=inst_data)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not self._batchable(events):
            super().store_event_batch(events)  # one by one, as Dagster does
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    ids.append(int(result.inserted_primary_key[0]))
            self._store_asset_event_tags(conn, list(events), ids)
            latest = {}
            for event, event_id in zip(events, ids, strict=True):
                latest[event.get_dagster_event().asset_key] = (event, event_id)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id) -> None:
        """The rows Dagster's own method stores for a planned check (one per partition of the
        run, each with the whole planned event), with the event serialized once instead of once
        per row and the rows inserted as one executemany (a nine-season range run plans 21
        checks for 3,135 partitions each; a profiler made the per-row work look large, the
        backfill measured the same within its noise)."""
        planned = event.get_dagster_event().event_specific_data
        subset = planned.partitions_subset
        keys = subset.get_partition_keys() if subset else [None]
        common = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            rows = [{**common, "partition": key} for key in keys]
            conn.execute(AssetCheckExecutionsTable.insert(), rows)

    @staticmethod
    def _batchable(events: Sequence[EventLogEntry]) -> bool:
        """Materializations or observations of one run, with an asset key each."""
        if len(events) < 2 or len({event.run_id for event in events}) != 1:
            return False
        for event in events:
            dagster_event = event.dagster_event
            if (
                dagster_event is None
                or dagster_event.event_type not in BATCHED
                or dagster_event.asset_key is None
            ):
                return False
        return True
