"""Running the project's jobs in-process against the Dagster instance at $DAGSTER_HOME: each
command (`statmuse demo`, `backfill`, `predict`, `datasets`, `train`, `evaluate`) is a list of
steps, a run each, that `execution.run_steps` runs in order, a line each, up to the first
failure. The runs are recorded in the instance, so the UI shows them afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from functools import partial
from itertools import chain

from statmuse_pipelines import reporting
from statmuse_pipelines.execution import RunReport, Step, run_steps
from statmuse_pipelines.instance import Echo, ensure_dagster_home, open_instance
from statmuse_pipelines.settings import Settings

# small settings for the demo: a minute or two for the twelve stats
DEMO_TRAINING = {"max_players": 20, "pooled_trials": 0, "player_trials": 0, "stacking_folds": 2}


def _range(first, last, command: str | None = None) -> dict[str, str]:
    """The tags of one run over the partitions first..last, and the command that made it."""
    from statmuse_pipelines.automation.jobs import range_tags

    tags = range_tags(str(first), str(last))
    return {**tags, "statmuse/cli": command} if command else tags


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
        yield Step(f"models {stat:<7}", "train_models_job", stat, {"statmuse/cli": "train"},
                   config, outcome=reporting.promoted)  # fmt: skip


def _evaluation(defs, stats: Sequence[str], walk_forward: dict | None) -> Iterator[Step]:
    """Match the lines of the dates the source covers (none for proxies), then calibrate,
    evaluate walk-forward (`walk_forward`: its config) and backtest each stat that has a
    production model (asked when its turn comes, after the training before it)."""
    from statmuse_pipelines.partitions import partition_span

    lines, (first, last) = defs.resources["lines"], partition_span()
    span = lines.dates()
    lo, hi = (max(span[0], first), min(span[1], last)) if span else (None, None)
    if span is None or lo > hi:
        yield Step("market lines: proxy lines (labelled; nothing to store)")
    else:
        kind = "the simulated book" if lines.is_synthetic() else "real"
        yield Step(f"market lines {lo}..{hi} ({kind}", "match_lines_job",
                   tags=_range(lo, hi, "evaluate"), describe=reporting.matched)  # fmt: skip
    config = {"ops": {"walk_forward_predictions": {"config": walk_forward or {}}}}
    for stat in stats:
        if defs.resources["registry"].production_version(stat) is None:
            yield Step(f"evaluate {stat:<7}  skipped: no production model")
        else:
            tags = {"statmuse/cli": "evaluate"}
            yield Step(f"evaluate {stat:<7}", "evaluate_models_job", stat, tags, config,
                       describe=reporting.evaluated)  # fmt: skip


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
    describe = partial(reporting.drifted, served)
    return Step(label, "check_drift_job", served, {"statmuse/cli": "drift"}, describe=describe)


def live_days(defs, instance, first: date, last: date, report: RunReport, echo: Echo) -> None:
    """Operate first..last as the morning schedule does (`_live`), then file the alerts: one
    tick of the alert sensor, as the daemon would run it (failed runs are the daemon's
    failed_run_sensor's; the command prints its own failure and stops)."""
    from statmuse_pipelines.automation.sensors import alert_tick

    run_steps(defs, instance, _live(defs, first, last), echo, report)
    if report.failed is None:
        echo(f"  alerts: {alert_tick(defs, instance)}")


def _run(settings: Settings, plan, echo: Echo, total: int = 0) -> RunReport:
    """The steps `plan(defs, report)` makes, run in one session of the command's definitions
    and instance, into a report whose seconds are the command's."""
    from statmuse_pipelines.definitions import build_definitions

    ensure_dagster_home(settings)
    defs, report, began = build_definitions(settings), RunReport(), time.monotonic()
    with open_instance(settings) as instance:
        run_steps(defs, instance, plan(defs, instance, report), echo, report, total)
    report.seconds = time.monotonic() - began
    return report


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
    """Every stage for start..end: the game days, then datasets, models per stat, lines,
    calibration and backtests; then, with `live_until`, the days after `end` one at a time
    (predict, ingest, grade) up to the predictions of `live_until`. `stats` limits the models,
    calibrators and backtests to those targets (default: all twelve)."""
    from statmuse_pipelines.core.datasets import TARGETS
    from statmuse_pipelines.partitions import within_partitions

    start, end = within_partitions(start, end, echo)
    stats = list(stats or TARGETS)

    def plan(defs, instance, report: RunReport) -> Iterator[Step]:
        # the game days in one run, as a backfill from the UI makes it (single_run): the feature
        # history is read and computed once (nine real seasons: 123 s in a run per season, 105 s)
        yield Step(f"{start}..{end}", "refresh_game_days_job", tags=_range(start, end, "backfill"),
                   describe=reporting.ingested)  # fmt: skip
        yield from chain([_datasets(defs)], _models(defs, stats, training or {}, report),
                         _evaluation(defs, stats, walk_forward))  # fmt: skip
        if report.failed is None and live_until is not None:
            echo(f"daily operations, {end + timedelta(days=1)}..{live_until}:")
            live_days(defs, instance, end + timedelta(days=1), live_until, report, echo)

    return _run(settings, plan, echo, 3 + 2 * len(stats))


def run_day(settings: Settings, day: date, echo: Echo = print) -> RunReport:
    """The daily path for `day`: refresh and grade the three days before it, then predict it."""
    from statmuse_pipelines.automation.jobs import REINGEST_DAYS

    first, last = day - timedelta(days=REINGEST_DAYS), day - timedelta(days=1)
    steps = [
        Step(f"{first}..{last} ingest", "refresh_game_days_job", tags=_range(first, last)),
        Step(f"{first}..{last} grade ", "grade_predictions_job", tags=_range(first, last)),
        Step(f"{day} predict", "predict_slate_job", str(day)),
    ]
    return _run(settings, lambda *session: steps, echo, total=3)


def run_datasets(settings: Settings, echo: Echo = print) -> RunReport:
    """Rebuild the twelve training datasets from the features already stored."""
    return _run(settings, lambda defs, *_: [_datasets(defs)], echo, total=1)


def run_evaluation(
    settings: Settings, stats: Sequence[str], echo: Echo = print, walk_forward: dict | None = None
) -> RunReport:
    """Match lines, then calibrate, evaluate walk-forward and backtest the production models of
    `stats` (`walk_forward`: the walk_forward_predictions config, e.g. its period)."""
    plan = lambda defs, *_: _evaluation(defs, stats, walk_forward)  # noqa: E731
    return _run(settings, plan, echo, total=1 + len(stats))


def run_training(
    settings: Settings, stats: Sequence[str], training: dict | None = None, echo: Echo = print
) -> RunReport:
    """Train (or reuse), measure and gate the models of `stats` from the stored datasets."""
    plan = lambda defs, _, report: _models(defs, stats, training or {}, report)  # noqa: E731
    return _run(settings, plan, echo, total=len(stats))
