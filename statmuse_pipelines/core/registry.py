"""Serving a model version, refitting it for production, and the promotion gate.

A *model version* of a stat is the set its training run produced: the pooled model and each
player's champion. It has two fits under the same version: the evaluation fit (training split
only: what the metrics measure) and the production fit (every row through the latest game,
with the settings the evaluation fit chose: what serves).

A combo's version (PRA, PR, PA, RA, STL_BLK, with `combos_from_parts`) is the sum of versions of
its parts trained on the same rows: it fits nothing of its own, its fits are its parts' fits,
and it is measured, gated and promoted on its own rows like any version.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from statmuse_pipelines.core.datasets import PART_TARGETS, with_target_features
from statmuse_pipelines.core.features import KEYS
from statmuse_pipelines.core.models import (
    BASELINES,
    FORMAT_VERSION,
    PLAYER_FEATURES,
    POOLED,
    TrainedStat,
    TrainingSettings,
    design_matrix,
    metric_rows,
    pooled_features,
    refit_player_kind,
)

STAGES = ("candidate", "production", "archived")


@dataclass
class ServingModel:
    """The pooled model plus per-player champions, predicting the mean of the target."""

    stat: str
    version: str
    fit: str  # "evaluation" or "production"
    pooled: xgb.XGBRegressor
    features: list[str]
    player_models: dict[int, Any] = field(default_factory=dict)
    player_features: list[str] = field(default_factory=lambda: list(PLAYER_FEATURES))

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Mean prediction per row: the player's own champion if he has one, else pooled."""
        out = self.pooled.predict(design_matrix(frame, self.features))
        if self.player_models and frame.height:
            players = frame["player_id"].to_numpy()
            Xp = design_matrix(frame, self.player_features)
            for pid in np.intersect1d(players, np.fromiter(self.player_models, dtype=np.int64)):
                rows = np.flatnonzero(players == pid)
                out[rows] = self.player_models[int(pid)].predict(Xp[rows])
        return out

    def served_by(self, frame: pl.DataFrame) -> pl.Series:
        """Which model serves each row: 'pooled' or 'player'."""
        own = frame["player_id"].is_in(list(self.player_models))
        return pl.select(pl.when(own).then(pl.lit("player")).otherwise(pl.lit(POOLED))).to_series()


SUM_OF_PARTS = "sum_of_parts"  # the `kind` of a combo version's manifest


@dataclass
class SumOfParts:
    """A combo's model: the sum of its parts' models (PRA = PTS + REB + AST), each part reading
    its own `target_*` features (a combo's rows carry every single stat's history). The mean of
    a sum is the sum of the means; the combo's spread is fit on the combo's own outcomes."""

    stat: str
    version: str
    fit: str
    parts: dict[str, ServingModel]

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return sum(m.predict(with_target_features(frame, part)) for part, m in self.parts.items())

    def pooled_predict(self, frame: pl.DataFrame) -> np.ndarray:
        """The sum of the parts' pooled models alone (what the combo's `pooled` row measures)."""
        return sum(
            m.pooled.predict(design_matrix(with_target_features(frame, part), m.features))
            for part, m in self.parts.items()
        )


def is_sum_of_parts(manifest: dict[str, Any] | None) -> bool:
    return bool(manifest) and manifest.get("kind") == SUM_OF_PARTS


def combo_version(stat: str, dataset_version: str, parts: dict[str, str]) -> str:
    """Same combo dataset and the same part versions, same version."""
    payload = {"format": FORMAT_VERSION, "kind": SUM_OF_PARTS, "stat": stat,
               "dataset": dataset_version, "parts": parts}  # fmt: skip
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
    return f"{stat.lower()}-{digest}"


def compose_stat(
    stat: str,
    splits: dict[str, pl.DataFrame],
    dataset_version: str,
    model: SumOfParts,
    part_manifests: dict[str, dict[str, Any]],
    settings: TrainingSettings,
    created_at: str,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """A combo's version from its parts' evaluation fits (`model`): its manifest and metrics,
    measured on the combo's own validation and test rows against its own naive baselines (the
    parts were fit on the same training rows: the caller checks the datasets match)."""
    if set(model.parts) != set(PART_TARGETS[stat]):
        raise ValueError(
            f"{stat} is {' + '.join(PART_TARGETS[stat])}, not {' + '.join(model.parts)}"
        )
    rows, predictions = [], {}
    for split in ("val", "test"):
        frame = splits[split]
        actual = frame["target"].to_numpy()
        champion, pooled = model.predict(frame), model.pooled_predict(frame)
        base = {b: frame[c].to_numpy() for b, c in BASELINES.items()}
        rows += metric_rows(stat, "all", split, actual, {"champion": champion, POOLED: pooled,
                                                          **base})  # fmt: skip
        predictions[split] = frame.select(*KEYS, "target", *BASELINES.values()).with_columns(
            pl.Series("champion", champion), pl.Series("pooled", pooled)
        )
    metrics = pl.DataFrame(rows).with_columns(
        pl.col("rows").cast(pl.Int64), pl.lit(model.version).alias("version")
    )
    summary = {
        split: metrics.filter(pl.col("split") == split)
        .select("kind", "rows", "mae", "rmse", "bias", "mae_vs_best_baseline")
        .sort("mae")
        .to_dicts()
        for split in ("val", "test")
    }
    own = {p: sum(1 for k in m["champions"].values() if k != POOLED)
           for p, m in part_manifests.items()}  # fmt: skip
    manifest = {
        "stat": stat,
        "version": model.version,
        "kind": SUM_OF_PARTS,
        "dataset_version": dataset_version,
        "created_at": created_at,
        "settings": settings.as_dict(),
        "features": pooled_features(splits["train"]),
        "parts": {
            p: {
                "version": m["version"],
                "dataset_version": m["dataset_version"],
                "players_with_own_champion": own[p],
            }
            for p, m in part_manifests.items()
        },
        "champions": {},
        "summary": summary,
        "importance": [],
        "tuning": {},
        "fits": ["evaluation"],
    }
    return manifest, metrics


def evaluation_model(trained: TrainedStat) -> ServingModel:
    return ServingModel(
        stat=trained.stat,
        version=trained.version,
        fit="evaluation",
        pooled=trained.pooled,
        features=trained.features,
        player_models=dict(trained.player_models),
    )


def manifest_of(trained: TrainedStat, created_at: str) -> dict[str, Any]:
    """What a version's manifest.json records (enough to refit it without the run)."""
    summary = {split: trained.summary(split).to_dicts() for split in ("val", "test")}
    return {
        "stat": trained.stat,
        "version": trained.version,
        "dataset_version": trained.dataset_version,
        "created_at": created_at,
        "settings": trained.settings.as_dict(),
        "pooled_params": trained.pooled_params,
        "pooled_rounds": trained.pooled_rounds,
        "player_params": trained.player_params,
        "features": trained.features,
        "player_features": list(PLAYER_FEATURES),
        "champions": {str(p): k for p, k in trained.champions.items()},
        "player_rounds": {str(p): r for p, r in trained.player_rounds.items()},
        "summary": summary,
        "importance": trained.importance.head(25).to_dicts(),
        "tuning": trained.tuning,
        # who tuned the settings and when: this fit, or the version whose tuning it reused
        "tuned": (
            {"version": trained.version, "at": created_at, "reused": False}
            if trained.reused_tuning is None
            else {
                "version": trained.reused_tuning.version,
                "at": trained.reused_tuning.tuned_at,
                "reused": True,
            }
        ),
        "fits": ["evaluation"],
    }


def refit_production(manifest: dict[str, Any], rows: pl.DataFrame, n_jobs: int = 2) -> ServingModel:
    """The version refit on `rows` (every row of its dataset) with the settings it chose."""
    from joblib import Parallel, delayed

    features = manifest["features"]
    settings = manifest["settings"]
    pooled = xgb.XGBRegressor(
        n_estimators=int(manifest["pooled_rounds"]),
        tree_method="hist",
        random_state=settings["seed"],
        n_jobs=n_jobs,
        **manifest["pooled_params"],
    )
    pooled.fit(design_matrix(rows, features), rows["target"].to_numpy())
    own = {int(p): k for p, k in manifest["champions"].items() if k != POOLED}
    P = manifest["player_features"]
    by_player = rows.filter(pl.col("player_id").is_in(list(own))).partition_by(
        "player_id", as_dict=True
    )
    players = sorted(own)
    models = Parallel(n_jobs=n_jobs)(
        delayed(refit_player_kind)(
            own[p],
            design_matrix(by_player[(p,)], P),
            by_player[(p,)]["target"].to_numpy(),
            manifest["player_params"],
            int(manifest["player_rounds"][str(p)]),
            settings["stacking_folds"],
            settings["seed"],
        )
        for p in players
    )
    return ServingModel(
        stat=manifest["stat"],
        version=manifest["version"],
        fit="production",
        pooled=pooled,
        features=features,
        player_models=dict(zip(players, models, strict=True)),
        player_features=P,
    )


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    candidate_mae: float
    best_baseline: str
    best_baseline_mae: float
    production_version: str | None = None
    production_mae: float | None = None
    compared_on: str | None = None  # "the same test rows" or "each version's own test split"

    def metadata(self) -> dict[str, Any]:
        return {
            "candidate_test_mae": round(self.candidate_mae, 4),
            "best_baseline": self.best_baseline,
            "best_baseline_test_mae": round(self.best_baseline_mae, 4),
            "production_version": self.production_version or "none",
            "production_test_mae": round(self.production_mae, 4)
            if self.production_mae is not None
            else "n/a",
            "compared_on": self.compared_on or "n/a",
        }


def promotion_gate(
    candidate_mae: float,
    baseline_maes: dict[str, float],
    tolerance: float,
    production_version: str | None = None,
    production_mae: float | None = None,
    compared_on: str | None = None,
) -> GateDecision:
    """A candidate set becomes production only if its test MAE beats the best naive baseline on
    the same rows and is not worse than production by more than `tolerance` (relative)."""
    best = min(baseline_maes, key=baseline_maes.get)
    best_mae = baseline_maes[best]
    common = {
        "candidate_mae": candidate_mae,
        "best_baseline": best,
        "best_baseline_mae": best_mae,
        "production_version": production_version,
        "production_mae": production_mae,
        "compared_on": compared_on,
    }
    if not math.isfinite(candidate_mae) or candidate_mae >= best_mae:
        return GateDecision(
            passed=False,
            reason=f"test MAE {candidate_mae:.4f} does not beat the best naive baseline "
            f"({best} {best_mae:.4f}) on the same rows: stays a candidate",
            **common,
        )
    gain = f"{(1 - candidate_mae / best_mae) * 100:.1f}% below {best} ({best_mae:.4f})"
    if production_mae is not None:
        limit = production_mae * (1 + tolerance)
        if candidate_mae > limit:
            return GateDecision(
                passed=False,
                reason=f"test MAE {candidate_mae:.4f} beats the baselines ({gain}) but is worse "
                f"than production {production_version} ({production_mae:.4f}, on "
                f"{compared_on}) by more than {tolerance:.0%}: stays a candidate",
                **common,
            )
        return GateDecision(
            passed=True,
            reason=f"test MAE {candidate_mae:.4f}: {gain}; production {production_version} "
            f"{production_mae:.4f} on {compared_on} (tolerance {tolerance:.0%}): promoted",
            **common,
        )
    return GateDecision(
        passed=True,
        reason=f"test MAE {candidate_mae:.4f}: {gain}; no production version yet: promoted",
        **common,
    )
