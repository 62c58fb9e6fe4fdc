"""One in-process run of a job as the `statmuse` command makes it, and a list of them.

`execute` runs a job tagged as the command's (instance.cli_tags) with a progress line every
PROGRESS_SECONDS; `run_steps` runs a list of `Step`s in order, a line each, up to the first
failure, into a `RunReport`: the runs, their checks, and the failure in the project's own words
(`failure_message`). runs.py says which steps each command makes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from statmuse_pipelines.instance import Echo, cli_tags

# the command prints its own progress and failures; Dagster's console log stays quiet
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RunReport:
    runs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checks: dict[str, dict[str, int]] = field(default_factory=dict)  # "asset.check" -> counts
    failed: str | None = None
    written: list[str] = field(default_factory=list)  # what the failed run stored before it failed
    kept_candidates: dict[str, str] = field(default_factory=dict)  # stat -> why not promoted
    skipped: dict[str, str] = field(default_factory=dict)  # stat -> why no training

    def record(self, result) -> None:
        """A finished run: its id, its check evaluations and, if it failed, the failure's message
        and what the run wrote before it."""
        import dagster as dg

        self.runs.append(result.run_id)
        for ev in result.get_asset_check_evaluations():
            key = f"{ev.asset_key.to_user_string()}.{ev.check_name}"
            counts = self.checks.setdefault(key, {"passed": 0, "failed": 0, "warn": 0})
            counts["passed" if ev.passed else "failed"] += 1
            if not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN:
                counts["warn"] += 1
            if ev.check_name == "promotion_gate" and not ev.passed:  # the candidate stays one
                stat = result.dagster_run.tags.get("dagster/partition", "")
                self.kept_candidates[stat] = (ev.description or "").removeprefix("not promoted: ")
        if not result.success:
            self.failed, self.written = failure_message(result), written_before_failure(result)


def failure_message(result) -> str:
    """The failed step and the project's own message: the outermost error that is not one of
    Dagster's wrappers (a Failure's description names the file, row and what to do; the
    library error under it does not), else the innermost cause."""
    for event in result.get_step_failure_events():
        return f"step {event.step_key} failed: {_user_message(event.step_failure_data.error)}"
    return "the run failed (see `statmuse ui` for the logs)"


OWN_ERRORS = (
    "Failure",
    "GameLogError",
    "SettingsError",
    "NormalizationError",
    "CorruptPartitionError",
)


def written_before_failure(result) -> list[str]:
    """The assets a failed run materialized before it failed, with how many partitions."""
    events = result.get_asset_materialization_events()
    counts = Counter(event.asset_key.to_user_string() for event in events)
    return [f"{k} ({n} partition{'s' if n > 1 else ''})" for k, n in counts.items()]


def _user_message(err) -> str:
    causes = []
    while err is not None:
        causes.append(err)
        err = err.cause
    ours = next((e for e in causes if not (e.cls_name or "").startswith("Dagster")), causes[-1])
    message = ours.message.strip()
    # "module.Class: text" -> "text" for the project's own errors; library errors keep the name
    head, _, text = message.partition(": ")
    if ours.cls_name in OWN_ERRORS and head.endswith(ours.cls_name):
        return text.strip()
    return message


PROGRESS_SECONDS = 30.0  # a long run prints a line at least this often


def _latest(instance, run_id: str) -> str:
    """What a run is doing: its newest log message (the asset's own words when it logged any,
    else the step that last started or finished)."""
    records = instance.get_records_for_run(run_id, limit=50, ascending=False).records
    for record in records:
        entry = record.event_log_entry
        if entry.dagster_event is None and entry.user_message:
            return entry.user_message.splitlines()[0][:140]
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_key:
            return f"{event.step_key}: {event.event_type_value.lower().replace('_', ' ')}"
    return "starting"


@contextmanager
def progress(instance, run_id: str, label: str, echo: Echo):
    """While the block runs, a line every PROGRESS_SECONDS: the label, the seconds so far and
    what the run `run_id` is doing (`_latest`), so a long training is never silent."""
    stop, began = threading.Event(), time.monotonic()

    def beat() -> None:
        while not stop.wait(PROGRESS_SECONDS):
            try:
                doing = _latest(instance, run_id)
            except Exception as exc:  # a busy event log never stops the run itself
                doing = f"(progress unavailable: {type(exc).__name__})"
            echo(f"{label.strip()}  ... {time.monotonic() - began:4.0f}s so far: {doing}")

    thread = threading.Thread(target=beat, name=f"progress-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def execute(job, instance, label: str, echo: Echo, tags: dict[str, str], **kwargs) -> Any:
    """One in-process run of `job` as the command makes them: tagged (cli_tags), errors kept in
    the result, and a progress line every PROGRESS_SECONDS while it runs."""
    run_id = str(uuid.uuid4())
    kwargs.setdefault("run_config", QUIET)
    with progress(instance, run_id, label, echo):
        return job.execute_in_process(
            instance=instance, run_id=run_id, tags=cli_tags(tags), raise_on_error=False, **kwargs
        )


@dataclass
class Step:
    """A line of a command's output: a run of `job` (one per key when `partition` is a list, told
    on one line), or without a job the label alone (a stage skipped, and why)."""

    label: str
    job: str | None = None
    partition: str | list[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # run config besides QUIET
    describe: Callable[..., str] = lambda *results: ""  # words after the label, from the runs
    outcome: Callable[[Any], str] | None = None  # what a successful run did, instead of "ok"


def run_steps(
    defs, instance, steps: Iterable[Step], echo: Echo, report: RunReport | None = None,
    total: int = 0,
) -> RunReport:  # fmt: skip
    """Run `steps` in order (numbered [i/total] when `total` is given), each recorded in `report`
    and told on one line, up to the first failure. Steps are taken one at a time, so a generator
    can build a step from what the runs before it stored."""
    report = RunReport() if report is None else report
    for i, step in enumerate(steps, 1):
        label = f"[{i}/{total}] {step.label}" if total else step.label
        if step.job is None:
            echo(label)
            continue
        job, config = defs.resolve_job_def(step.job), {**QUIET, **step.config}
        began, results, many = time.monotonic(), [], isinstance(step.partition, list)
        for key in step.partition if many else [step.partition]:
            name = f"{label}{key}" if many else label
            result = execute(
                job, instance, name, echo, step.tags, partition_key=key, run_config=config
            )
            report.record(result)
            results.append(result)
            if not result.success:
                break
        status = "FAILED" if not result.success else step.outcome(result) if step.outcome else "ok"
        run = "" if many else f"  (run {result.run_id})"
        echo(f"{label}{step.describe(*results)}  {time.monotonic() - began:5.1f}s  {status}{run}")
        if report.failed:
            break
    return report
