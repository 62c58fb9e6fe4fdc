"""Running the project's jobs in-process against the Dagster instance at $DAGSTER_HOME.

Each command (`statmuse demo`, `backfill`, `predict`, `datasets`, `train`, `evaluate`) is a list
of steps, a run each, which `execution.run_steps` runs in order and reports on a line each, up to
the first failure. The runs are recorded in the instance, so the UI shows them afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from functools import partial
from itertools import chain
from typing import Any

from statmuse_pipelines.execution import RunReport, Step, run_steps
from statmuse_pipelines.instance import Echo, ensure_dagster_home, open_instance
from statmuse_pipelines.settings import Settings, SettingsError

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
    """One tick of the alert sensor, as the daemon would run it: the failed checks so far become
    rows in `alerts` (and POSTs to the webhook when one is set). Failed runs are the daemon's
    failed_run_sensor's; the command prints its own failure and stops."""
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
