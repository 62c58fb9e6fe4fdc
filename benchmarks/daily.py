"""Daily benchmark: one incremental day (predict, ingest, grade) on top of the real seasons.

Set-up (not timed as the day): the nine real seasons of ../shared/data/nba up to the day before
DAY are written to a temporary lake with the core functions, each stat's dataset is built, its
models are trained (small settings; --stats chooses which) and calibrated through Dagster. Then
the day is operated as the morning schedule does, each step a Dagster run on a SQLite instance:

  predict  the slate of DAY (features as of DAY, production models, distribution, calibrator)
  ingest   DAY's box scores (raw logs, normalization, checks, features)
  grade    DAY's predictions against them, and performance over time

and the seconds of each step and in total are printed.

    python benchmarks/daily.py                  # nine seasons, PTS REB AST, DAY 2024-03-15
    python benchmarks/daily.py --reduced        # 120 days of history, PTS, two walk-forward refits
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nba"
DAY = date(2024, 3, 15)
SMALL = {"max_players": 5, "pooled_trials": 0, "player_trials": 0, "stacking_folds": 2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="120 days of history, PTS")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--stats", nargs="*", help="stats to predict (default PTS REB AST)")
    parser.add_argument("--date", type=date.fromisoformat, default=DAY, help="the day to operate")
    args = parser.parse_args(argv)
    if not (args.data / "player_game_logs").is_dir():
        print(f"no exports at {args.data}: pass --data", file=sys.stderr)
        return 2
    import dagster as dg
    import polars as pl

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from statmuse_pipelines.automation.jobs import range_tags
    from statmuse_pipelines.cli import main as statmuse
    from statmuse_pipelines.core.datasets import build_dataset
    from statmuse_pipelines.core.features import build_features
    from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
    from statmuse_pipelines.definitions import build_definitions
    from statmuse_pipelines.execution import QUIET, RunReport, Step, run_steps
    from statmuse_pipelines.instance import ensure_dagster_home
    from statmuse_pipelines.resources.lake import LakeResource
    from statmuse_pipelines.resources.sources import FilesGameLogSource
    from statmuse_pipelines.settings import Settings

    day = args.date
    stats = args.stats or (["PTS"] if args.reduced else ["PTS", "REB", "AST"])
    start = day - timedelta(days=120) if args.reduced else date(2015, 10, 1)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home, source="files", files_dir=args.data)
        ensure_dagster_home(settings)
        t0 = time.perf_counter()
        source = FilesGameLogSource(directory=str(args.data))
        end = day - timedelta(days=1)
        games = normalize_player_logs(source.fetch("player", start, end))
        teams = normalize_team_logs(source.fetch("team", start, end))
        features = build_features(games, teams, games)
        lake = LakeResource(root=str(settings.lake_dir))
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        for table, frame in (("player_game_stats", games), ("team_game_stats", teams),
                             ("player_features", features)):  # fmt: skip
            lake.write_days(table, frame, days, "game_date")
        for stat in stats:
            ds = build_dataset(features, games, stat, "benchmark", "set-up")
            lake.write_dataset(stat, ds.splits(), ds.manifest)
        defs = build_definitions(settings)
        report = RunReport()
        quiet = lambda line: None  # noqa: E731
        with dg.DagsterInstance.get() as instance:
            for stat in stats:
                defs.resolve_job_def("train_models_job").execute_in_process(
                    instance=instance, partition_key=stat, raise_on_error=False,
                    run_config={**QUIET, "ops": {"player_models": {"config": SMALL}}},
                )  # fmt: skip
                # whatever the gate said, the benchmark serves this version
                registry = defs.resources["registry"]
                if registry.production_version(stat) is None:
                    version = registry.versions(stat)["version"][-1]
                    statmuse(["models", "promote", "--stat", stat, "--version", version,
                              "--home", str(home)])  # fmt: skip
            # the walk-forward behind the day's distribution and calibrator: monthly refits, or
            # two (and a short warm-up) on the reduced history
            walk = {"refit_months": 6, "warmup_dates": 20} if args.reduced else {}
            walk_config = {"ops": {"walk_forward_predictions": {"config": walk}}}
            evaluations = [Step(stat, "evaluate_models_job", stat, config=walk_config)
                           for stat in stats]  # fmt: skip
            if run_steps(defs, instance, evaluations, quiet, report).failed:
                print(f"FAILED in the set-up: {report.failed}", file=sys.stderr)
                return 1
            setup = time.perf_counter() - t0
            print(
                f"daily benchmark: {games.height:,} player-games of history {start}..{end}, "
                f"{len(stats)} stats ({', '.join(stats)}); set-up {setup:.1f}s"
            )
            steps = [
                Step("predict", "predict_slate_job", day.isoformat()),
                Step("ingest", "refresh_game_days_job", tags=range_tags(str(day), str(day))),
                Step("grade", "grade_predictions_job", tags=range_tags(str(day), str(day))),
            ]
            timings = {}
            for step in steps:
                t = time.perf_counter()
                run_steps(defs, instance, [step], quiet, report)
                timings[step.label] = time.perf_counter() - t
                if report.failed:
                    print(f"FAILED at {step.label}: {report.failed}", file=sys.stderr)
                    return 1
        predictions = pl.read_parquet(lake.path("predictions", day))
        graded = pl.read_parquet(lake.path("prediction_outcomes", day))
        total = sum(timings.values())
        print(f"  {'step':<10}{'seconds':>9}{'share':>8}")
        for name, seconds in timings.items():
            print(f"  {name:<10}{seconds:>9.2f}{seconds / total:>8.0%}")
        print(f"  {'total':<10}{total:>9.2f}")
        games_today = predictions["game_id"].n_unique()
        print(
            f"{day}: {games_today} games, {predictions['player_id'].n_unique()} players, "
            f"{predictions.height} predictions, {(graded['result'] != 'void').sum()} graded"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
