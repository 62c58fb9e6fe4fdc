"""Running the project's jobs in tests, the way the CLI and a single-run backfill do."""

from __future__ import annotations

from datetime import date

import dagster as dg

from statmuse_pipelines.automation.jobs import range_tags
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.settings import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def run_range(
    settings: Settings,
    first: date,
    last: date,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("refresh_game_days_job")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=range_tags(first.isoformat(), last.isoformat()),
        run_config={**QUIET, **(run_config or {})},
        raise_on_error=raise_on_error,
    )


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            out[f"{ev.asset_key.to_user_string()}.{ev.check_name}"] = ev.passed
    return out
