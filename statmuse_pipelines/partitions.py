"""The one daily partitioning of everything dated: game dates on the league's calendar."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from statmuse_pipelines.settings import LEAGUE_TZ

FIRST_DATE = "2015-10-01"  # early enough for the real data from 2015-16 on

# end_offset=1: today's partition exists too, so today's slate can be predicted in the morning
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_DATE, timezone=str(LEAGUE_TZ), end_offset=1, fmt="%Y-%m-%d"
)

# A backfill of daily assets runs as one run (each reads and writes its own files for the range).
DAYS_IN_ONE_RUN = dg.BackfillPolicy.single_run()
# Stat-partitioned assets: a UI backfill of several stats is one run per stat. The stat assets
# (models, calibrators, walk-forward, backtests, drift) handle one stat per run, and the
# retrain_job that chains them after training_datasets must have one policy for all of them,
# so training_datasets has it too; the command line still builds the twelve datasets in one run
# (a partition range run, which a backfill policy does not govern).
ONE_STAT_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

# The morning's deadlines, on the league's calendar: the schedule ingests at 06:00 and the slate
# follows. The UI shows an asset that missed its window as late (its freshness).
INGEST_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 9 * * *", lower_bound_delta=timedelta(hours=4), timezone=str(LEAGUE_TZ)
)  # yesterday's box scores in by 09:00, taken after 05:00
SLATE_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 10 * * *", lower_bound_delta=timedelta(hours=5), timezone=str(LEAGUE_TZ)
)  # today's slate predicted by 10:00, after 05:00 (tip-offs are from noon on)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The game dates a run covers: one for a single partition, all of them for a range."""
    window = context.partition_time_window
    first = window.start.date()
    last = (window.end - timedelta(seconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def partition_span() -> tuple[date, date]:
    """The first and the last daily partition (today's, on the league's calendar)."""
    last = daily_partitions.get_last_partition_key()
    return date.fromisoformat(FIRST_DATE), date.fromisoformat(last)


def within_partitions(start: date, end: date, note) -> tuple[date, date]:
    """start..end moved inside the daily partitions, each move said through `note`; a range
    with nothing left in it is an error."""
    first, last = partition_span()
    if start < first:
        note(f"note: partitions start on {first}; starting there instead of {start}")
    if end > last:
        note(f"note: the last partition is {last}; ending there instead of {end}")
    start, end = max(start, first), min(end, last)
    if start > end:
        raise ValueError(f"nothing to do: start {start} is after end {end}")
    return start, end
