"""The `statmuse` command: demo, backfill, predict, datasets, train, evaluate, report, models, ui.

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

from statmuse_pipelines import runs
from statmuse_pipelines.execution import RunReport
from statmuse_pipelines.instance import ensure_dagster_home, ui_workspace
from statmuse_pipelines.reporting import print_predictions, print_versions, report_table, summarize
from statmuse_pipelines.settings import (
    Settings,
    SettingsError,
    environment,
    export_environment,
    league_today,
)

LIVE_DAYS = 7  # the demo's last week is operated day by day
# the training and walk-forward options: their argparse names -> their names in the run config
TRAINING = {
    "min_games": "min_games",
    "max_players": "max_players",
    "trials": "pooled_trials",
    "player_trials": "player_trials",
    "tune": "retune_days",
}
WALK_FORWARD = {"eval_start": "start", "eval_end": "end", "refit_months": "refit_months"}


def _settings(args: argparse.Namespace, **overrides) -> Settings:
    """Settings from the environment, with command-line options taking precedence (--home, and
    --lines where the command has it)."""
    options = {"STATMUSE_HOME": args.home, "STATMUSE_LINES": getattr(args, "lines", None)}
    given = {
        name: str(value) for name, value in {**options, **overrides}.items() if value is not None
    }
    settings = Settings.from_env({**environment(), **given})
    # the resources built from these settings may read the same variables: keep them in step
    export_environment({**given, "STATMUSE_HOME": str(settings.home)})
    return settings


def _given(args: argparse.Namespace, names: dict[str, str]) -> dict:
    """The options of `names` given on the command line, by their run-config names (the rest
    keep their defaults)."""
    return {
        key: getattr(args, name) for name, key in names.items() if getattr(args, name) is not None
    }


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


def cmd_demo(args: argparse.Namespace) -> int:
    from statmuse_pipelines.core.seasons import season_bounds
    from statmuse_pipelines.core.synthetic import default_seasons

    settings = _settings(
        args,
        STATMUSE_SOURCE="synthetic",
        STATMUSE_SEED=args.seed,
        STATMUSE_SEASONS=args.seasons,
        STATMUSE_TODAY=args.today,
    )
    today = settings.today or league_today()
    start = season_bounds(default_seasons(today, settings.seasons)[0])[0]
    # the models learn from everything up to a week ago; the last week is operated day by day
    # (predict before the games, ingest, grade), then today's slate is predicted
    end = today - timedelta(days=LIVE_DAYS + 1)
    print(
        f"statmuse demo: synthetic league, seed {settings.seed}, {settings.seasons} seasons, "
        f"games before {today}; writing to {settings.home}"
    )
    report = runs.run_pipeline(settings, start, end, training=runs.DEMO_TRAINING, live_until=today)
    summarize(settings, report)
    print_predictions(settings, today)
    return _finish(report)


def cmd_backfill(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_SOURCE=args.source, STATMUSE_FILES_DIR=args.files_dir)
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    stats = _stats(args.stat)
    print(
        f"statmuse backfill: {settings.source} source, {start}..{end}; writing to {settings.home}"
    )
    report = runs.run_pipeline(settings, start, end, training=_given(args, TRAINING), stats=stats,
                               walk_forward=_given(args, WALK_FORWARD))  # fmt: skip
    summarize(settings, report)
    return _finish(report)


def cmd_predict(args: argparse.Namespace) -> int:
    settings = _settings(args)
    day = date.fromisoformat(args.date) if args.date else league_today()
    print(f"statmuse predict: the daily path for {day} ({settings.source} source)")
    report = runs.run_day(settings, day)
    rows = print_predictions(settings, day, top=args.top)
    if report.failed is None and rows == 0 and not _registry(settings).production_versions():
        # nothing could be predicted: say why, and do not pass for a day without games
        print(f"\nnothing predicted: no stat has a production model in {settings.models_dir}; "
              "run `statmuse demo`, or `statmuse backfill` (which trains), first",
              file=sys.stderr)  # fmt: skip
        return 1
    return _finish(report)


def cmd_datasets(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"statmuse datasets: rebuilding from the features in {settings.lake_dir}")
    report = runs.run_datasets(settings)
    summarize(settings, report)
    return _finish(report)


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stats = _stats(args.stat)
    training = {**(runs.DEMO_TRAINING if args.small else {}), **_given(args, TRAINING)}
    print(f"statmuse train: {', '.join(stats)} from the datasets in {settings.lake_dir}")
    report = runs.run_training(settings, stats, training)
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    settings = _settings(args)
    stats = _stats(args.stat)
    print(f"statmuse evaluate: {', '.join(stats)} with {settings.lines} lines")
    report = runs.run_evaluation(settings, stats, walk_forward=_given(args, WALK_FORWARD))
    if report.failed is None:
        print()
        report_table(warehouse_of(settings))
    return _finish(report)


def cmd_report(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    warehouse = warehouse_of(_settings(args))
    if not warehouse.table_exists("market_comparison"):
        print("no backtests yet: run `statmuse demo`, or `statmuse evaluate` after training")
        return 1
    report_table(warehouse)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    print_versions(_registry(_settings(args)).versions(args.stat.upper() if args.stat else None))
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.lake import LakeResource
    from statmuse_pipelines.resources.models import RegistryError

    settings = _settings(args)
    stat, version = args.stat.upper(), args.version
    registry = _registry(settings)
    manifest = registry.store.manifest(stat, version)
    if manifest is None or registry.stage(stat, version) is None:
        raise RegistryError(f"no {stat} version {version}: see `statmuse models list`")
    if "production" not in manifest["fits"]:
        print(f"refitting {version} on every row of dataset {manifest['dataset_version']}")
        lake = LakeResource(root=str(settings.lake_dir))
        registry.ensure_production_fit(stat, version, lake.read_dataset)
    before = registry.promote(stat, version, "manual promotion (statmuse models promote)")
    was = f" (was {before}, now archived)" if before and before != version else ""
    print(f"{stat}: {version} is production{was}")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    stat = args.stat.upper()
    registry = _registry(_settings(args))
    current, previous = registry.rollback(stat, "manual rollback (statmuse models rollback)")
    print(f"{stat}: rolled back from {current} (now archived) to {previous} (production)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ensure_dagster_home(settings)
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    if not workspace.exists():  # installed, not a checkout: the same location name
        workspace = ui_workspace(settings.dagster_home)
    # the dagster of this interpreter, whether or not its virtualenv is activated
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)]
    print(f"DAGSTER_HOME={settings.dagster_home} dagster dev {' '.join(cmd[4:])}")
    os.chdir(workspace.parent)
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def _iso_date(text: str) -> str:
    """An option's date, checked when the command line is read (the text is kept)."""
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD ({exc})") from None
    return text


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, help="Optuna trials for the pooled model (default 8)")
    p.add_argument("--player-trials", type=int, help="Optuna trials, per-player settings (4)")
    p.add_argument("--max-players", type=int, help="per-player model sets per stat (0 = all)")
    p.add_argument("--min-games", type=int, help="training games for own models (50)")
    # retune_days 0: production's tuned settings count as too old to reuse, whatever their age
    p.add_argument(
        "--tune",
        action="store_const",
        const=0,
        help="tune again even when "
        "production's tuned settings are recent (they are reused for 28 days)",
    )


def _walk_forward_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--eval-start",
        type=_iso_date,
        help="first date of the walk-forward "
        "evaluation (default: the start of the latest season with real lines)",
    )
    p.add_argument(
        "--eval-end", type=_iso_date, help="last date evaluated (default: the last with results)"
    )
    p.add_argument("--refit-months", type=int, help="months between walk-forward refits (1)")


def _common(p: argparse.ArgumentParser, func, *groups, stat: str = "", lines=False) -> None:
    """After a command's own options, those many commands share: --home, --lines when it reads
    lines, --stat (`stat`: its help), option `groups` (training, walk-forward); `func` runs it."""
    p.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    if lines:
        p.add_argument("--lines", help="synthetic (the synthetic league's book), a file/folder of "
                       "sportsbook lines, or proxy")  # fmt: skip
    if stat:
        p.add_argument("--stat", action="append", help=stat)
    for group in groups:
        group(p)
    p.set_defaults(func=func)


STAT = "a stat target (repeatable; default all)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statmuse",
        description="NBA box scores to player-prop predictions, as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run every stage on the bundled synthetic league")
    demo.add_argument("--seed", type=int, help="league seed (default 7)")
    demo.add_argument("--seasons", type=int, help="seasons to simulate (default 3)")
    demo.add_argument(
        "--today", type=_iso_date, help="treat this ISO date as today (default: today)"
    )
    _common(demo, cmd_demo)

    backfill = sub.add_parser(
        "backfill", help="run every stage for a date range, configured source"
    )
    backfill.add_argument(
        "--start", required=True, type=_iso_date, help="first game date, YYYY-MM-DD"
    )
    backfill.add_argument("--end", required=True, type=_iso_date, help="last game date, YYYY-MM-DD")
    backfill.add_argument("--source", choices=["synthetic", "files", "nba_api"])
    backfill.add_argument("--files-dir", help="folder of nba_api exports (files source)")
    _common(backfill, cmd_backfill, _training_options, _walk_forward_options, lines=True,
            stat="train/evaluate this target only (repeatable; default all)")  # fmt: skip

    datasets = sub.add_parser(
        "datasets", help="rebuild the training datasets from the stored features"
    )
    _common(datasets, cmd_datasets)

    train = sub.add_parser("train", help="train, measure and gate models from stored datasets")
    train.add_argument("--small", action="store_true", help="the demo's small settings")
    _common(train, cmd_train, _training_options, stat=STAT)

    predict = sub.add_parser("predict", help="the daily path for a date: ingest, grade, predict")
    predict.add_argument(
        "--date", type=_iso_date, help="the date to predict (default: today, New York)"
    )
    predict.add_argument("--top", type=int, default=10, help="recommendations to print")
    _common(predict, cmd_predict, lines=True)

    evaluate = sub.add_parser("evaluate", help="match lines, calibrate and backtest the models")
    _common(evaluate, cmd_evaluate, _walk_forward_options, stat=STAT, lines=True)

    report = sub.add_parser("report", help="print the comparison with the lines and the market")
    _common(report, cmd_report)

    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    msub = models.add_subparsers(dest="models_command", required=True)
    mlist = msub.add_parser("list", help="every model version with its stage and test MAE")
    mlist.add_argument("--stat")
    _common(mlist, cmd_models_list)
    promote = msub.add_parser("promote", help="make a version production (refit if needed)")
    promote.add_argument("--stat", required=True)
    promote.add_argument("--version", required=True)
    _common(promote, cmd_models_promote)
    rollback = msub.add_parser("rollback", help="back to the previous production version")
    rollback.add_argument("--stat", required=True)
    _common(rollback, cmd_models_rollback)

    ui = sub.add_parser("ui", help="start the Dagster UI on this project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    _common(ui, cmd_ui)
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
