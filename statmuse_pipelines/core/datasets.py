"""Training datasets: features joined with the outcome to predict, split by date, versioned.

Twelve targets: single stats and the combos sportsbooks list. Each dataset adds `target_*`
features, the target's own history (for a combo, the sum of its parts' linear features, which is
exact for means), so every model and baseline can refer to `target_ewm`, `target_mean_10` and
`target_season_mean` whatever the stat. The split is by game date, never at random: the oldest
70% of rows train, the next 15% validate, the newest 15% test, and no date is in two splits. The
version is a hash of the rows and the settings, so unchanged input gives the same version.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from statmuse_pipelines.core.features import KEYS, MATCHUP_STATS, STATS, feature_names

TARGETS: dict[str, tuple[str, ...]] = {
    "PTS": ("pts",),
    "REB": ("reb",),
    "AST": ("ast",),
    "FG3M": ("fg3m",),
    "STL": ("stl",),
    "BLK": ("blk",),
    "TOV": ("tov",),
    "PRA": ("pts", "reb", "ast"),
    "PR": ("pts", "reb"),
    "PA": ("pts", "ast"),
    "RA": ("reb", "ast"),
    "STL_BLK": ("stl", "blk"),
}
# a combo's parts as targets (PRA: PTS, REB, AST); a single stat has none
PART_TARGETS: dict[str, tuple[str, ...]] = {
    target: tuple(next(t for t, p in TARGETS.items() if p == (part,)) for part in parts)
    for target, parts in TARGETS.items()
    if len(parts) > 1
}
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1  # bump when the dataset layout changes, so versions change with it

# linear features: the feature of a sum is the sum of the features
_LINEAR = ("mean_3", "mean_5", "mean_10", "ewm", "wmean_10", "season_mean", "prev_season_mean")
_LINEAR_MATCHUP = ("vs_opp_mean", "vs_top10_mean", "vs_bottom10_mean", "vs_opp_last")


def target_feature_names(target: str) -> list[str]:
    parts = TARGETS[target]
    names = [f"target_{k}" for k in _LINEAR]
    if all(p in MATCHUP_STATS for p in parts):
        names += [f"target_{k}" for k in _LINEAR_MATCHUP]
    return names


def with_target_features(frame: pl.DataFrame, target: str) -> pl.DataFrame:
    parts = TARGETS[target]
    assert all(p in STATS for p in parts)
    exprs = [
        pl.sum_horizontal(*(pl.col(f"{p}_{k}") for p in parts)).alias(f"target_{k}")
        for k in _LINEAR
    ]
    if all(p in MATCHUP_STATS for p in parts):
        exprs += [
            pl.sum_horizontal(*(pl.col(f"{p}_{k}") for p in parts)).alias(f"target_{k}")
            for k in _LINEAR_MATCHUP
        ]
    return frame.with_columns(exprs)


@dataclass
class Dataset:
    target: str
    train: pl.DataFrame
    val: pl.DataFrame
    test: pl.DataFrame
    manifest: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def splits(self) -> dict[str, pl.DataFrame]:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_by_date(
    frame: pl.DataFrame, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Oldest ~70% of rows, next ~15%, newest ~15%; whole dates only, so no date is in two."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must add up to 1, got {fractions}")
    per_day = frame.group_by("game_date").len().sort("game_date")
    total = per_day["len"].sum()
    before = per_day["len"].cum_sum() - per_day["len"]
    share = before / max(total, 1)
    label = (
        pl.when(share < fractions[0])
        .then(pl.lit("train"))
        .when(share < fractions[0] + fractions[1])
        .then(pl.lit("val"))
        .otherwise(pl.lit("test"))
    )
    days = per_day.with_columns(share=share).with_columns(split=label).select("game_date", "split")
    labelled = frame.join(days, on="game_date", how="left")
    return tuple(  # type: ignore[return-value]
        labelled.filter(pl.col("split") == s).drop("split") for s in SPLITS
    )


def _bounds(frame: pl.DataFrame) -> dict[str, str | None]:
    if frame.height == 0:
        return {"start": None, "end": None}
    return {"start": str(frame["game_date"].min()), "end": str(frame["game_date"].max())}


def content_hash(frames: list[pl.DataFrame], settings: dict) -> str:
    """A stable hash of the rows (Arrow IPC bytes, fixed order) and the settings.

    The same rows read from one file or from three thousand must hash the same, so the bytes
    must not depend on memory layout: frames are rechunked (IPC writes a record batch per chunk)
    and written at the oldest Arrow compatibility level (plain string buffers; polars' string
    views point into whatever buffers the rows happened to be read into).
    """
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for f in frames:
        buf = io.BytesIO()
        f.rechunk().write_ipc(buf, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
        h.update(buf.getvalue())
    return h.hexdigest()[:12]


def build_dataset(
    features: pl.DataFrame,
    outcomes: pl.DataFrame,
    target: str,
    source: str,
    created_at: str,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> Dataset:
    """The dataset of one target: features + `target_*` features + the outcome, split by date.

    features: player_features rows; outcomes: player_game_stats rows of the same games.
    """
    return build_datasets(features, outcomes, [target], source, created_at, fractions)[target]


def build_datasets(
    features: pl.DataFrame,
    outcomes: pl.DataFrame,
    targets: list[str],
    source: str,
    created_at: str,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> dict[str, Dataset]:
    """The datasets of `targets` (see `build_dataset`). Every target has the same rows and the
    same split, so the features are joined with the outcomes, ordered and split once (the nine
    real seasons: that was half of each target's 1.5 s); each target then takes its columns."""
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target {unknown[0]!r}; one of {', '.join(TARGETS)}")
    stats = sorted({p for t in targets for p in TARGETS[t]})
    joined = features.join(
        outcomes.select("player_id", "game_id", *(pl.col(p).alias(f"_outcome_{p}") for p in stats)),
        on=["player_id", "game_id"],
        how="inner",
    ).sort("game_date", "game_id", "player_id")
    split = dict(zip(SPLITS, split_by_date(joined, fractions), strict=True))
    # each target's columns and content hash on both cores (polars and hashlib let go of the
    # GIL): the nine real seasons' twelve hashes, 6.6 s in turn, 4.9 s two at a time
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.map(lambda t: _dataset(t, split, source, created_at, fractions), targets)
        return dict(zip(targets, built, strict=True))


def _dataset(
    target: str,
    joined: dict[str, pl.DataFrame],
    source: str,
    created_at: str,
    fractions: tuple[float, float, float],
) -> Dataset:
    parts = TARGETS[target]
    names = feature_names() + target_feature_names(target)
    columns = [*KEYS, "target", *names]
    train, val, test = (
        with_target_features(joined[s], target)
        .with_columns(
            pl.sum_horizontal(*(pl.col(f"_outcome_{p}") for p in parts))
            .cast(pl.Float64)
            .alias("target")
        )
        .select(columns)
        for s in SPLITS
    )
    settings = {
        "format": FORMAT_VERSION,
        "target": target,
        "parts": list(parts),
        "fractions": list(fractions),
        "features": names,
    }
    version = content_hash([train, val, test], settings)
    manifest = {
        "target": target,
        "version": version,
        "created_at": created_at,
        "target_definition": " + ".join(parts),
        "rows": {"train": train.height, "val": val.height, "test": test.height},
        "dates": {"train": _bounds(train), "val": _bounds(val), "test": _bounds(test)},
        "cutoffs": {
            "train_end": _bounds(train)["end"],
            "val_start": _bounds(val)["start"],
            "val_end": _bounds(val)["end"],
            "test_start": _bounds(test)["start"],
        },
        "split_fractions": list(fractions),
        "features": names,
        "keys": list(KEYS),
        "source": source,
    }
    return Dataset(target, train, val, test, manifest)


def splits_overlap(ds: Dataset) -> list[str]:
    """Problems with the split: date ranges that overlap or run backwards."""
    problems = []
    bounds = [(s, _bounds(f)) for s, f in ds.splits().items() if f.height]
    for (a, ba), (b, bb) in itertools.pairwise(bounds):
        if ba["end"] is not None and bb["start"] is not None and ba["end"] >= bb["start"]:
            problems.append(f"{a} ends {ba['end']} but {b} starts {bb['start']}")
    return problems


def as_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
