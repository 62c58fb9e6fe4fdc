"""Helpers the asset modules share: metadata a person can read, check results."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import NamedTuple

import dagster as dg
import polars as pl

from statmuse_pipelines.core.checks import CheckOutcome, asset_checks, severity_of
from statmuse_pipelines.core.features import prior_games, window_days
from statmuse_pipelines.core.schemas import PLAYER_GAME_STATS, Table
from statmuse_pipelines.event_log import add_metadata_by_partition
from statmuse_pipelines.resources.warehouse import column_type


def _plain(value):
    """A value a TableRecord takes: str, int, float, bool or None (dates and lists as text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def table_value(frame: pl.DataFrame, max_rows: int = 10) -> dg.TableMetadataValue:
    """The first rows as a table the UI lays out itself (a markdown table is clipped on the
    right), with the columns' types."""
    head = frame.head(max_rows)
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, type=str(dtype)) for name, dtype in head.schema.items()]
    )
    records = [
        dg.TableRecord({k: _plain(v) for k, v in row.items()}) for row in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records, schema)


def warehouse_table_metadata(table: Table, *also: Table) -> dict[str, object]:
    """Definition metadata of an asset that writes `table` (and `also`) to the warehouse: its
    columns with their DuckDB types and meanings from core/schemas (the Columns section of the
    asset's page), the table's name, and every warehouse table it writes."""
    columns = [
        dg.TableColumn(c.name, type=column_type(c), description=c.doc) for c in table.columns
    ]
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": f"warehouse.main.{table.name}",
        "warehouse_tables": ", ".join(t.name for t in (table, *also)),
    }


def range_metadata(days: Sequence[date], counts: dict[date, int]) -> dict[str, dg.RawMetadataValue]:
    """What a person wants to know about the whole run (the same on every partition's event)."""
    with_games = [d for d, n in counts.items() if n]
    return {
        "run_partitions": f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0]),
        "run_rows": sum(counts.values()),
        "run_days_with_games": len(with_games),
        "run_days_without_games": len(days) - len(with_games),
    }


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    frame: pl.DataFrame,
    days: Sequence[date],
    date_column: str,
    game_column: str,
    extra: dict[str, pl.Expr] | None = None,
) -> None:
    """Each partition's own row and game counts on its own materialization event.

    A range run records one materialization per date; without this, every date would show the
    whole run's totals.
    """
    extra = extra or {}
    per_day = (
        frame.group_by(date_column)
        .agg(
            pl.len().alias("rows"),
            pl.col(game_column).n_unique().alias("games"),
            *(expr.alias(name) for name, expr in extra.items()),
        )
        .rows_by_key(date_column, named=True, unique=True)
    )
    by_partition = {}
    for day in days:
        found = per_day.get(day)
        meta: dict[str, dg.RawMetadataValue] = {
            "dagster/row_count": int(found["rows"]) if found else 0,
            "games": int(found["games"]) if found else 0,
        }
        for name in extra:
            meta[name] = found[name] if found else 0
        by_partition[day.isoformat()] = meta
    add_metadata_by_partition(context, by_partition)


def add_preview(context: dg.AssetExecutionContext, days: Sequence[date], frame: pl.DataFrame):
    """The run's first rows as a table, on its last date's materialization only (the one the
    asset's page shows). A range run records one event per date: a preview on each of them made
    a season's backfill serialize ~1,800 tables (one season's run: 12.0 s with them, 10.1 s)."""
    context.add_asset_metadata({"preview": table_value(frame)}, partition_key=days[-1].isoformat())


def check_specs(asset: str, **kwargs) -> list[dg.AssetCheckSpec]:
    """The check specs of `asset` from core.checks.ASSET_CHECKS (ERROR checks block)."""
    return [
        dg.AssetCheckSpec(c.name, asset=asset, blocking=c.blocking, description=c.description,
                          **kwargs)
        for c in asset_checks(asset)
    ]  # fmt: skip


def check_result(
    name: str, passed: bool, description: str, metadata: dict | None = None
) -> dg.AssetCheckResult:
    """A check's result, with the severity core.checks.ASSET_CHECKS gives its name."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity(severity_of(name)),
        description=description,
        metadata=metadata or {},
    )


def check_results(asset: str, outcomes: Iterable[CheckOutcome]) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=o.name,
            passed=o.passed,
            severity=dg.AssetCheckSeverity(o.severity),
            description=o.description,
            metadata={
                **o.metadata,
                **({"examples": table_value(o.examples)} if o.examples is not None else {}),
            },
        )
        for o in outcomes
    ]


def blocking_failures(outcomes: Iterable[CheckOutcome]) -> list[CheckOutcome]:
    return [o for o in outcomes if not o.passed and o.severity == "ERROR"]


RAW_TABLES = ("raw_player_game_logs", "raw_team_game_logs")


def stop_if_raw_rejected(
    asset: str, outcomes: list[CheckOutcome], lake, days: Sequence[date]
) -> Iterator[dg.AssetCheckResult]:
    """`stop_if_blocked` for the stage that checks the raw answers: on a blocking failure the
    raw files of `days` go to rejected/ and the previous (accepted) copies come back, so the
    audit copy is always the last accepted answer; otherwise nothing is yielded."""
    if not blocking_failures(outcomes):
        return
    note = reject_raw(lake, days)
    try:
        yield from stop_if_blocked(asset, outcomes)
    except dg.Failure as failure:
        raise dg.Failure(
            description=f"{failure.description}" + (f". {note}" if note else ""),
            metadata=failure.metadata,
        ) from None


def reject_raw(lake, days: Sequence[date]) -> str:
    """The raw answers of `days` were rejected: the previous copies come back (see
    `LakeResource.reject`); a sentence saying what was restored."""
    restored = {t: lake.reject(t, days) for t in RAW_TABLES}
    return "; ".join(
        f"{t}: the previous copy of {len(r)} day(s) restored, the new one kept in {t}/rejected/"
        for t, r in restored.items()
        if r
    )


def accept_raw(lake, days: Sequence[date]) -> None:
    """The raw answers of `days` passed the checks: their previous copies are dropped."""
    for table in RAW_TABLES:
        lake.accept(table, days)


def stop_if_blocked(asset: str, outcomes: list[CheckOutcome]) -> Iterator[dg.AssetCheckResult]:
    """Stop the step when the new rows failed a blocking check; otherwise yield nothing.

    The assets check their new rows before storing them. On a blocking failure this yields every
    check result (so the UI shows which check failed and why) and raises: failing rows are
    written nowhere, and a partition that was good stays good when a re-run brings bad data.
    Use it as `yield from stop_if_blocked(asset, outcomes)` before writing.
    """
    failed = blocking_failures(outcomes)
    if not failed:
        return
    yield from check_results(asset, outcomes)
    raise dg.Failure(
        description=f"{asset}: {len(failed)} blocking check(s) failed, nothing was written: "
        + "; ".join(f"{o.name}: {o.description}" for o in failed),
        metadata={o.name: o.description for o in failed},
    )


def store_days(
    lake, warehouse, table: Table, frame: pl.DataFrame, days: Sequence[date],
    date_column: str = "game_date",
) -> dict[date, int]:  # fmt: skip
    """The days' rows into the lake and the warehouse so that both have them or neither does:
    the lake files are staged, the warehouse replaces its rows in one transaction, and only
    then are the files renamed into place (a warehouse that cannot be written, say an
    analyst's session holding the file, leaves the lake as it was). Returns rows per day."""
    staged = lake.stage_days(table.name, frame, days, date_column)
    try:
        warehouse.replace_days(table, frame, days, date_column=date_column)
    except BaseException:
        staged.abort()
        raise
    staged.commit()
    return staged.counts


def image_markdown(path, alt: str) -> dg.MetadataValue:
    """A PNG embedded in markdown metadata (the UI shows it inline)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def production_manifest(registry, stat: str, purpose: str) -> tuple[str, dict]:
    """The stat's production version and its manifest; a Failure naming `purpose` without one."""
    version = registry.production_version(stat)
    if version is None:
        raise dg.Failure(f"{stat} has no production model: {purpose}")
    return version, registry.store.manifest(stat, version)


class FeatureWindow(NamedTuple):
    """What the features of some games may read, as stored in the lake."""

    history: pl.DataFrame  # player games of the window (player_game_stats)
    team_history: pl.DataFrame  # team games of the window (team_game_stats)
    prior: pl.DataFrame  # player_id, games: each player's games before the window
    start: date  # the first player game date of the window
    days_in_window: int  # game dates from `start` to the first target date
    days_stored: int  # of those, the dates the lake holds
    earlier_days: int  # stored dates before `start`, counted for career games


def read_feature_window(lake, first: date, last: date) -> FeatureWindow:
    """The lake's part of core.features.window_days for games on first..last (player_features
    reads it for a range of played days, daily_predictions with last = the day before its
    slate): the one reader, so a feature of a served slate sees exactly what the same feature
    of a played game saw."""
    start, team_start = window_days(first, last)
    stored = lake.stored_days("player_game_stats")
    window = [d for d in stored if start <= d <= last]
    earlier = [d for d in stored if d < start]
    teams = [d for d in lake.stored_days("team_game_stats") if team_start <= d <= last]
    schema = PLAYER_GAME_STATS.schema
    return FeatureWindow(
        history=lake.read_days("player_game_stats", window, schema),
        team_history=lake.read_days("team_game_stats", teams),
        prior=prior_games(lake.read_days("player_game_stats", earlier, schema, ["player_id"])),
        start=start,
        days_in_window=(first - start).days,
        days_stored=sum(d < first for d in window),
        earlier_days=len(earlier),
    )
