"""Models for one stat target: a pooled model, per-player ensembles, champions, baselines.

- The pooled model is gradient boosting (XGBoost) over every feature and every player, with early
  stopping on the validation split. It serves players without enough history and competes for
  everyone else.
- Players with at least `min_games` training rows get five candidates on a compact feature set:
  RandomForest, XGBoost (early stopping on their validation rows), ElasticNet, a weighted vote
  (0.4 / 0.4 / 0.2) and a stack with a Ridge meta-learner.
- Each player's champion is the candidate (pooled included) with the lowest validation MAE, with
  one guard against the winner's curse: an own model replaces the pooled model only when its
  validation advantage is clear of noise (the mean paired difference of absolute errors exceeds
  `champion_z` standard errors). The best of five candidates on a few dozen validation games
  looks better than it is; on the nine real seasons, taking it unguarded made the champion set
  worse on test than the pooled model alone (PTS 4.663 against 4.524).
  The test split is never used to choose anything: it only measures.
- Every model is compared with three naive baselines on exactly the same rows: the mean of the last
  10 games, the exponentially weighted mean and the season-to-date mean (the datasets'
  `target_mean_10`, `target_ewm` and `target_season_mean` features).
- Optuna tunes the pooled model, and one shared set of per-player settings per stat (on a sample
  of players), on validation data only, with pruning.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb
from joblib import Parallel, delayed
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from statmuse_pipelines.core.ensembles import WeightedVote, stack
from statmuse_pipelines.core.features import KEYS

FORMAT_VERSION = 1
POOLED = "pooled"
PLAYER_KINDS = ("rf", "xgb", "elasticnet", "voting", "stacking")
VOTE_WEIGHTS = (0.4, 0.4, 0.2)  # rf, xgb, elasticnet
BASELINES = {
    "baseline_last10": "target_mean_10",
    "baseline_ewm": "target_ewm",
    "baseline_season": "target_season_mean",
}
# the per-player models see the target's own history, the minutes behind it and the context:
# a few hundred rows cannot support 265 features
PLAYER_FEATURES: tuple[str, ...] = (
    "target_mean_3", "target_mean_5", "target_mean_10", "target_ewm", "target_wmean_10",
    "target_season_mean", "target_prev_season_mean", "minutes_mean_5", "minutes_ewm",
    "minutes_season_mean", "usage_share_10", "games_last_10", "season_games", "home",
    "rest_days", "back_to_back", "travel_km", "opp_def_rating", "opp_pace", "opp_def_rank",
    "opp_pts_allowed", "opp_reb_allowed", "opp_ast_allowed", "opp_fg3m_allowed", "team_pace",
)  # fmt: skip

DEFAULT_POOLED_PARAMS: dict[str, Any] = {
    "max_depth": 5,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.6,
    "min_child_weight": 5.0,
}
POOLED_MAX_ROUNDS = 1500
# histogram bins of a player's own XGBoost: his few hundred rows fill 32 bins per feature, and
# on so few rows a boosting round costs ~0.4 ms at XGBoost's default 256 bins, ~0.2 ms at 32
PLAYER_MAX_BIN = 32
DEFAULT_PLAYER_PARAMS: dict[str, dict[str, Any]] = {
    # 60 trees, sized for a player's few hundred rows (120 cost twice as much), each split
    # choosing among half the features (a random forest's decorrelation, and 30% cheaper than
    # all of them); the champion set's MAE with them is what benchmarks/training.py prints
    "rf": {
        "n_estimators": 60,
        "max_depth": 8,
        "min_samples_split": 10,
        "min_samples_leaf": 4,
        "max_features": 0.5,
    },
    "xgb": {
        "n_estimators": 300,
        "max_depth": 3,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
    },
    "elasticnet": {"alpha": 0.3, "l1_ratio": 0.5},
}


@dataclass(frozen=True)
class TrainingSettings:
    min_games: int = 50  # training rows a player needs for his own models
    max_players: int = 0  # at most this many per-player model sets (most games first; 0 = all)
    pooled_trials: int = 8  # Optuna trials for the pooled model (0 = fixed defaults)
    player_trials: int = 4  # Optuna trials for the shared per-player settings (0 = defaults)
    tuning_players: int = 16  # players sampled to score a per-player trial
    # training rows a pooled trial is fit on (a seeded random sample, in order; 0 = all): the
    # trials compare settings, the winner is then fit on every training row
    tuning_rows: int = 50_000
    stacking_folds: int = 3
    promotion_tolerance: float = 0.02  # how much worse than production a candidate may be
    champion_z: float = 2.0  # standard errors an own model must beat pooled by (0 = plain min)
    seed: int = 7
    # tuned settings older than this many days are tuned again (0: tune every training); younger
    # ones, tuned with the same trials on the same features, are reused (`reusable_tuning`)
    retune_days: int = 28
    # a combo (PRA, PR, PA, RA, STL_BLK) is the sum of its parts' models, trained once for the
    # single stats, instead of models of its own (`core.registry.SumOfParts`)
    combos_from_parts: bool = True
    n_jobs: int = 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tuning:
    """Tuned settings another version chose, for a retrain to reuse instead of tuning again."""

    version: str  # the version whose training tuned them
    tuned_at: str  # when (ISO UTC)
    pooled_params: dict[str, Any]
    player_params: dict[str, dict[str, Any]]


TUNING_KEYS = ("pooled_trials", "player_trials", "tuning_players", "tuning_rows", "seed")


def reusable_tuning(
    manifest: dict[str, Any] | None,
    features: list[str],
    settings: TrainingSettings,
    now: str,
) -> Tuning | None:
    """The tuned settings of `manifest` (the production version's), when a retrain with
    `settings` on `features` may reuse them: tuned with the same trials, sample and seed, on
    the same feature columns, fewer than `retune_days` days before `now`; else None (tune)."""
    if manifest is None or settings.retune_days <= 0:
        return None
    if settings.pooled_trials <= 0 and settings.player_trials <= 0:
        return None  # nothing to tune: the defaults
    tuned = manifest.get("tuned") or {}
    old = manifest.get("settings", {})
    if not tuned.get("at") or any(old.get(k) != getattr(settings, k) for k in TUNING_KEYS):
        return None
    if list(manifest.get("features", [])) != list(features):
        return None
    if list(manifest.get("player_features", [])) != list(PLAYER_FEATURES):
        return None
    age = datetime.fromisoformat(now) - datetime.fromisoformat(tuned["at"])
    if age.total_seconds() >= settings.retune_days * 86400:
        return None
    return Tuning(
        version=tuned["version"],
        tuned_at=tuned["at"],
        pooled_params=dict(manifest["pooled_params"]),
        player_params={k: dict(v) for k, v in manifest["player_params"].items()},
    )


def model_version(
    stat: str, dataset_version: str, settings: TrainingSettings, tuning: Tuning | None = None
) -> str:
    """Same dataset, settings and tuning, same version (n_jobs and retune_days do not change
    results, and combos_from_parts only decides whether a combo gets a version of this kind;
    reused tuned settings do change results)."""
    payload = {
        "format": FORMAT_VERSION,
        "stat": stat,
        "dataset": dataset_version,
        "settings": {
            k: v
            for k, v in settings.as_dict().items()
            if k not in ("n_jobs", "retune_days", "combos_from_parts")
        },
        "player_features": PLAYER_FEATURES,
    }
    if tuning is not None:
        payload["tuning"] = [tuning.version, tuning.pooled_params, tuning.player_params]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
    return f"{stat.lower()}-{digest}"


def pooled_features(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (*KEYS, "target")]


def design_matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """`columns` of `frame` as one row-major array, the layout XGBoost reads. Polars hands out
    column-major blocks, which XGBoost first copies; on the demo's 59,011 x 266 PTS rows that
    took a QuantileDMatrix from 0.94 s to 1.42 s (and a row's gather per player strides too).
    The values are the same, so are the models."""
    return frame.select(columns).to_numpy(order="c")


# --- metrics -----------------------------------------------------------------------------------


def error_metrics(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    if len(actual) == 0:
        return {"rows": 0, "mae": math.nan, "rmse": math.nan, "bias": math.nan}
    err = pred - actual
    return {
        "rows": len(actual),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(np.mean(err)),
    }


# --- the pooled model --------------------------------------------------------------------------


class _PruneCallback(xgb.callback.TrainingCallback):
    """Reports validation MAE to an Optuna trial every 25 rounds; stops a trial it prunes."""

    def __init__(self, trial):
        self.trial = trial
        self.pruned = False

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if epoch % 25 == 0:
            mae = evals_log["validation_0"]["mae"][-1]
            self.trial.report(mae, step=epoch)
            if self.trial.should_prune():
                self.pruned = True
                return True
        return False


class PooledData:
    """The pooled model's training and validation rows, quantized for XGBoost's `hist` once per
    stat: on the nine real seasons that is ~3.5 s of each pooled fit, and tuning fits many."""

    def __init__(self, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, n_jobs: int):
        self.train = xgb.QuantileDMatrix(X, y, nthread=n_jobs)
        self.val = xgb.QuantileDMatrix(Xv, yv, ref=self.train, nthread=n_jobs)


def fit_pooled(
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    params: dict[str, Any],
    seed: int,
    n_jobs: int,
    callbacks: list | None = None,
    data: PooledData | None = None,
) -> xgb.XGBRegressor:
    """Gradient boosting with early stopping on validation MAE; `data`: the rows already
    quantized (the same model as `XGBRegressor.fit` on the arrays: tested)."""
    data = data or PooledData(X, y, Xv, yv, n_jobs)
    booster = xgb.train(
        {
            "objective": "reg:squarederror",
            "eval_metric": "mae",
            "tree_method": "hist",
            "random_state": seed,
            "nthread": n_jobs,
            **params,
        },
        data.train,
        num_boost_round=POOLED_MAX_ROUNDS,
        evals=[(data.val, "validation_0")],
        early_stopping_rounds=50,
        callbacks=callbacks,
        verbose_eval=False,
    )
    model = xgb.XGBRegressor(
        n_estimators=POOLED_MAX_ROUNDS,
        early_stopping_rounds=50,
        eval_metric="mae",
        tree_method="hist",
        random_state=seed,
        n_jobs=n_jobs,
        **params,
    )
    model.load_model(booster.save_raw("ubj"))
    return model


def tuning_sample(n: int, rows: int, seed: int) -> np.ndarray | None:
    """The training rows a pooled trial is fit on: `rows` of `n`, drawn without replacement by
    `seed` and kept in order; None when that is all of them (or `rows` is 0)."""
    if rows <= 0 or n <= rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))


def tune_pooled(
    X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, settings: TrainingSettings
) -> tuple[dict[str, Any], list[dict], xgb.XGBRegressor | None]:
    """Best pooled parameters by validation MAE (the defaults when trials = 0), the trials, and
    the best trial's fitted model when the trials were fit on every training row (the same
    parameters and seed give the same model, so it is kept rather than fit again; None without
    trials, or when they were fit on the `tuning_rows` sample and the winner still needs its
    fit on all rows)."""
    if settings.pooled_trials <= 0:
        return dict(DEFAULT_POOLED_PARAMS), [], None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fitted: dict[int, xgb.XGBRegressor] = {}
    sample = tuning_sample(len(y), settings.tuning_rows, settings.seed)
    Xs, ys = (X, y) if sample is None else (X[sample], y[sample])
    data = PooledData(Xs, ys, Xv, yv, settings.n_jobs)  # once, not once per trial

    def objective(trial: optuna.Trial) -> float:
        params = {
            "max_depth": trial.suggest_int("max_depth", 3, 10),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        }
        prune = _PruneCallback(trial)
        model = fit_pooled(Xs, ys, Xv, yv, params, settings.seed, settings.n_jobs, [prune], data)
        if prune.pruned:
            raise optuna.TrialPruned()
        mae = float(np.mean(np.abs(model.predict(Xv) - yv)))
        best = min((t.value for t in study.trials if t.value is not None), default=math.inf)
        if sample is None and mae < best:  # only the best so far is kept
            fitted.clear()
            fitted[trial.number] = model
        return mae

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=50),
    )
    study.enqueue_trial(DEFAULT_POOLED_PARAMS)  # the defaults compete too
    study.optimize(objective, n_trials=settings.pooled_trials)
    return dict(study.best_params), _trials(study), fitted.get(study.best_trial.number)


def _trials(study) -> list[dict]:
    return [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
        for t in study.trials
    ]


# --- per-player candidates ---------------------------------------------------------------------


def _members(params: dict[str, dict[str, Any]], seed: int, xgb_rounds: int | None = None) -> list:
    xgb_params = dict(params["xgb"])
    if xgb_rounds is not None:
        xgb_params["n_estimators"] = xgb_rounds
    rf_params = dict(params["rf"])
    return [
        RandomForestRegressor(
            **rf_params, oob_score=_use_oob(rf_params), random_state=seed, n_jobs=1
        ),
        xgb.XGBRegressor(
            **xgb_params, random_state=seed, n_jobs=1, tree_method="hist", max_bin=PLAYER_MAX_BIN
        ),
        Pipeline(
            [
                ("scale", StandardScaler()),
                ("model", ElasticNet(**params["elasticnet"], max_iter=5000, random_state=seed)),
            ]
        ),
    ]


def _use_oob(rf_params: dict[str, Any]) -> bool:
    """Whether the forest's out-of-bag predictions stand in for its stacking folds: with this
    many trees every training row is left out of some bootstrap (a row is in all 30 with
    probability 0.632^30 < 1e-5), so each row has an out-of-sample prediction."""
    return int(rf_params.get("n_estimators", 100)) >= 30


def _stack(members: list, params, seed: int, rounds: int, X, y, folds: int):
    """The stack of fitted members: out-of-fold predictions for XGBoost and ElasticNet from
    contiguous folds, the forest's out-of-bag predictions where it has them (no fold forests)."""
    rf = members[0]
    known = {0: rf.oob_prediction_} if getattr(rf, "oob_score", False) else {}
    folds = max(2, min(folds, len(y) // 10))
    return stack(members, lambda: _members(params, seed, rounds), X, y, folds, known=known)


def fit_player_candidates(
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    params: dict[str, dict[str, Any]],
    folds: int,
    seed: int,
) -> dict[str, Any]:
    """The five candidates of one player, fitted on his training rows."""
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rf, xg, en = _members(params, seed)
    rf.fit(X, y)
    if len(yv):
        xg.set_params(early_stopping_rounds=30)
        xg.fit(X, y, eval_set=[(Xv, yv)], verbose=False)
        rounds = int(xg.best_iteration) + 1
    else:
        xg.fit(X, y, verbose=False)
        rounds = int(params["xgb"]["n_estimators"])
    en.fit(X, y)
    vote = WeightedVote([rf, xg, en], VOTE_WEIGHTS)
    stacked = _stack([rf, xg, en], params, seed, rounds, X, y, folds)
    return {
        "rf": rf,
        "xgb": xg,
        "elasticnet": en,
        "voting": vote,
        "stacking": stacked,
        "_xgb_rounds": rounds,
    }


def candidate_predictions(cands: dict[str, Any], X: np.ndarray) -> dict[str, np.ndarray]:
    """Each candidate's predictions of X. The vote and the stack are built on the same three
    fitted members, so their predictions come from the members' (each member predicts once)."""
    if not len(X):
        return {}
    base = {k: cands[k].predict(X) for k in ("rf", "xgb", "elasticnet")}
    members = np.column_stack([base["rf"], base["xgb"], base["elasticnet"]])
    return {
        **base,
        "voting": cands["voting"].combine(members),
        "stacking": cands["stacking"].combine(members),
    }


def choose_champion(
    val_preds: dict[str, np.ndarray], pooled_val: np.ndarray, actual: np.ndarray, z: float
) -> str:
    """The lowest validation MAE, the pooled model included (ties go to pooled); an own model
    only when it is clearly better than pooled (`clearly_better`); pooled without validation."""
    if not len(actual):
        return POOLED
    scores = {k: float(np.mean(np.abs(v - actual))) for k, v in val_preds.items()}
    scores[POOLED] = float(np.mean(np.abs(pooled_val - actual)))
    champion = min(scores, key=lambda k: (scores[k], k != POOLED))
    if champion != POOLED and not clearly_better(val_preds[champion], pooled_val, actual, z):
        return POOLED
    return champion


def fit_player_champion(
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    Xt: np.ndarray,
    pooled_val: np.ndarray,
    params: dict[str, dict[str, Any]],
    folds: int,
    seed: int,
    champion_z: float,
) -> dict[str, Any]:
    """One player's candidates, their validation and test predictions, and his champion. Only
    the champion's model is returned (None when pooled wins): the losers are never needed again,
    and sending every fitted forest back from a worker process costs more than fitting it."""
    cands = fit_player_candidates(X, y, Xv, yv, params, folds, seed)
    rounds = cands.pop("_xgb_rounds")
    val_preds = candidate_predictions(cands, Xv)
    champion = choose_champion(val_preds, pooled_val, yv, champion_z)
    return {
        "champion": champion,
        "model": cands.get(champion),
        "rounds": rounds,
        "val": val_preds,
        "test": candidate_predictions(cands, Xt),
    }


def refit_player_kind(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, dict[str, Any]],
    xgb_rounds: int,
    folds: int,
    seed: int,
):
    """One player's champion kind refit on all his rows (production), with the chosen settings."""
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rf, xg, en = _members(params, seed, xgb_rounds)
    if kind == "rf":
        return rf.fit(X, y)
    if kind == "xgb":
        return xg.fit(X, y, verbose=False)
    if kind == "elasticnet":
        return en.fit(X, y)
    for m in (rf, xg, en):
        m.fit(X, y)
    if kind == "voting":
        return WeightedVote([rf, xg, en], VOTE_WEIGHTS)
    return _stack([rf, xg, en], params, seed, xgb_rounds, X, y, folds)


def _vote_mae(params: dict[str, dict[str, Any]], seed: int, X, y, Xv, yv) -> float:
    """One sampled player's validation MAE of the vote under a per-player trial's settings."""
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rf, xg, en = _members(params, seed)
    for m in (rf, xg, en):
        m.fit(X, y)
    vote = WeightedVote([rf, xg, en], VOTE_WEIGHTS)
    return float(np.mean(np.abs(vote.predict(Xv) - yv)))


def tune_player_params(
    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    settings: TrainingSettings,
) -> tuple[dict[str, dict[str, Any]], list[dict]]:
    """Shared per-player settings: the ones whose vote has the lowest mean validation MAE over a
    sample of players (one study per stat, not one per player). The ranges are sized for a
    player's few hundred rows (shallow boosting, forests of 30-80 trees). A trial scores its
    players `n_jobs` at a time on both cores and reports after each of them, in order, so the
    pruner decides exactly as it would one player at a time."""
    if settings.player_trials <= 0 or not groups:
        return {k: dict(v) for k, v in DEFAULT_PLAYER_PARAMS.items()}, []
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    step_size = max(1, settings.n_jobs)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "rf": {
                "n_estimators": trial.suggest_int("rf_n_estimators", 30, 80),
                "max_depth": trial.suggest_int("rf_max_depth", 4, 12),
                "min_samples_split": trial.suggest_int("rf_min_samples_split", 5, 20),
                "min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 2, 10),
                "max_features": DEFAULT_PLAYER_PARAMS["rf"]["max_features"],
            },
            "xgb": {
                "n_estimators": trial.suggest_int("xgb_n_estimators", 50, 300),
                "max_depth": trial.suggest_int("xgb_max_depth", 2, 6),
                "learning_rate": trial.suggest_float("xgb_learning_rate", 0.02, 0.3, log=True),
                "subsample": trial.suggest_float("xgb_subsample", 0.6, 1.0),
                "colsample_bytree": trial.suggest_float("xgb_colsample_bytree", 0.5, 1.0),
            },
            "elasticnet": {
                "alpha": trial.suggest_float("en_alpha", 0.01, 1.0, log=True),
                "l1_ratio": trial.suggest_float("en_l1_ratio", 0.1, 0.9),
            },
        }
        maes: list[float] = []
        for first in range(0, len(groups), step_size):
            chunk = groups[first : first + step_size]
            maes += parallel(delayed(_vote_mae)(params, settings.seed, *g) for g in chunk)
            for step in range(first, first + len(chunk)):
                trial.report(float(np.mean(maes[: step + 1])), step=step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.mean(maes))

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3),
    )
    study.enqueue_trial(
        {
            **{f"rf_{k}": v for k, v in DEFAULT_PLAYER_PARAMS["rf"].items() if k != "max_features"},
            **{f"xgb_{k}": v for k, v in DEFAULT_PLAYER_PARAMS["xgb"].items()},
            **{f"en_{k}": v for k, v in DEFAULT_PLAYER_PARAMS["elasticnet"].items()},
        }
    )
    with Parallel(n_jobs=step_size) as parallel:  # the same workers for every trial
        study.optimize(objective, n_trials=settings.player_trials)
    best = study.best_params
    params = {
        "rf": {
            **{k[3:]: v for k, v in best.items() if k.startswith("rf_")},
            "max_features": DEFAULT_PLAYER_PARAMS["rf"]["max_features"],  # fixed, not tuned
        },
        "xgb": {k[4:]: v for k, v in best.items() if k.startswith("xgb_")},
        "elasticnet": {k[3:]: v for k, v in best.items() if k.startswith("en_")},
    }
    return params, _trials(study)


# --- training one stat -------------------------------------------------------------------------


@dataclass
class TrainedStat:
    """Everything the evaluation fit of one stat produced."""

    stat: str
    version: str
    dataset_version: str
    settings: TrainingSettings
    pooled: xgb.XGBRegressor
    pooled_params: dict[str, Any]
    pooled_rounds: int
    player_params: dict[str, dict[str, Any]]
    player_models: dict[int, Any]  # champion model of each player whose champion is his own
    champions: dict[int, str]  # champion kind of every player with candidates ("pooled" or own)
    player_rounds: dict[int, int]  # xgb rounds (early stopping) per player, for refits
    features: list[str]
    metrics: pl.DataFrame  # stat, scope, kind, split, rows, mae, rmse, bias, mae_vs_best_baseline
    predictions: dict[str, pl.DataFrame]  # val/test: keys, target, champion and baseline preds
    importance: pl.DataFrame  # pooled feature importance (gain)
    tuning: dict[str, list[dict]] = field(default_factory=dict)
    reused_tuning: Tuning | None = None  # the tuned settings reused (None: tuned by this fit)
    seconds: dict[str, float] = field(default_factory=dict)  # where the training time went

    def summary(self, split: str = "test") -> pl.DataFrame:
        """Champion set, pooled model and baselines on all rows of a split."""
        return (
            self.metrics.filter((pl.col("scope") == "all") & (pl.col("split") == split))
            .select("kind", "rows", "mae", "rmse", "bias", "mae_vs_best_baseline")
            .sort("mae")
        )


def clearly_better(pred: np.ndarray, reference: np.ndarray, actual: np.ndarray, z: float) -> bool:
    """Whether `pred` has a lower MAE than `reference` by more than `z` standard errors of the
    mean paired difference in absolute error (z = 0: any improvement at all)."""
    gain = np.abs(reference - actual) - np.abs(pred - actual)
    if len(gain) == 0 or gain.mean() <= 0:
        return False
    if z <= 0:
        return True
    if len(gain) < 2:
        return False
    se = gain.std(ddof=1) / math.sqrt(len(gain))
    return bool(gain.mean() > z * se)


def metric_rows(
    stat: str, scope: str, split: str, actual: np.ndarray, preds: dict[str, np.ndarray]
) -> list[dict]:
    base = {k: error_metrics(preds[k], actual) for k in BASELINES if k in preds}
    best = min((m["mae"] for m in base.values()), default=math.nan)
    rows = []
    for kind, p in preds.items():
        m = error_metrics(p, actual)
        rows.append(
            {
                "stat": stat,
                "scope": scope,
                "kind": kind,
                "split": split,
                **m,
                "mae_vs_best_baseline": m["mae"] / best if best and best > 0 else math.nan,
            }
        )
    return rows


def _player_groups(frame: pl.DataFrame) -> dict[int, np.ndarray]:
    """Row indices of each player in a frame."""
    idx = frame.with_row_index("_i").group_by("player_id").agg(pl.col("_i"))
    return {int(p): np.asarray(i, dtype=np.int64) for p, i in idx.iter_rows()}


def train_stat(
    stat: str,
    splits: dict[str, pl.DataFrame],
    dataset_version: str,
    settings: TrainingSettings,
    log=lambda msg: None,
    tuning: Tuning | None = None,
) -> TrainedStat:
    """The evaluation fit of one stat: tune (or reuse `tuning`), fit, pick champions on
    validation, measure on test."""
    clock = _Clock()
    train, val, test = splits["train"], splits["val"], splits["test"]
    features = pooled_features(train)
    X, y = design_matrix(train, features), train["target"].to_numpy()
    Xv, yv = design_matrix(val, features), val["target"].to_numpy()
    Xt, yt = design_matrix(test, features), test["target"].to_numpy()

    clock.lap("arrays")
    if tuning is None:
        pooled_params, pooled_trials, pooled = tune_pooled(X, y, Xv, yv, settings)
    else:
        pooled_params, pooled_trials, pooled = dict(tuning.pooled_params), [], None
    clock.lap("pooled_tuning")
    if pooled is None:
        pooled = fit_pooled(X, y, Xv, yv, pooled_params, settings.seed, settings.n_jobs)
    clock.lap("pooled_fit")
    pooled_rounds = int(pooled.best_iteration) + 1
    log(f"{stat}: pooled model, {pooled_rounds} rounds, params {pooled_params}")

    # players with enough training games, the most experienced first
    counts = train.group_by("player_id").len().filter(pl.col("len") >= settings.min_games)
    eligible = counts.sort(["len", "player_id"], descending=[True, False])["player_id"].to_list()
    if settings.max_players:
        eligible = eligible[: settings.max_players]
    P = list(PLAYER_FEATURES)
    tr_g, va_g, te_g = _player_groups(train), _player_groups(val), _player_groups(test)
    Xp, Xpv, Xpt = (design_matrix(f, P) for f in (train, val, test))
    empty = np.zeros(0, dtype=np.int64)

    # shared per-player settings, tuned on a sample of players who have validation rows
    rng = np.random.default_rng(settings.seed)
    with_val = [p for p in eligible if len(va_g.get(p, empty)) >= 5]
    n_sample = min(settings.tuning_players, len(with_val))
    sample = sorted(rng.choice(with_val, n_sample, replace=False).tolist()) if n_sample else []
    groups = [(Xp[tr_g[p]], y[tr_g[p]], Xpv[va_g[p]], yv[va_g[p]]) for p in sample]
    clock.lap("player_arrays")
    if tuning is None:
        player_params, player_trials = tune_player_params(groups, settings)
    else:
        player_params, player_trials = tuning.player_params, []
    clock.lap("player_tuning")
    log(f"{stat}: {len(eligible)} players with >= {settings.min_games} training games")

    # an own model can only become champion by beating pooled on validation rows, and the guard
    # needs at least two of them (one without the guard): fitting the others is wasted work
    need = 2 if settings.champion_z > 0 else 1
    contenders = [p for p in eligible if len(va_g.get(p, empty)) >= need]
    pooled_val, pooled_test = pooled.predict(Xv), pooled.predict(Xt)
    fitted = Parallel(n_jobs=settings.n_jobs)(
        delayed(fit_player_champion)(
            Xp[tr_g[p]],
            y[tr_g[p]],
            Xpv[va_g[p]],
            yv[va_g[p]],
            Xpt[te_g.get(p, empty)],
            pooled_val[va_g[p]],
            player_params,
            settings.stacking_folds,
            settings.seed,
            settings.champion_z,
        )
        for p in contenders
    )
    results = dict(zip(contenders, fitted, strict=True))
    clock.lap("player_candidates")

    version = model_version(stat, dataset_version, settings, tuning)
    base = {
        "val": {b: val[c].to_numpy() for b, c in BASELINES.items()},
        "test": {b: test[c].to_numpy() for b, c in BASELINES.items()},
    }
    champ_val, champ_test = pooled_val.copy(), pooled_test.copy()
    champions: dict[int, str] = {}
    player_models: dict[int, Any] = {}
    player_rounds: dict[int, int] = {}
    measured: list[dict] = []
    for p in eligible:
        vi, ti = va_g.get(p, empty), te_g.get(p, empty)
        result = results.get(p)
        # without candidates (too few validation rows to ever win) the pooled model serves
        champion = result["champion"] if result else POOLED
        val_preds = result["val"] if result else {}
        test_preds = result["test"] if result else {}
        if result:
            player_rounds[p] = result["rounds"]
        champions[p] = champion
        if champion != POOLED:
            player_models[p] = result["model"]
            champ_val[vi] = val_preds[champion]
            if len(ti):
                champ_test[ti] = test_preds[champion]
        for split, idx, preds, full_actual in (
            ("val", vi, val_preds, yv),
            ("test", ti, test_preds, yt),
        ):
            if not len(idx):
                continue
            pooled_p = pooled_val[idx] if split == "val" else pooled_test[idx]
            champ_p = champ_val[idx] if split == "val" else champ_test[idx]
            all_preds = {
                **preds,
                POOLED: pooled_p,
                "champion": champ_p,
                **{b: v[idx] for b, v in base[split].items()},
            }
            measured += metric_rows(stat, str(p), split, full_actual[idx], all_preds)

    for split, actual, pooled_p, champ_p in (
        ("val", yv, pooled_val, champ_val),
        ("test", yt, pooled_test, champ_test),
    ):
        preds = {"champion": champ_p, POOLED: pooled_p, **base[split]}
        measured += metric_rows(stat, "all", split, actual, preds)

    metrics = pl.DataFrame(measured).with_columns(
        pl.col("rows").cast(pl.Int64), pl.lit(version).alias("version")
    )
    predictions = {
        split: frame.select(*KEYS, "target", *BASELINES.values()).with_columns(
            pl.Series("champion", champ), pl.Series("pooled", pooled_p)
        )
        for split, frame, champ, pooled_p in (
            ("val", val, champ_val, pooled_val),
            ("test", test, champ_test, pooled_test),
        )
    }
    clock.lap("champions_and_metrics")
    gain = pooled.get_booster().get_score(importance_type="gain")
    importance = (
        pl.DataFrame(
            {"feature": [features[int(k[1:])] for k in gain], "gain": list(gain.values())},
            schema={"feature": pl.String, "gain": pl.Float64},
        )
        .with_columns(share=pl.col("gain") / pl.col("gain").sum())
        .sort("gain", descending=True)
    )
    return TrainedStat(
        stat=stat,
        version=version,
        dataset_version=dataset_version,
        settings=settings,
        pooled=pooled,
        pooled_params=pooled_params,
        pooled_rounds=pooled_rounds,
        player_params=player_params,
        player_models=player_models,
        champions=champions,
        player_rounds=player_rounds,
        features=features,
        metrics=metrics,
        predictions=predictions,
        importance=importance,
        tuning={"pooled": pooled_trials, "player": player_trials},
        reused_tuning=tuning,
        seconds={**clock.laps, "contenders": len(contenders), "eligible": len(eligible)},
    )


class _Clock:
    """Seconds spent per named phase (wall time since the previous lap)."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 2)
        self._last = now
