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


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The game dates a run covers: one for a single partition, all of them for a range."""
    window = context.partition_time_window
    first = window.start.date()
    last = (window.end - timedelta(seconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
