"""The morning schedule asks for yesterday plus the days stats.nba.com may still correct."""

from datetime import datetime

import dagster as dg

from statmuse_pipelines.automation.jobs import REINGEST_DAYS
from statmuse_pipelines.automation.schedules import daily_ingest_schedule
from statmuse_pipelines.settings import LEAGUE_TZ, Settings
from tests.conftest import TODAY
from tests.dagster.helpers import QUIET


def test_schedule_requests_the_trailing_days_as_one_run(home):
    at = datetime(TODAY.year, TODAY.month, TODAY.day, 6, 0, tzinfo=LEAGUE_TZ)
    context = dg.build_schedule_context(scheduled_execution_time=at)
    request = daily_ingest_schedule.evaluate_tick(context).run_requests[0]
    assert REINGEST_DAYS == 3
    assert request.run_key == "ingest-2025-11-14"
    assert request.tags["dagster/asset_partition_range_start"] == "2025-11-12"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-11-14"
    assert daily_ingest_schedule.cron_schedule == "0 6 * * *"
    assert daily_ingest_schedule.execution_timezone == "America/New_York"

    # the request runs as it would when the daemon launches it
    from statmuse_pipelines.definitions import build_definitions

    settings = Settings(home=home, seasons=1, today=TODAY)
    job = build_definitions(settings).resolve_job_def("refresh_game_days_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=request.tags, run_config=QUIET
    )
    assert result.success
    partitions = {m.partition for m in result.asset_materializations_for_node("player_game_stats")}
    assert partitions == {"2025-11-12", "2025-11-13", "2025-11-14"}
