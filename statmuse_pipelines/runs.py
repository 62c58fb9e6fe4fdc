"""Running the project's jobs in-process against the Dagster instance at $DAGSTER_HOME.

Each command (`statmuse demo`, `backfill`, `predict`, `datasets`, `train`, `evaluate`) is a list
of steps, a run each, which `run_steps` runs in order and reports on a line each, up to the first
failure. The runs are recorded in the instance, so the UI shows them afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from itertools import chain
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
    kept_candidates: dict[str, str] = field(default_factory=dict)  # stat -> gate's reason
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


def _range(first, last, command: str | None = None) -> dict[str, str]:
    """The tags of one run over the partitions first..last, and the command that made it."""
    from statmuse_pipelines.automation.jobs import range_tags

    tags = range_tags(str(first), str(last))
    return {**tags, "statmuse/cli": command} if command else tags


def _partition_span() -> tuple[date, date]:
    from statmuse_pipelines.partitions import FIRST_DATE, daily_partitions

    last = daily_partitions.get_last_partition_key()
    return date.fromisoformat(FIRST_DATE), date.fromisoformat(last)


def _player_games(result) -> str:
    mats = result.asset_materializations_for_node("player_game_stats")
    rows = mats[0].metadata.get("run_rows") if mats else None
    return f"  {int(rows.value) if rows is not None else 0:>7,} player-games, features"


def _datasets(defs) -> Step:
    job = "build_training_datasets_job"
    keys = defs.resolve_job_def(job).partitions_def.get_partition_keys()
    tags = _range(keys[0], keys[-1], "datasets")
    return Step(f"training datasets for {len(keys)} targets", job, tags=tags)


def _models(defs, stats: Sequence[str], training: dict, report: RunReport) -> Iterator[Step]:
    """Train (or reuse), measure and gate each stat's models; a stat whose dataset lacks a split
    is skipped (its manifest is read when its turn comes, after the datasets were built)."""
    config = {"ops": {"player_models": {"config": training}}}
    for stat in stats:
        manifest = defs.resources["lake"].read_manifest(stat)
        empty = [s for s, n in (manifest or {}).get("rows", {}).items() if n == 0]
        if manifest is None or empty:
            why = "no dataset" if manifest is None else f"no {' or '.join(empty)} rows"
            report.skipped[stat] = why
            yield Step(f"models {stat:<7}  skipped: {why} (too few game dates)")
            continue
        outcome = partial(_promotion, report, stat)
        yield Step(f"models {stat:<7}", "train_models_job", stat, {"statmuse/cli": "train"},
                   config, outcome=outcome)  # fmt: skip


def _promotion(report: RunReport, stat: str, result) -> str:
    """What the promotion gate decided; a candidate it refused stays one, as the summary says."""
    meta = result.asset_materializations_for_node("player_models")[0].metadata
    decision = meta["decision"].value
    checks = result.get_asset_check_evaluations()
    if any(e.check_name == "promotion_gate" and not e.passed for e in checks):
        report.kept_candidates[stat] = decision
        return f"kept as candidate: {decision}"
    return f"{meta['stage'].value}: {decision}"


def _match_rate(result) -> str:
    mats = result.asset_materializations_for_node("market_lines")
    meta = mats[0].metadata if mats else {}
    keys = ("match_rate_on_covered_dates", "quotes_kept", "quotes")
    rate, kept, read = (meta.get(k) for k in keys)
    quotes = f", {kept.value:,} of {read.value:,} quotes kept" if kept and read else ""
    return f", {rate.value:.1%} of spellings matched{quotes})" if rate is not None else ")"


def _walk_forward(result) -> str:
    mats = result.asset_materializations_for_node("walk_forward_predictions")
    period = f" {mats[0].metadata['period'].value}" if mats else ""
    return f"  calibrated, walk-forward{period}, backtested"


def _evaluation(defs, stats: Sequence[str], walk_forward: dict | None) -> Iterator[Step]:
    """Match the lines of the dates the source covers (none for proxies), then calibrate,
    evaluate walk-forward (`walk_forward`: its config) and backtest each stat that has a
    production model (asked when its turn comes, after the training before it)."""
    lines, (first, last) = defs.resources["lines"], _partition_span()
    span = lines.dates()
    lo, hi = (max(span[0], first), min(span[1], last)) if span else (None, None)
    if span is None or lo > hi:
        yield Step("market lines: proxy lines (labelled; nothing to store)")
    else:
        kind = "the simulated book" if lines.is_synthetic() else "real"
        yield Step(f"market lines {lo}..{hi} ({kind}", "match_lines_job",
                   tags=_range(lo, hi, "evaluate"), describe=_match_rate)  # fmt: skip
    config = {"ops": {"walk_forward_predictions": {"config": walk_forward or {}}}}
    for stat in stats:
        if defs.resources["registry"].production_version(stat) is None:
            yield Step(f"evaluate {stat:<7}  skipped: no production model")
        else:
            yield Step(f"evaluate {stat:<7}", "evaluate_models_job", stat,
                       {"statmuse/cli": "evaluate"}, config, describe=_walk_forward)  # fmt: skip


def _live(defs, first: date, last: date) -> Iterator[Step]:
    """Day by day as the morning schedule operates: predict the day's slate before its games are
    ingested, ingest them, grade the predictions; drift after the last day; then predict `last`."""
    for day in (first + timedelta(days=n) for n in range((last - first).days)):
        yield Step(f"  {day} predict", "predict_slate_job", str(day))
        yield Step(f"  {day} ingest ", "refresh_game_days_job", tags=_range(day, day))
        yield Step(f"  {day} grade  ", "grade_predictions_job", tags=_range(day, day))
    if first < last:
        yield _drift(defs, f"  {last - timedelta(days=1)} drift  ")
    yield Step(f"  {last} predict", "predict_slate_job", str(last))


def _drift(defs, label: str) -> Step:
    """The drift check of every stat that has a production model, a run each as the morning
    sensor asks for them; a failed check is a WARN that asks for a retrain, not a failed run."""
    from statmuse_pipelines.core.datasets import TARGETS

    production = defs.resources["registry"].production_versions()
    served = [stat for stat in TARGETS if stat in production]
    if not served:
        return Step(f"{label}no stat has a production model yet: nothing to check")
    describe = partial(_drifted, served)
    return Step(label, "check_drift_job", served, {"statmuse/cli": "drift"}, describe=describe)


def _drifted(served: list[str], *results) -> str:
    from statmuse_pipelines.core.drift import DRIFT_CHECKS

    watched = {name: what for what, name in DRIFT_CHECKS.items()}
    drifted = []
    for stat, result in zip(served, results, strict=False):
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        if failed:
            drifted.append(f"{stat} ({', '.join(watched.get(n, n) for n in failed)})")
    return f"{len(served)} stats, " + (f"drifted: {'; '.join(drifted)}" if drifted else "no drift")


def live_days(defs, instance, first: date, last: date, report: RunReport, echo: Echo) -> None:
    """Operate first..last as the morning schedule does (`_live`), then file the alerts."""
    run_steps(defs, instance, _live(defs, first, last), echo, report)
    if report.failed is None:
        file_alerts(defs, instance, echo)


def file_alerts(defs, instance, echo: Echo) -> None:
    """One tick of the alert sensor, as the daemon would run it: the failed checks and failed
    runs so far become rows in `alerts` (and POSTs to the webhook when one is set)."""
    import dagster as dg

    from statmuse_pipelines.automation.sensors import alert_sensor

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


@contextmanager
def _session(settings: Settings) -> Iterator[tuple[Any, Any, RunReport]]:
    """A command's definitions, instance and report (whose seconds are the command's)."""
    from statmuse_pipelines.definitions import build_definitions

    ensure_dagster_home(settings)
    defs, report, began = build_definitions(settings), RunReport(), time.monotonic()
    with open_instance(settings) as instance:
        yield defs, instance, report
    report.seconds = time.monotonic() - began


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

    first, last = _partition_span()
    if start < first:
        echo(f"note: partitions start on {first}; starting there instead of {start}")
        start = first
    if end > last:
        echo(f"note: the last partition is {last}; ending there instead of {end}")
        end = last
    if start > end:
        raise SettingsError(f"nothing to do: start {start} is after end {end}")
    chunks, stats = season_chunks(start, end), list(stats or TARGETS)
    with _session(settings) as (defs, instance, report):
        days = (Step(f"{a}..{b}", "refresh_game_days_job", tags=_range(a, b, "backfill"),
                     describe=_player_games) for a, b in chunks)  # fmt: skip
        steps = chain(days, [_datasets(defs)], _models(defs, stats, training or {}, report),
                      _evaluation(defs, stats, walk_forward))  # fmt: skip
        run_steps(defs, instance, steps, echo, report, len(chunks) + 2 + 2 * len(stats))
        if report.failed is None and live_until is not None:
            echo(f"daily operations, {end + timedelta(days=1)}..{live_until}:")
            live_days(defs, instance, end + timedelta(days=1), live_until, report, echo)
    return report


def run_day(settings: Settings, day: date, echo: Echo = print) -> RunReport:
    """The daily path for `day`: refresh and grade the three days before it, then predict it."""
    from statmuse_pipelines.automation.jobs import REINGEST_DAYS

    first, last = day - timedelta(days=REINGEST_DAYS), day - timedelta(days=1)
    with _session(settings) as (defs, instance, report):
        steps = [
            Step(f"{first}..{last} ingest", "refresh_game_days_job", tags=_range(first, last)),
            Step(f"{first}..{last} grade ", "grade_predictions_job", tags=_range(first, last)),
            Step(f"{day} predict", "predict_slate_job", str(day)),
        ]
        run_steps(defs, instance, steps, echo, report, total=3)
    return report


def run_datasets(settings: Settings, echo: Echo = print) -> RunReport:
    """Rebuild the twelve training datasets from the features already stored."""
    with _session(settings) as (defs, instance, report):
        run_steps(defs, instance, [_datasets(defs)], echo, report, total=1)
    return report


def run_evaluation(
    settings: Settings, stats: Sequence[str], echo: Echo = print, walk_forward: dict | None = None
) -> RunReport:
    """Match lines, then calibrate, evaluate walk-forward and backtest the production models of
    `stats` (`walk_forward`: the walk_forward_predictions config, e.g. its period)."""
    with _session(settings) as (defs, instance, report):
        steps = _evaluation(defs, stats, walk_forward)
        run_steps(defs, instance, steps, echo, report, total=1 + len(stats))
    return report


def run_training(
    settings: Settings, stats: Sequence[str], training: dict | None = None, echo: Echo = print
) -> RunReport:
    """Train (or reuse), measure and gate the models of `stats` from the stored datasets."""
    with _session(settings) as (defs, instance, report):
        steps = _models(defs, stats, training or {}, report)
        run_steps(defs, instance, steps, echo, report, total=len(stats))
    return report
