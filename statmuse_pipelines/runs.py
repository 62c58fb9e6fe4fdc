"""Running the project's jobs in-process against the Dagster instance at $DAGSTER_HOME.

This is what `statmuse demo`, `backfill`, `datasets` and `train` do: one single-run backfill per
season of game dates, one run for the twelve datasets, one run per stat for the models. The runs
are recorded in the instance, so the UI shows them afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from statmuse_pipelines.instance import Echo, cli_tags, ensure_dagster_home, open_instance
from statmuse_pipelines.settings import Settings, SettingsError

# the command prints its own progress and failures; Dagster's console log stays quiet
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# small settings for the demo: a minute or two for the twelve stats
DEMO_TRAINING = {"max_players": 20, "pooled_trials": 0, "player_trials": 0, "stacking_folds": 2}


def season_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """Split start..end at July 1 (season boundaries): one run per season, for progress."""
    out = []
    cur = start
    while cur <= end:
        boundary = date(cur.year if cur.month < 7 else cur.year + 1, 7, 1)
        last = min(end, boundary - timedelta(days=1))
        out.append((cur, last))
        cur = last + timedelta(days=1)
    return out


@dataclass
class RunReport:
    runs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checks: dict[str, dict[str, int]] = field(default_factory=dict)  # "asset.check" -> counts
    failed: str | None = None
    written: list[str] = field(default_factory=list)  # what the failed run stored before it failed

    def fail(self, result) -> None:
        """Record a failed run: its message, and what it wrote before the failure."""
        self.failed = failure_message(result)
        self.written = written_before_failure(result)

    kept_candidates: dict[str, str] = field(default_factory=dict)  # stat -> gate's reason
    skipped: dict[str, str] = field(default_factory=dict)  # stat -> why no training


def rows_materialized(result, asset: str) -> int:
    mats = result.asset_materializations_for_node(asset)
    if not mats:
        return 0
    value = mats[0].metadata.get("run_rows")
    return int(value.value) if value is not None else 0


def collect_checks(result, report: RunReport) -> None:
    import dagster as dg

    for ev in result.get_asset_check_evaluations():
        key = f"{ev.asset_key.to_user_string()}.{ev.check_name}"
        counts = report.checks.setdefault(key, {"passed": 0, "failed": 0, "warn": 0})
        counts["passed" if ev.passed else "failed"] += 1
        if not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN:
            counts["warn"] += 1


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
    chain = []
    while err is not None:
        chain.append(err)
        err = err.cause
    ours = next((e for e in chain if not (e.cls_name or "").startswith("Dagster")), chain[-1])
    message = ours.message.strip()
    # "module.Class: text" -> "text" for the project's own errors; library errors keep the name
    head, _, text = message.partition(": ")
    if ours.cls_name in OWN_ERRORS and head.endswith(ours.cls_name):
        return text.strip()
    return message


def _gate_refused(result) -> bool:
    """Whether the promotion gate refused this run's candidate."""
    return any(
        e.check_name == "promotion_gate" and not e.passed
        for e in result.get_asset_check_evaluations()
    )


def _record(result, report: RunReport) -> None:
    """A finished run into the report: its id and its check evaluations."""
    report.runs.append(result.run_id)
    collect_checks(result, report)


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
def progress(instance, run_id: str, label: str, echo: Echo, every: float | None = None):
    """While the block runs, a line every `every` seconds (PROGRESS_SECONDS): the label, the
    seconds so far and what the run `run_id` is doing (`_latest`), so a long training is never
    silent."""
    every = PROGRESS_SECONDS if every is None else every
    stop = threading.Event()
    began = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
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


def _days(job, instance, first: date, last: date, label: str, echo: Echo) -> Any:
    from statmuse_pipelines.sensors.jobs import range_tags

    tags = {**range_tags(first.isoformat(), last.isoformat()), "statmuse/cli": "backfill"}
    return execute(job, instance, label, echo, tags)


def _datasets(job, instance, report: RunReport, prefix: str, echo: Echo) -> None:
    from statmuse_pipelines.sensors.jobs import range_tags

    keys = job.partitions_def.get_partition_keys()
    _run(job, instance, report, f"{prefix} training datasets for {len(keys)} targets", echo,
         tags={**range_tags(keys[0], keys[-1]), "statmuse/cli": "datasets"})  # fmt: skip


def _models(
    settings: Settings, job, instance, stats: Sequence[str], training: dict, report: RunReport,
    step: int, steps: int, echo: Echo,
) -> None:  # fmt: skip
    from statmuse_pipelines.resources.lake import LakeResource

    lake = LakeResource(root=str(settings.lake_dir))
    config = {**QUIET, "ops": {"player_models": {"config": training}}}
    for i, stat in enumerate(stats):
        t0 = time.monotonic()
        manifest = lake.read_manifest(stat)
        empty = [s for s, n in (manifest or {}).get("rows", {}).items() if n == 0]
        if manifest is None or empty:
            why = "no dataset" if manifest is None else f"no {' or '.join(empty)} rows"
            echo(f"[{step + i}/{steps}] models {stat:<8} skipped: {why} (too few game dates)")
            report.skipped[stat] = why
            continue
        label = f"[{step + i}/{steps}] models {stat:<8}"
        tags = {"statmuse/cli": "train"}
        result = execute(job, instance, label, echo, tags, partition_key=stat, run_config=config)
        _record(result, report)
        mats = result.asset_materializations_for_node("player_models")
        meta = mats[0].metadata if mats else {}
        if result.success and _gate_refused(result):
            report.kept_candidates[stat] = meta["decision"].value
            outcome = f"kept as candidate: {meta['decision'].value}"
        elif result.success:
            outcome = f"{meta['stage'].value}: {meta['decision'].value}"
        else:
            outcome = "FAILED"
            report.fail(result)
        echo(
            f"[{step + i}/{steps}] models {stat:<8} {time.monotonic() - t0:5.1f}s  {outcome}"
            f"  (run {result.run_id})"
        )
        if report.failed:
            return


def _lines_span(settings: Settings) -> tuple[date, date] | None:
    """The game dates the lines source covers, within the partitions (None for proxies)."""
    from statmuse_pipelines.partitions import FIRST_DATE, daily_partitions
    from statmuse_pipelines.resources.factory import lines_resource

    span = lines_resource(settings).dates()
    if span is None:
        return None
    lo = max(span[0], date.fromisoformat(FIRST_DATE))
    hi = min(span[1], date.fromisoformat(daily_partitions.get_last_partition_key()))
    return (lo, hi) if lo <= hi else None


def _kind(settings: Settings) -> str:
    return "the simulated book" if settings.lines == "synthetic" else "real"


def _match_rate(result) -> str:
    mats = result.asset_materializations_for_node("market_lines")
    meta = mats[0].metadata if mats else {}
    keys = ("match_rate_on_covered_dates", "quotes_kept", "quotes")
    rate, kept, read = (meta.get(k) for k in keys)
    quotes = f", {kept.value:,} of {read.value:,} quotes kept" if kept and read else ""
    return f", {rate.value:.1%} of spellings matched{quotes})" if rate is not None else ")"


def _evaluate(
    settings: Settings, defs, instance, stats: Sequence[str], report: RunReport, step: int,
    steps: int, echo: Echo, walk_forward: dict | None = None,
) -> None:  # fmt: skip
    """Match the lines once, then calibrate, evaluate walk-forward (`walk_forward`: its config)
    and backtest each stat that has a production model."""
    from statmuse_pipelines.sensors.jobs import range_tags

    span = _lines_span(settings)
    if span is None:
        echo(f"[{step}/{steps}] market lines: proxy lines (labelled; nothing to store)")
    else:
        first, last = span
        tags = {**range_tags(first.isoformat(), last.isoformat()), "statmuse/cli": "evaluate"}
        _run(defs.resolve_job_def("match_lines_job"), instance, report,
             f"[{step}/{steps}] market lines {first}..{last} ({_kind(settings)}", echo,
             detail=_match_rate, tags=tags)  # fmt: skip
        if report.failed:
            return
    registry = defs.resources["registry"]
    job = defs.resolve_job_def("evaluate_models_job")
    for i, stat in enumerate(stats, 1):
        if registry.production_version(stat) is None:
            echo(f"[{step + i}/{steps}] evaluate {stat:<8} skipped: no production model")
            continue
        t0 = time.monotonic()
        config = {**QUIET, "ops": {"walk_forward_predictions": {"config": walk_forward or {}}}}
        label = f"[{step + i}/{steps}] evaluate {stat:<8}"
        tags = {"statmuse/cli": "evaluate"}
        result = execute(job, instance, label, echo, tags, partition_key=stat, run_config=config)
        _record(result, report)
        status = "ok" if result.success else "FAILED"
        mats = result.asset_materializations_for_node("walk_forward_predictions")
        period = f" {mats[0].metadata['period'].value}" if mats else ""
        echo(
            f"[{step + i}/{steps}] evaluate {stat:<8} calibrated, walk-forward{period}, "
            f"backtested  {time.monotonic() - t0:5.1f}s  {status}  (run {result.run_id})"
        )
        if not result.success:
            report.fail(result)
            return


def run_pipeline(
    settings: Settings,
    start: date,
    end: date,
    training: dict | None = None,
    echo: Echo = print,
    live_until: date | None = None,
    stats: list[str] | None = None,
    walk_forward: dict | None = None,
) -> RunReport:
    """Every stage for start..end: game days by season, then datasets, models per stat, lines,
    calibration and backtests; then, with `live_until`, the days after `end` one at a time
    (predict, ingest, grade) up to the predictions of `live_until`. `stats` limits the models,
    calibrators and backtests to those targets (default: all twelve)."""

    from statmuse_pipelines.core.datasets import TARGETS
    from statmuse_pipelines.definitions import build_definitions
    from statmuse_pipelines.partitions import FIRST_DATE, daily_partitions

    ensure_dagster_home(settings)
    first_key = date.fromisoformat(FIRST_DATE)
    last_key = date.fromisoformat(daily_partitions.get_last_partition_key())
    if start < first_key:
        echo(f"note: partitions start on {first_key}; starting there instead of {start}")
        start = first_key
    if end > last_key:
        echo(f"note: the last partition is {last_key}; ending there instead of {end}")
        end = last_key
    if start > end:
        raise SettingsError(f"nothing to do: start {start} is after end {end}")

    defs = build_definitions(settings)
    days_job = defs.resolve_job_def("refresh_game_days_job")
    report = RunReport()
    began = time.monotonic()
    chunks = season_chunks(start, end)
    stats = list(stats or TARGETS)
    steps = len(chunks) + 1 + len(stats) + 1 + len(stats)
    with open_instance(settings) as instance:
        for i, (a, b) in enumerate(chunks, 1):
            t0 = time.monotonic()
            result = _days(days_job, instance, a, b, f"[{i}/{steps}] {a}..{b}", echo)
            _record(result, report)
            rows = rows_materialized(result, "player_game_stats")
            status = "ok" if result.success else "FAILED"
            echo(
                f"[{i}/{steps}] {a}..{b}  {rows:>7,} player-games, features  "
                f"{time.monotonic() - t0:5.1f}s  {status}  (run {result.run_id})"
            )
            if not result.success:
                report.fail(result)
                break
        if report.failed is None:
            step = len(chunks) + 1
            _datasets(defs.resolve_job_def("build_training_datasets_job"), instance, report,
                      f"[{step}/{steps}]", echo)  # fmt: skip
        if report.failed is None:
            _models(settings, defs.resolve_job_def("train_models_job"), instance, stats,
                    training or {}, report, len(chunks) + 2, steps, echo)  # fmt: skip
        if report.failed is None:
            _evaluate(settings, defs, instance, stats, report,
                      len(chunks) + 2 + len(stats), steps, echo, walk_forward)  # fmt: skip
        if report.failed is None and live_until is not None:
            echo(f"daily operations, {end + timedelta(days=1)}..{live_until}:")
            live_days(settings, defs, instance, end + timedelta(days=1), live_until, report, echo)
    report.seconds = time.monotonic() - began
    return report


def _run(job, instance, report: RunReport, label: str, echo: Echo, detail=None, **kwargs) -> Any:
    """One in-process run, recorded and reported on one line (`detail(result)`: more words for
    the label, from what the run found)."""
    t0 = time.monotonic()
    result = execute(job, instance, label, echo, kwargs.pop("tags", None) or {}, **kwargs)
    _record(result, report)
    status = "ok" if result.success else "FAILED"
    label += detail(result) if detail else ""
    echo(f"{label}  {time.monotonic() - t0:5.1f}s  {status}  (run {result.run_id})")
    if not result.success:
        report.fail(result)
    return result


def live_days(
    settings: Settings, defs, instance, first: date, last: date, report: RunReport, echo: Echo
) -> None:
    """Operate day by day as the morning schedule does: predict the day's slate before its games
    are ingested, ingest them, grade the predictions; then predict `last`."""
    from statmuse_pipelines.sensors.jobs import range_tags

    predict = defs.resolve_job_def("predict_slate_job")
    refresh = defs.resolve_job_def("refresh_game_days_job")
    grade = defs.resolve_job_def("grade_predictions_job")
    day = first
    while day < last and report.failed is None:
        tags = range_tags(day.isoformat(), day.isoformat())
        _run(predict, instance, report, f"  {day} predict", echo, partition_key=day.isoformat())
        if report.failed is None:
            _run(refresh, instance, report, f"  {day} ingest ", echo, tags=tags)
        if report.failed is None:
            _run(grade, instance, report, f"  {day} grade  ", echo, tags=tags)
        if report.failed is None and day + timedelta(days=1) == last:
            check_drift(defs, instance, report, f"  {day} drift  ", echo)
        day += timedelta(days=1)
    if report.failed is None:
        _run(predict, instance, report, f"  {last} predict", echo, partition_key=last.isoformat())
    if report.failed is None:
        file_alerts(defs, instance, echo)


def check_drift(defs, instance, report: RunReport, label: str, echo: Echo) -> None:
    """The drift check of every stat that has a production model (one run each, as the morning
    sensor asks for them); a failed check is a WARN that asks for a retrain, not a failed run."""
    from statmuse_pipelines.core.datasets import TARGETS
    from statmuse_pipelines.core.drift import DRIFT_CHECKS

    watched = {name: what for what, name in DRIFT_CHECKS.items()}

    registry = defs.resources["registry"]
    job = defs.resolve_job_def("check_drift_job")
    served = [s for s in TARGETS if registry.production_version(s) is not None]
    if not served:
        echo(f"{label}no stat has a production model yet: nothing to check")
        return
    t0, drifted = time.monotonic(), []
    for stat in served:
        result = execute(job, instance, f"{label}{stat}", echo, {"statmuse/cli": "drift"},
                         partition_key=stat)  # fmt: skip
        _record(result, report)
        if not result.success:
            report.fail(result)
            return
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        if failed:
            drifted.append(f"{stat} ({', '.join(watched.get(n, n) for n in failed)})")
    found = f"drifted: {'; '.join(drifted)}" if drifted else "no drift"
    echo(f"{label}{len(served)} stats, {found}  {time.monotonic() - t0:5.1f}s  ok")


def file_alerts(defs, instance, echo: Echo) -> None:
    """One tick of the alert sensor, as the daemon would run it: the failed checks and failed
    runs so far become rows in `alerts` (and POSTs to the webhook when one is set)."""
    import dagster as dg

    from statmuse_pipelines.sensors.operations import alert_sensor

    resources = {"warehouse": defs.resources["warehouse"], "alerts": defs.resources["alerts"]}
    logging.disable(logging.INFO)  # the sensor's own log line: the command prints its own
    try:  # a context manager: the warehouse resource is set up and torn down around the tick
        with dg.build_sensor_context(
            instance=instance, definitions=defs, resources=resources
        ) as context:
            tick = alert_sensor(context)
    finally:
        logging.disable(logging.NOTSET)
    echo(f"  alerts: {getattr(tick, 'skip_message', None) or 'filed'}")


def run_day(settings: Settings, day: date, echo: Echo = print) -> RunReport:
    """The daily path for `day`: refresh and grade the three days before it, then predict it."""

    from statmuse_pipelines.definitions import build_definitions
    from statmuse_pipelines.sensors.jobs import REINGEST_DAYS, range_tags

    ensure_dagster_home(settings)
    defs = build_definitions(settings)
    report = RunReport()
    began = time.monotonic()
    first, last = day - timedelta(days=REINGEST_DAYS), day - timedelta(days=1)
    tags = range_tags(first.isoformat(), last.isoformat())
    with open_instance(settings) as instance:
        _run(defs.resolve_job_def("refresh_game_days_job"), instance, report,
             f"[1/3] {first}..{last} ingest", echo, tags=tags)  # fmt: skip
        if report.failed is None:
            _run(defs.resolve_job_def("grade_predictions_job"), instance, report,
                 f"[2/3] {first}..{last} grade ", echo, tags=tags)  # fmt: skip
        if report.failed is None:
            _run(defs.resolve_job_def("predict_slate_job"), instance, report,
                 f"[3/3] {day} predict", echo, partition_key=day.isoformat())  # fmt: skip
    report.seconds = time.monotonic() - began
    return report


def run_datasets(settings: Settings, echo: Echo = print) -> RunReport:
    """Rebuild the twelve training datasets from the features already stored."""

    from statmuse_pipelines.definitions import build_definitions

    ensure_dagster_home(settings)
    job = build_definitions(settings).resolve_job_def("build_training_datasets_job")
    report = RunReport()
    began = time.monotonic()
    with open_instance(settings) as instance:
        _datasets(job, instance, report, "[1/1]", echo)
    report.seconds = time.monotonic() - began
    return report


def run_evaluation(
    settings: Settings, stats: Sequence[str], echo: Echo = print, walk_forward: dict | None = None
) -> RunReport:
    """Match lines, then calibrate, evaluate walk-forward and backtest the production models of
    `stats` (`walk_forward`: the walk_forward_predictions config, e.g. its period)."""

    from statmuse_pipelines.definitions import build_definitions

    ensure_dagster_home(settings)
    defs = build_definitions(settings)
    report = RunReport()
    began = time.monotonic()
    with open_instance(settings) as instance:
        _evaluate(settings, defs, instance, stats, report, 1, 1 + len(stats), echo, walk_forward)
    report.seconds = time.monotonic() - began
    return report


def run_training(
    settings: Settings, stats: Sequence[str], training: dict | None = None, echo: Echo = print
) -> RunReport:
    """Train (or reuse), measure and gate the models of `stats` from the stored datasets."""

    from statmuse_pipelines.definitions import build_definitions

    ensure_dagster_home(settings)
    job = build_definitions(settings).resolve_job_def("train_models_job")
    report = RunReport()
    began = time.monotonic()
    with open_instance(settings) as instance:
        _models(settings, job, instance, stats, training or {}, report, 1, len(stats), echo)
    report.seconds = time.monotonic() - began
    return report
