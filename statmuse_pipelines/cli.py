"""The `statmuse` command: demo, backfill, datasets, train, models, ui.

Runs go through the Dagster instance at $DAGSTER_HOME (default $STATMUSE_HOME/dagster_home), so
`statmuse ui` (or `dagster dev` with the same DAGSTER_HOME) shows them afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from statmuse_pipelines.instance import LOCATION_NAME, ensure_dagster_home
from statmuse_pipelines.reporting import (
    num,
    print_predictions,
    report_table,
    summarize,
)
from statmuse_pipelines.runs import (
    DEMO_TRAINING,
    RunReport,
    run_datasets,
    run_day,
    run_evaluation,
    run_pipeline,
    run_training,
    season_chunks,
)
from statmuse_pipelines.settings import (
    Settings,
    SettingsError,
    environment,
    export_environment,
    league_today,
)

__all__ = ["main", "season_chunks"]


def _settings(args: argparse.Namespace, **overrides: str) -> Settings:
    """Settings from the environment, with command-line options taking precedence."""
    given = {name: str(value) for name, value in overrides.items() if value is not None}
    settings = Settings.from_env({**environment(), **given})
    # the resources built from these settings may read the same variables: keep them in step
    export_environment({**given, "STATMUSE_HOME": str(settings.home)})
    return settings


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        STATMUSE_SOURCE="synthetic",
        STATMUSE_HOME=args.home,
        STATMUSE_SEED=args.seed,
        STATMUSE_SEASONS=args.seasons,
        STATMUSE_TODAY=args.today,
    )
    from statmuse_pipelines.core.seasons import season_bounds
    from statmuse_pipelines.core.synthetic import default_seasons

    today = settings.today or league_today()
    seasons = default_seasons(today, settings.seasons)
    start = season_bounds(seasons[0])[0]
    # the models learn from everything up to a week ago; the last week is operated day by day
    # (predict before the games, ingest, grade), then today's slate is predicted
    end = today - timedelta(days=LIVE_DAYS + 1)
    print(
        f"statmuse demo: synthetic league, seed {settings.seed}, {settings.seasons} seasons, "
        f"games before {today}; writing to {settings.home}"
    )
    report = run_pipeline(settings, start, end, training=DEMO_TRAINING, live_until=today)
    summarize(settings, report)
    print_predictions(settings, today)
    return _finish(report)


LIVE_DAYS = 7


def cmd_predict(args: argparse.Namespace) -> int:
    from statmuse_pipelines.core.datasets import TARGETS

    settings = _settings(args, STATMUSE_HOME=args.home, STATMUSE_LINES=args.lines)
    day = date.fromisoformat(args.date) if args.date else league_today()
    print(f"statmuse predict: the daily path for {day} ({settings.source} source)")
    report = run_day(settings, day)
    rows = print_predictions(settings, day, top=args.top)
    if report.failed is None and rows == 0:
        registry = _registry(settings)
        if all(registry.production_version(stat) is None for stat in TARGETS):
            # nothing could be predicted: say why, and do not pass for a day without games
            print(f"\nnothing predicted: no stat has a production model in {settings.models_dir}; "
                  "run `statmuse demo`, or `statmuse backfill` (which trains), first",
                  file=sys.stderr)  # fmt: skip
            return 1
    return _finish(report)


def cmd_backfill(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        STATMUSE_HOME=args.home,
        STATMUSE_SOURCE=args.source,
        STATMUSE_FILES_DIR=args.files_dir,
        STATMUSE_LINES=args.lines,
    )
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    stats = _stats(args.stat)
    print(
        f"statmuse backfill: {settings.source} source, {start}..{end}; writing to {settings.home}"
    )
    report = run_pipeline(
        settings, start, end, training=_training_options(args), stats=stats,
        walk_forward=_walk_forward_options(args),
    )  # fmt: skip
    summarize(settings, report)
    return _finish(report)


def _finish(report: RunReport) -> int:
    if report.failed:
        print(f"\nFAILED: {report.failed}", file=sys.stderr)
        if report.written:
            print(f"The failed run stored these before it failed: {', '.join(report.written)};"
                  " the failed step and the ones after it wrote nothing (a step writes its lake "
                  "files and warehouse rows together or not at all).", file=sys.stderr)  # fmt: skip
        else:
            print("The failed run stored nothing; what earlier runs stored is as it was.",
                  file=sys.stderr)  # fmt: skip
        return 1
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    print(f"statmuse datasets: rebuilding from the features in {settings.lake_dir}")
    report = run_datasets(settings)
    summarize(settings, report)
    return _finish(report)


def _training_options(args: argparse.Namespace) -> dict:
    """Training settings given on the command line (the rest keep their defaults)."""
    options = {
        "min_games": args.min_games,
        "max_players": args.max_players,
        "pooled_trials": args.trials,
        "player_trials": args.player_trials,
        "retune_days": 0 if getattr(args, "tune", False) else None,
    }
    return {k: v for k, v in options.items() if v is not None}


def _walk_forward_options(args: argparse.Namespace) -> dict:
    """The walk-forward period and refit interval given on the command line."""
    options = {
        "start": args.eval_start,
        "end": args.eval_end,
        "refit_months": args.refit_months,
    }
    return {k: v for k, v in options.items() if v is not None}


def _stats(given: list[str] | None) -> list[str]:
    """The stat targets named on the command line (all twelve when none are)."""
    from statmuse_pipelines.core.datasets import TARGETS

    stats = [s.upper() for s in given] if given else list(TARGETS)
    unknown = [s for s in stats if s not in TARGETS]
    if unknown:
        raise SettingsError(f"unknown stat(s) {', '.join(unknown)}; one of {', '.join(TARGETS)}")
    return stats


def _iso_date(text: str) -> str:
    """An option's date, checked when the command line is read (the text is kept)."""
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD ({exc})") from None
    return text


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    stats = _stats(args.stat)
    training = {**(DEMO_TRAINING if args.small else {}), **_training_options(args)}
    print(f"statmuse train: {', '.join(stats)} from the datasets in {settings.lake_dir}")
    report = run_training(settings, stats, training)
    summarize(settings, report)
    if report.failed is None and len(report.skipped) == len(stats):
        print(
            f"\nnothing trained: no dataset with train, validation and test rows for "
            f"{', '.join(stats)} in {settings.lake_dir}; run `statmuse backfill` (which builds "
            "them) or `statmuse datasets` first",
            file=sys.stderr,
        )
        return 1
    return _finish(report)


def _registry(settings: Settings):
    from statmuse_pipelines.resources.factory import registry_of

    return registry_of(settings)


def cmd_models_list(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    versions = _registry(settings).versions(args.stat.upper() if args.stat else None)
    if versions.height == 0:
        print("no model versions yet: run `statmuse train` (or `statmuse demo`)")
        return 0
    print(f"{'stat':<8} {'version':<16} {'stage':<10} {'test MAE':>9} {'best naive':>10} "
          f"{'own':>4}  {'fits':<21} {'dataset':<13} created")  # fmt: skip
    for r in versions.iter_rows(named=True):
        print(
            f"{r['stat']:<8} {r['version']:<16} {r['stage']:<10} {num(r['test_mae']):>9} "
            f"{num(r['best_baseline_mae']):>10} {r['own_models']:>4}  {r['fits']:<21} "
            f"{r['dataset_version']:<13} {r['created_at']}"
        )
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:

    from statmuse_pipelines.resources.lake import LakeResource
    from statmuse_pipelines.resources.models import RegistryError

    settings = _settings(args, STATMUSE_HOME=args.home)
    stat, version = args.stat.upper(), args.version
    registry = _registry(settings)
    manifest = registry.store.manifest(stat, version)
    if manifest is None or registry.stage(stat, version) is None:
        raise RegistryError(f"no {stat} version {version}: see `statmuse models list`")
    if not registry.store.has_fit(stat, version, "production"):
        splits = LakeResource(root=str(settings.lake_dir)).read_dataset(
            stat, manifest["dataset_version"]
        )
        rows = sum(f.height for f in splits.values())
        print(f"refitting {version} on all {rows:,} rows of dataset {manifest['dataset_version']}")
        registry.ensure_production_fit(stat, version, splits)
    before = registry.promote(stat, version, "manual promotion (statmuse models promote)")
    print(
        f"{stat}: {version} is production"
        + (f" (was {before}, now archived)" if before and before != version else "")
    )
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    stat = args.stat.upper()
    current, previous = _registry(settings).rollback(
        stat, "manual rollback (statmuse models rollback)"
    )
    print(f"{stat}: rolled back from {current} (now archived) to {previous} (production)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    settings = _settings(args, STATMUSE_HOME=args.home)
    warehouse = warehouse_of(settings)
    if not warehouse.table_exists("market_comparison"):
        print("no backtests yet: run `statmuse demo`, or `statmuse evaluate` after training")
        return 1
    report_table(warehouse)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home, STATMUSE_LINES=args.lines)
    stats = _stats(args.stat)
    print(f"statmuse evaluate: {', '.join(stats)} with {settings.lines} lines")
    report = run_evaluation(settings, stats, walk_forward=_walk_forward_options(args))
    if report.failed is None:
        from statmuse_pipelines.resources.factory import warehouse_of

        print()
        report_table(warehouse_of(settings))
    return _finish(report)


def cmd_ui(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    ensure_dagster_home(settings)
    root = Path(__file__).resolve().parent.parent
    workspace = root / "workspace.yaml"
    if not workspace.exists():  # installed, not a checkout: the same location name
        workspace = ui_workspace(settings.dagster_home)
    # the dagster of this interpreter, whether or not its virtualenv is activated
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)]
    print(f"DAGSTER_HOME={settings.dagster_home} dagster dev {' '.join(cmd[4:])}")
    os.chdir(workspace.parent)
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def ui_workspace(dagster_home: Path) -> Path:
    """A workspace file for an installed project: the code location is named as in the
    checkout's workspace.yaml, which the command's runs are tagged with (instance.LOCATION_NAME)."""
    path = dagster_home / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: statmuse_pipelines.definitions\n"
        f"      location_name: {LOCATION_NAME}\n"
    )
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statmuse",
        description="NBA box scores to player-prop predictions, as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run every stage on the bundled synthetic league")
    demo.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    demo.add_argument("--seed", type=int, help="league seed (default 7)")
    demo.add_argument("--seasons", type=int, help="seasons to simulate (default 3)")
    demo.add_argument(
        "--today", type=_iso_date, help="treat this ISO date as today (default: today)"
    )
    demo.set_defaults(func=cmd_demo)

    backfill = sub.add_parser(
        "backfill", help="run every stage for a date range, configured source"
    )
    backfill.add_argument(
        "--start", required=True, type=_iso_date, help="first game date, YYYY-MM-DD"
    )
    backfill.add_argument("--end", required=True, type=_iso_date, help="last game date, YYYY-MM-DD")
    backfill.add_argument("--source", choices=["synthetic", "files", "nba_api"])
    backfill.add_argument("--files-dir", help="folder of nba_api exports (files source)")
    backfill.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    backfill.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    backfill.add_argument(
        "--stat", action="append", help="train/evaluate this target only (repeatable; default all)"
    )
    backfill.set_defaults(func=cmd_backfill)

    datasets = sub.add_parser(
        "datasets", help="rebuild the training datasets from the stored features"
    )
    datasets.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    datasets.set_defaults(func=cmd_datasets)

    def training_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--trials", type=int, help="Optuna trials for the pooled model (default 8)")
        p.add_argument("--player-trials", type=int, help="Optuna trials, per-player settings (4)")
        p.add_argument("--max-players", type=int, help="per-player model sets per stat (0 = all)")
        p.add_argument("--min-games", type=int, help="training games for own models (50)")
        p.add_argument(
            "--tune",
            action="store_true",
            help="tune again even when production's tuned settings are recent (they are reused "
            "for 28 days)",
        )

    training_options(backfill)

    def walk_forward_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--eval-start",
            type=_iso_date,
            help="first date of the walk-forward evaluation (default: the start of the latest "
            "season with real lines)",
        )
        p.add_argument(
            "--eval-end",
            type=_iso_date,
            help="last date evaluated (default: the last with results)",
        )
        p.add_argument("--refit-months", type=int, help="months between walk-forward refits (1)")

    walk_forward_options(backfill)

    train = sub.add_parser("train", help="train, measure and gate models from stored datasets")
    train.add_argument("--stat", action="append", help="a stat target (repeatable; default all)")
    train.add_argument("--small", action="store_true", help="the demo's small settings")
    train.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    training_options(train)
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser("predict", help="the daily path for a date: ingest, grade, predict")
    predict.add_argument(
        "--date", type=_iso_date, help="the date to predict (default: today, New York)"
    )
    predict.add_argument("--top", type=int, default=10, help="recommendations to print")
    predict.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    predict.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    predict.set_defaults(func=cmd_predict)

    evaluate = sub.add_parser("evaluate", help="match lines, calibrate and backtest the models")
    evaluate.add_argument("--stat", action="append", help="a stat target (repeatable; default all)")
    evaluate.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    evaluate.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    walk_forward_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="print the comparison with the lines and the market")
    report.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    report.set_defaults(func=cmd_report)

    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    msub = models.add_subparsers(dest="models_command", required=True)
    mlist = msub.add_parser("list", help="every model version with its stage and test MAE")
    mlist.add_argument("--stat")
    mlist.set_defaults(func=cmd_models_list)
    promote = msub.add_parser("promote", help="make a version production (refit if needed)")
    promote.add_argument("--stat", required=True)
    promote.add_argument("--version", required=True)
    promote.set_defaults(func=cmd_models_promote)
    rollback = msub.add_parser("rollback", help="back to the previous production version")
    rollback.add_argument("--stat", required=True)
    rollback.set_defaults(func=cmd_models_rollback)
    for p in (mlist, promote, rollback):
        p.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")

    ui = sub.add_parser("ui", help="start the Dagster UI on this project's instance")
    ui.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
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
