"""The `statmuse` command: demo, backfill, predict, datasets, train, evaluate, report, models, ui.

Runs go through the Dagster instance at $DAGSTER_HOME (default $STATMUSE_HOME/dagster_home), so
`statmuse ui` (or `dg dev` with the same DAGSTER_HOME) shows them afterwards. runs.py says which
runs each command makes; reporting.py prints what they stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, timedelta

from statmuse_pipelines import reporting, runs
from statmuse_pipelines.settings import Settings, SettingsError, league_today

LIVE_DAYS = 7  # the demo's last week is operated day by day


def _iso_date(text: str) -> str:
    """An option's date, checked when the command line is read (the text is kept)."""
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD ({exc})") from None
    return text


# the training and walk-forward options: flag -> (its key in the run config, type, help); the
# flag without a type sets the key to 0 (retune_days 0: production's tuned settings count as
# too old to reuse, whatever their age)
# fmt: off
TRAINING = {
    "--trials": ("pooled_trials", int, "Optuna trials for the pooled model (default 8)"),
    "--player-trials": ("player_trials", int, "Optuna trials, per-player settings (4)"),
    "--max-players": ("max_players", int, "per-player model sets per stat (0 = all)"),
    "--min-games": ("min_games", int, "training games for own models (50)"),
    "--tune": ("retune_days", None, "tune again even when production's tuned settings are recent "
               "(they are reused for 28 days)"),
}
WALK_FORWARD = {
    "--eval-start": ("start", _iso_date, "first date of the walk-forward evaluation (default: "
                     "the start of the latest season with real lines)"),
    "--eval-end": ("end", _iso_date, "last date evaluated (default: the last with results)"),
    "--refit-months": ("refit_months", int, "months between walk-forward refits (1)"),
}
# fmt: on


def _dest(flag: str) -> str:  # after the flag: --eval-start's key `start` is backfill's --start
    return "option_" + flag.lstrip("-").replace("-", "_")


def _given(args: argparse.Namespace, options: dict) -> dict:
    """The `options` given on the command line, by their run-config keys (the rest keep their
    defaults)."""
    given = {key: getattr(args, _dest(flag), None) for flag, (key, _, _) in options.items()}
    return {key: value for key, value in given.items() if value is not None}


def _settings(args: argparse.Namespace, **overrides) -> Settings:
    """Settings from the environment, with command-line options taking precedence (--home, and
    --lines where the command has it)."""
    lines = getattr(args, "lines", None)
    return Settings.with_overrides(STATMUSE_HOME=args.home, STATMUSE_LINES=lines, **overrides)


def _stats(given: list[str] | None) -> list[str]:
    """The stat targets named on the command line (all twelve when none are)."""
    from statmuse_pipelines.core.datasets import TARGETS

    stats = [s.upper() for s in given] if given else list(TARGETS)
    unknown = [s for s in stats if s not in TARGETS]
    if unknown:
        raise SettingsError(f"unknown stat(s) {', '.join(unknown)}; one of {', '.join(TARGETS)}")
    return stats


def _registry(settings: Settings):
    from statmuse_pipelines.resources.factory import registry_of

    return registry_of(settings)


def _nothing(message: str) -> int:
    """A command that ran but had nothing to do: say why, and do not pass for success."""
    print(f"\n{message}", file=sys.stderr)
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from statmuse_pipelines.core.seasons import season_bounds
    from statmuse_pipelines.core.synthetic import default_seasons

    settings = _settings(args, STATMUSE_SOURCE="synthetic", STATMUSE_SEED=args.seed,
                         STATMUSE_SEASONS=args.seasons, STATMUSE_TODAY=args.today)  # fmt: skip
    today = settings.today or league_today()
    start = season_bounds(default_seasons(today, settings.seasons)[0])[0]
    # the models learn from everything up to a week ago; the last week is operated day by day
    # (predict before the games, ingest, grade), then today's slate is predicted
    end = today - timedelta(days=LIVE_DAYS + 1)
    print(f"statmuse demo: synthetic league, seed {settings.seed}, {settings.seasons} seasons, "
          f"games before {today}; writing to {settings.home}")  # fmt: skip
    report = runs.run_pipeline(settings, start, end, training=runs.DEMO_TRAINING, live_until=today)
    reporting.summarize(settings, report)
    reporting.print_predictions(settings, today)
    return reporting.outcome(report)


def cmd_backfill(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_SOURCE=args.source, STATMUSE_FILES_DIR=args.files_dir)
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    print(f"statmuse backfill: {settings.source} source, {start}..{end}; "
          f"writing to {settings.home}")  # fmt: skip
    training, walk_forward = _given(args, TRAINING), _given(args, WALK_FORWARD)
    report = runs.run_pipeline(settings, start, end, training=training, stats=_stats(args.stat),
                               walk_forward=walk_forward)  # fmt: skip
    reporting.summarize(settings, report)
    return reporting.outcome(report)


def cmd_predict(args: argparse.Namespace) -> int:
    settings = _settings(args)
    day = date.fromisoformat(args.date) if args.date else league_today()
    print(f"statmuse predict: the daily path for {day} ({settings.source} source)")
    report = runs.run_day(settings, day)
    rows = reporting.print_predictions(settings, day, top=args.top)
    if report.failed is None and rows == 0 and not _registry(settings).production_versions():
        return _nothing(f"nothing predicted: no stat has a production model in "
                        f"{settings.models_dir}; run `statmuse demo`, or `statmuse backfill` "
                        "(which trains), first")  # fmt: skip
    return reporting.outcome(report)


def cmd_datasets(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"statmuse datasets: rebuilding from the features in {settings.lake_dir}")
    report = runs.run_datasets(settings)
    reporting.summarize(settings, report)
    return reporting.outcome(report)


def cmd_train(args: argparse.Namespace) -> int:
    settings, stats = _settings(args), _stats(args.stat)
    training = {**(runs.DEMO_TRAINING if args.small else {}), **_given(args, TRAINING)}
    print(f"statmuse train: {', '.join(stats)} from the datasets in {settings.lake_dir}")
    report = runs.run_training(settings, stats, training)
    reporting.summarize(settings, report)
    if report.failed is None and len(report.skipped) == len(stats):
        return _nothing(f"nothing trained: no dataset with train, validation and test rows for "
                        f"{', '.join(stats)} in {settings.lake_dir}; run `statmuse backfill` "
                        "(which builds them) or `statmuse datasets` first")  # fmt: skip
    return reporting.outcome(report)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    settings, stats = _settings(args), _stats(args.stat)
    print(f"statmuse evaluate: {', '.join(stats)} with {settings.lines} lines")
    report = runs.run_evaluation(settings, stats, walk_forward=_given(args, WALK_FORWARD))
    if report.failed is None:
        print()
        reporting.report_table(warehouse_of(settings))
    return reporting.outcome(report)


def cmd_report(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    warehouse = warehouse_of(_settings(args))
    if not warehouse.table_exists("market_comparison"):
        print("no backtests yet: run `statmuse demo`, or `statmuse evaluate` after training")
        return 1
    reporting.report_table(warehouse)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    reporting.print_versions(_registry(_settings(args)).versions(args.stat))
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.lake import LakeResource

    settings, stat = _settings(args), args.stat
    read = LakeResource(root=str(settings.lake_dir)).read_dataset
    reason = "manual promotion (statmuse models promote)"
    before, refit = _registry(settings).promote_with_fit(stat, args.version, read, reason)
    if refit:
        print(f"{args.version} refit on every row of its dataset first ({refit:.1f}s)")
    was = f" (was {before}, now archived)" if before and before != args.version else ""
    print(f"{stat}: {args.version} is production{was}")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    reason, stat = "manual rollback (statmuse models rollback)", args.stat
    current, previous = _registry(_settings(args)).rollback(stat, reason)
    print(f"{stat}: rolled back from {current} (now archived) to {previous} (production)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from statmuse_pipelines.instance import start_ui

    start_ui(_settings(args), args.host, args.port)
    return 0  # not reached: the UI takes over the process


def _options(p: argparse.ArgumentParser, options: dict) -> None:
    for flag, (key, kind, text) in options.items():
        if kind is None:
            p.add_argument(flag, dest=_dest(flag), action="store_const", const=0, help=text)
        else:
            p.add_argument(flag, dest=_dest(flag), type=kind, metavar=key.upper(), help=text)


def _command(sub, name: str, text: str, func, *groups: dict, stat: str = "", lines=False):
    """A command `name` that `func` runs, with the options many commands share after its own:
    --home, --lines when it reads lines, --stat (`stat`: its help), option `groups`."""
    p = sub.add_parser(name, help=text)
    p.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    if lines:
        p.add_argument("--lines", help="synthetic (the synthetic league's book), a file/folder of "
                       "sportsbook lines, or proxy")  # fmt: skip
    if stat:
        p.add_argument("--stat", action="append", help=stat)
    for group in groups:
        _options(p, group)
    p.set_defaults(func=func)
    return p


STAT = "a stat target (repeatable; default all)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statmuse", description="NBA box scores to player-prop predictions, as Dagster assets."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = _command(sub, "demo", "run every stage on the bundled synthetic league", cmd_demo)
    demo.add_argument("--seed", type=int, help="league seed (default 7)")
    demo.add_argument("--seasons", type=int, help="seasons to simulate (default 3)")
    demo.add_argument("--today", type=_iso_date, help="treat this date as today (default: today)")

    backfill = _command(sub, "backfill", "run every stage for a date range, configured source",
                        cmd_backfill, TRAINING, WALK_FORWARD, lines=True,
                        stat="train/evaluate only this target (repeatable)")  # fmt: skip
    backfill.add_argument("--start", required=True, type=_iso_date, help="first game date")
    backfill.add_argument("--end", required=True, type=_iso_date, help="last game date")
    backfill.add_argument("--source", choices=["synthetic", "files", "nba_api"])
    backfill.add_argument("--files-dir", help="folder of nba_api exports (files source)")

    _command(sub, "datasets", "rebuild the training datasets from the stored features",
             cmd_datasets)  # fmt: skip
    train = _command(sub, "train", "train, measure and gate models from stored datasets",
                     cmd_train, TRAINING, stat=STAT)  # fmt: skip
    train.add_argument("--small", action="store_true", help="the demo's small settings")
    predict = _command(sub, "predict", "the daily path for a date: ingest, grade, predict",
                       cmd_predict, lines=True)  # fmt: skip
    predict.add_argument("--date", type=_iso_date, help="the date (default: today, New York)")
    predict.add_argument("--top", type=int, default=10, help="recommendations to print")
    _command(sub, "evaluate", "match lines, calibrate and backtest the models", cmd_evaluate,
             WALK_FORWARD, stat=STAT, lines=True)  # fmt: skip
    _command(sub, "report", "print the comparison with the lines and the market", cmd_report)

    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    msub = models.add_subparsers(dest="models_command", required=True)
    _command(msub, "list", "every model version with its stage and test MAE",
             cmd_models_list).add_argument("--stat", type=str.upper)  # fmt: skip
    promote = _command(msub, "promote", "make a version production (refit if needed)",
                       cmd_models_promote)  # fmt: skip
    promote.add_argument("--stat", required=True, type=str.upper)
    promote.add_argument("--version", required=True)
    _command(msub, "rollback", "back to the previous production version",
             cmd_models_rollback).add_argument("--stat", required=True, type=str.upper)  # fmt: skip

    ui = _command(sub, "ui", "start the Dagster UI on this project's instance", cmd_ui)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # the command line is read before dagster is imported: --help and a bad option answer at once
    args = build_parser().parse_args(argv)
    import dagster as dg

    # backfill_policy and pools are marked beta; they are what the design asks for
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    try:
        return args.func(args)
    except (SettingsError, ValueError, FileNotFoundError) as exc:
        print(f"statmuse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
