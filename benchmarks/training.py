"""Training benchmark: every stat target on the real seasons, champion against naive baselines.

Builds the features and the twelve datasets of ../shared/data/nba in memory, then trains each stat
as the `player_models` asset does (Optuna, the pooled model, per-player candidates, champions on
validation) and prints, per stat: training seconds, models fitted, and the test MAE of the
champion set, of the pooled model and of the best naive baseline, on the same rows. A combo
(PRA, PR, PA, RA, STL_BLK) is by default the sum of its parts' models, as the pipeline builds
it: its parts are trained first and its line says so; `--own-combo-models` trains its own.

    python benchmarks/training.py                         # 12 stats, nine seasons, defaults
    python benchmarks/training.py --stats PTS REB --trials 4
    python benchmarks/training.py --stats PTS REB --tuning-rows 25000
    python benchmarks/training.py --stats PRA --own-combo-models   # PRA's own models
    python benchmarks/training.py --reduced               # PTS, REB, PR; one season (the suite)
    python benchmarks/training.py --retrain               # and a retrain reusing the tuning

A first training tunes (Optuna); a retrain within `retune_days` reuses the tuned settings of the
version it replaces (the weekly and drift-triggered retrains, `statmuse train` without --tune).
`--retrain` times that too: the same rows trained again with the first fit's tuning reused.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nba"
FULL = (date(2015, 10, 1), date(2024, 4, 30))
REDUCED = (date(2022, 10, 1), date(2023, 4, 30))
# test MAE (champion set / pooled / best naive) on these rows before the speed work (issue 4)
PREVIOUS = {
    "PTS": (4.535, 4.524, 4.693),
    "REB": (1.863, 1.862, 1.927),
    "AST": (1.328, 1.327, 1.363),
    "FG3M": (0.863, 0.863, 0.868),
    "PRA": (6.004, 5.994, 6.204),
}
PHASES = ("pooled_tuning", "pooled_fit", "player_tuning", "player_candidates",
          "champions_and_metrics")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reduced", action="store_true", help="PTS, REB and PR on one season, few players"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--stats", nargs="*", help="stat targets (default: all twelve)")
    parser.add_argument("--trials", type=int, help="Optuna trials, pooled model (default 8)")
    parser.add_argument("--player-trials", type=int, help="Optuna trials, per-player (default 4)")
    parser.add_argument("--max-players", type=int, help="per-player model sets (default all)")
    parser.add_argument("--min-games", type=int, help="training games for own models (50)")
    parser.add_argument(
        "--champion-z", type=float, help="standard errors an own model must beat pooled by (2)"
    )
    parser.add_argument(
        "--tuning-rows", type=int, help="training rows a pooled trial is fit on (50000; 0 = all)"
    )
    parser.add_argument(
        "--retrain", action="store_true", help="also time a retrain that reuses the tuning"
    )
    parser.add_argument(
        "--own-combo-models",
        action="store_true",
        help="train each combo's own models instead of summing its parts' (the default)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "player_game_logs").is_dir():
        print(f"no exports at {args.data}: pass --data", file=sys.stderr)
        return 2

    from statmuse_pipelines.core.datasets import PART_TARGETS, TARGETS, build_dataset
    from statmuse_pipelines.core.features import build_features
    from statmuse_pipelines.core.models import (
        BASELINES,
        PLAYER_KINDS,
        TrainingSettings,
        Tuning,
        train_stat,
    )
    from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
    from statmuse_pipelines.resources.sources import FilesGameLogSource

    overrides = {
        "pooled_trials": args.trials,
        "player_trials": args.player_trials,
        "max_players": args.max_players,
        "min_games": args.min_games,
        "champion_z": args.champion_z,
        "tuning_rows": args.tuning_rows,
        "combos_from_parts": False if args.own_combo_models else None,
    }
    if args.reduced:
        base = {"pooled_trials": 1, "player_trials": 0, "max_players": 5, "stacking_folds": 2}
        overrides = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    settings = TrainingSettings(**{k: v for k, v in overrides.items() if v is not None})
    stats = [s.upper() for s in args.stats] if args.stats else None
    stats = stats or (["PTS", "REB", "PR"] if args.reduced else list(TARGETS))
    if settings.combos_from_parts:  # a combo's parts are trained first
        parts = [p for s in stats for p in PART_TARGETS.get(s, ())]
        stats = sorted(dict.fromkeys(parts + stats), key=lambda s: s in PART_TARGETS)
    start, end = REDUCED if args.reduced else FULL

    t = time.perf_counter()
    source = FilesGameLogSource(directory=str(args.data))
    games = normalize_player_logs(source.fetch("player", start, end))
    teams = normalize_team_logs(source.fetch("team", start, end))
    features = build_features(games, teams, games)
    print(
        f"training benchmark: {games.height:,} player-games {start}..{end}, features in "
        f"{time.perf_counter() - t:.1f}s; settings {settings.as_dict()}"
    )
    header = (
        f"  {'stat':<8}{'seconds':>8}{'models':>8}{'own':>5}{'champion':>10}{'pooled':>9}"
        f"{'best naive':>18}{'vs naive':>9}{'last10':>8}{'ewm':>8}{'season':>8}{'rows':>8}"
        f"{'previous champion/pooled':>26}"
    )
    print(header)
    total_s, total_models, rows, retrain_total = 0.0, 0, [], 0.0
    done: dict = {}  # the stats trained so far (a combo built from its parts sums theirs)
    for stat in stats:
        ds = build_dataset(features, games, stat, "real", "benchmark")
        t = time.perf_counter()
        if settings.combos_from_parts and stat in PART_TARGETS:
            manifest = _compose(stat, ds, {p: done[p] for p in PART_TARGETS[stat]}, settings)
            seconds = time.perf_counter() - t
            fitted, trained = 0, None
            summary = {r["kind"]: r for r in manifest["summary"]["test"]}
            own = sum(m["players_with_own_champion"] for m in manifest["parts"].values())
        else:
            trained = done[stat] = train_stat(stat, ds.splits(), ds.version, settings)
            seconds = time.perf_counter() - t
            fitted = 1 + len(PLAYER_KINDS) * int(trained.seconds["contenders"])
            summary = {r["kind"]: r for r in trained.summary("test").iter_rows(named=True)}
            own = sum(1 for k in trained.champions.values() if k != "pooled")
        best = min(BASELINES, key=lambda k: summary[k]["mae"])
        change = (summary["champion"]["mae"] / summary[best]["mae"] - 1) * 100
        naive = f"{best.removeprefix('baseline_')} {summary[best]['mae']:.3f}"
        each = "".join(f"{summary[b]['mae']:>8.3f}" for b in BASELINES)
        print(
            f"  {stat:<8}{seconds:>8.1f}{fitted:>8}{own:>5}{summary['champion']['mae']:>10.3f}"
            f"{summary['pooled']['mae']:>9.3f}{naive:>18}{change:>+8.1f}%{each}"
            f"{summary['champion']['rows']:>8}{_previous(stat, summary):>26}",
            flush=True,
        )
        if trained is None:
            print(f"           the sum of its parts' models ({' + '.join(PART_TARGETS[stat])}): "
                  "nothing fitted", flush=True)  # fmt: skip
            total_s += seconds
            rows.append((stat, change, summary["pooled"]["mae"] < summary[best]["mae"]))
            continue
        phases = "  ".join(f"{k} {trained.seconds.get(k, 0.0):.1f}s" for k in PHASES)
        print(
            f"           {phases}  (own-model candidates for {trained.seconds['contenders']} "
            f"of {trained.seconds['eligible']} eligible players)",
            flush=True,
        )
        chosen = {"pooled": trained.pooled_params, **trained.player_params}
        print("           chosen: " + "; ".join(
            f"{k} " + ", ".join(f"{n}={_short(v)}" for n, v in p.items())
            for k, p in chosen.items()), flush=True)  # fmt: skip
        total_s += seconds
        total_models += fitted
        if args.retrain:
            reused = Tuning(trained.version, "now", trained.pooled_params, trained.player_params)
            t = time.perf_counter()
            again = train_stat(stat, ds.splits(), ds.version, settings, tuning=reused)
            retrain_s = time.perf_counter() - t
            test = {r["kind"]: r["mae"] for r in again.summary("test").iter_rows(named=True)}
            print(
                f"           retrain reusing the tuning: {retrain_s:.1f}s, champion "
                f"{test['champion']:.3f}, pooled {test['pooled']:.3f}",
                flush=True,
            )
            retrain_total += retrain_s
        rows.append((stat, change, summary["pooled"]["mae"] < summary[best]["mae"]))
    beats = sum(1 for *_, b in rows if b)
    champ_beats = sum(1 for _, c, _ in rows if c < 0)
    n = len(rows)
    print(
        f"total: {total_s:.1f}s, {total_models:,} models; champion set beats the best naive "
        f"baseline on {champ_beats}/{n} stats, the pooled model alone on {beats}/{n}"
    )
    if args.retrain:
        print(f"retrains reusing the tuning: {retrain_total:.1f}s in all")
    return 0


def _compose(stat: str, ds, parts: dict, settings) -> dict:
    """A combo's version as the sum of its parts' trained versions, measured on its own rows
    (as the `player_models` asset builds it): its manifest."""
    from statmuse_pipelines.core.registry import (
        SumOfParts,
        combo_version,
        compose_stat,
        evaluation_model,
        manifest_of,
    )

    version = combo_version(stat, ds.version, {p: t.version for p, t in parts.items()})
    model = SumOfParts(stat=stat, version=version, fit="evaluation",
                       parts={p: evaluation_model(t) for p, t in parts.items()})  # fmt: skip
    manifests = {p: manifest_of(t, "benchmark") for p, t in parts.items()}
    return compose_stat(stat, ds.splits(), ds.version, model, manifests, settings, "benchmark")[0]


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _previous(stat: str, summary: dict) -> str:
    """The issue-4 figures and the change of the champion set's MAE against them."""
    if stat not in PREVIOUS:
        return "-"
    champion, pooled, _ = PREVIOUS[stat]
    change = (summary["champion"]["mae"] / champion - 1) * 100
    return f"{champion:.3f}/{pooled:.3f} ({change:+.2f}%)"


if __name__ == "__main__":
    sys.exit(main())
