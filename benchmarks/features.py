"""Feature benchmark: the full polars feature pass against a straightforward pandas reference.

On the real seasons in ../shared/data/nba: time the full as-of feature pass (every feature, one
vectorized polars pass), then a plain pandas reference (groupby + rolling + shift(1), the usual
way) for a fixed subset of the features; check both give the same numbers on a sample of rows;
print the times, rows per second and the ratio.

    python benchmarks/features.py             # nine seasons, 2015-16..2023-24
    python benchmarks/features.py --reduced   # one season (the test suite runs this)
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nba"
FULL = (date(2015, 10, 1), date(2024, 4, 30))
REDUCED = (date(2023, 7, 1), date(2024, 4, 30))
SUBSET_STATS = ("pts", "reb", "ast", "fg3m")
SAMPLE_ROWS = 5_000


def pandas_reference(games: pl.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The subset, the pandas way: per (player, season window) groups, rolling, then shift(1)."""
    g = games.select("player_id", "game_id", "game_date", "season", *SUBSET_STATS).to_pandas()
    g["season_year"] = g["season"].str.slice(0, 4).astype(int)
    # the same history rule as the pipeline: a game of season S sees seasons S-1 and S
    e = pd.concat([g.assign(epoch=g.season_year), g.assign(epoch=g.season_year + 1)])
    e = e.sort_values(["player_id", "epoch", "game_date"]).reset_index(drop=True)
    grouped = e.groupby(["player_id", "epoch"], sort=False)
    names = []
    for s in SUBSET_STATS:
        col = grouped[s]
        for w in (3, 5, 10):
            e[f"{s}_mean_{w}"] = col.transform(
                lambda x, w=w: x.rolling(w, min_periods=1).mean().shift(1)
            )
            names.append(f"{s}_mean_{w}")
        e[f"{s}_ewm"] = col.transform(lambda x: x.ewm(alpha=0.3, adjust=False).mean().shift(1))
        e[f"{s}_std_5"] = col.transform(lambda x: x.rolling(5, min_periods=2).std().shift(1))
        e[f"{s}_max_10"] = col.transform(lambda x: x.rolling(10, min_periods=1).max().shift(1))
        cur = e[s].where(e["season_year"] == e["epoch"], np.nan)
        e[f"{s}_season_mean"] = cur.groupby([e["player_id"], e["epoch"]]).transform(
            lambda x: x.expanding().mean().shift(1)
        )
        names += [f"{s}_ewm", f"{s}_std_5", f"{s}_max_10", f"{s}_season_mean"]
    e = e[e["season_year"] == e["epoch"]]
    e[names] = e[names].fillna(0.0)
    return e[["player_id", "game_id", *names]], names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="one season instead of nine")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of nba_api exports")
    args = parser.parse_args(argv)
    if not (args.data / "player_game_logs").is_dir():
        print(f"no exports at {args.data}: pass --data", file=sys.stderr)
        return 2
    from statmuse_pipelines.core.features import build_features, feature_names
    from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
    from statmuse_pipelines.resources.sources import FilesGameLogSource

    start, end = REDUCED if args.reduced else FULL
    source = FilesGameLogSource(directory=str(args.data))
    games = normalize_player_logs(source.fetch("player", start, end))
    teams = normalize_team_logs(source.fetch("team", start, end))
    print(f"feature benchmark: {games.height:,} player-games, {start}..{end}")

    t = time.perf_counter()
    features = build_features(games, teams, games)
    polars_s = time.perf_counter() - t
    n_all = len(feature_names())

    t = time.perf_counter()
    reference, names = pandas_reference(games)
    pandas_s = time.perf_counter() - t

    sample = features.sample(min(SAMPLE_ROWS, features.height), seed=0).select(
        "player_id", "game_id", *names
    )
    joined = sample.join(
        pl.from_pandas(reference), on=["player_id", "game_id"], suffix="_pandas", how="left"
    )
    worst = max(
        float((joined[n].cast(pl.Float64) - joined[f"{n}_pandas"]).abs().max()) for n in names
    )
    if joined.height != sample.height or worst > 1e-3:
        print(f"MISMATCH: polars and pandas differ by up to {worst}", file=sys.stderr)
        return 1

    print(f"  {'pass':<42}{'features':>9}{'seconds':>9}{'rows/s':>11}")
    for label, n, seconds in (
        ("polars, full as-of pass (the pipeline)", n_all, polars_s),
        ("pandas reference, groupby-rolling-shift", len(names), pandas_s),
    ):
        print(f"  {label:<42}{n:>9}{seconds:>9.2f}{games.height / seconds:>11,.0f}")
    print(
        f"  same numbers on {sample.height:,} sampled rows x {len(names)} features "
        f"(max diff {worst:.1e})"
    )
    per_feature = (pandas_s / len(names)) / (polars_s / n_all)
    print(
        f"ratio: pandas takes {pandas_s / polars_s:.1f}x the time of polars for "
        f"{len(names)}/{n_all} of the features ({per_feature:.0f}x per feature)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
