"""Models of one stat: candidates, champions chosen on validation only, baselines on the same
rows, tuning with pruning, serving and production refits, and the promotion gate."""

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn.linear_model import LinearRegression

from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.ensembles import Stacked, WeightedVote, stack
from statmuse_pipelines.core.features import KEYS, build_features
from statmuse_pipelines.core.models import (
    BASELINES,
    DEFAULT_PLAYER_PARAMS,
    DEFAULT_POOLED_PARAMS,
    PLAYER_FEATURES,
    PLAYER_KINDS,
    POOLED,
    TrainingSettings,
    Tuning,
    candidate_predictions,
    clearly_better,
    design_matrix,
    fit_player_candidates,
    fit_pooled,
    model_version,
    reusable_tuning,
    train_stat,
    tune_player_params,
    tune_pooled,
    tuning_sample,
)
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.registry import (
    evaluation_model,
    manifest_of,
    promotion_gate,
    refit_production,
)
from statmuse_pipelines.core.synthetic.simulate import simulate_season

SMALL = TrainingSettings(
    min_games=40, max_players=4, pooled_trials=0, player_trials=0, stacking_folds=2, n_jobs=2
)


@pytest.fixture(scope="module")
def splits():
    boxes = [simulate_season(7, s) for s in (2024, 2025)]
    games = normalize_player_logs(pl.concat([b.player_logs for b in boxes]))
    teams = normalize_team_logs(pl.concat([b.team_logs for b in boxes]))
    ds = build_dataset(build_features(games, teams, games), games, "PTS", "test", "t")
    return ds.splits(), ds.version


@pytest.fixture(scope="module")
def trained(splits):
    frames, version = splits
    return train_stat("PTS", frames, version, SMALL)


def test_ensembles_from_fitted_members():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(scale=0.1, size=60)
    a, b = LinearRegression().fit(X[:, :1], y), LinearRegression().fit(X, y)

    class Col:  # a member that sees one column
        def __init__(self, m, cols):
            self.m, self.cols = m, cols

        def fit(self, X, y):
            self.m.fit(X[:, self.cols], y)
            return self

        def predict(self, X):
            return self.m.predict(X[:, self.cols])

    members = [Col(a, [0]), Col(b, [0, 1, 2])]
    vote = WeightedVote(members, (0.25, 0.75))
    expected = 0.25 * a.predict(X[:, :1]) + 0.75 * b.predict(X)
    assert np.allclose(vote.predict(X), expected)
    stacked = stack(
        members, lambda: [Col(LinearRegression(), [0]), Col(LinearRegression(), [0, 1, 2])], X, y, 3
    )
    assert isinstance(stacked, Stacked)
    # the meta-learner leans on the member that sees every column
    assert stacked.meta.coef_[1] > stacked.meta.coef_[0]
    assert np.mean(np.abs(stacked.predict(X) - y)) < 0.2


def test_a_member_with_known_out_of_fold_predictions_is_not_fit_per_fold():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, 0.5, -2.0]) + rng.normal(scale=0.1, size=120)
    fits = []

    class Counted(LinearRegression):
        def fit(self, X, y):
            fits.append(len(y))
            return super().fit(X, y)

    members = [LinearRegression().fit(X, y), LinearRegression().fit(X, y)]
    known = members[0].predict(X)  # stands in for out-of-bag predictions
    stacked = stack(members, lambda: [Counted(), Counted()], X, y, 3, known={0: known})
    assert len(fits) == 3  # only the second member, once per fold
    assert np.mean(np.abs(stacked.predict(X) - y)) < 0.2


def test_the_stack_uses_the_forests_out_of_bag_predictions(splits):
    frames, _ = splits
    train = frames["train"].filter(pl.col("player_id") == frames["train"]["player_id"][0])
    X, y = train.select("target_mean_5", "target_ewm", "minutes_ewm").to_numpy(), train["target"]
    y = y.to_numpy()
    cands = fit_player_candidates(X, y, X[:0], y[:0], DEFAULT_PLAYER_PARAMS, 3, 7)
    rf = cands["rf"]
    assert rf.oob_score and np.isfinite(rf.oob_prediction_).all()
    # every candidate's predictions, from the members' (the vote and the stack reuse them)
    preds = candidate_predictions(cands, X)
    for kind in PLAYER_KINDS:
        assert np.allclose(preds[kind], cands[kind].predict(X)), kind


def test_candidates_and_champions_chosen_on_validation(trained):
    assert len(trained.champions) == 4
    per_player = trained.metrics.filter((pl.col("scope") != "all") & (pl.col("split") == "val"))
    for pid, champion in trained.champions.items():
        rows = per_player.filter(pl.col("scope") == str(pid))
        scores = {
            r["kind"]: r["mae"]
            for r in rows.iter_rows(named=True)
            if r["kind"] in (*PLAYER_KINDS, POOLED)
        }
        assert set(scores) == {*PLAYER_KINDS, POOLED}
        best = min(scores, key=lambda k: (scores[k], k != POOLED))
        # the best candidate, unless it is an own model whose edge over pooled is within noise
        assert champion in (best, POOLED)
        assert (champion == POOLED) == (pid not in trained.player_models)


def test_an_own_model_must_beat_pooled_by_more_than_noise():
    rng = np.random.default_rng(3)
    actual = rng.normal(20, 6, size=40)
    pooled = actual + rng.normal(0, 5, size=40)
    lucky = pooled.copy()
    lucky[0] = actual[0]  # one game closer: a lower MAE, but nothing a second sample would repeat
    assert np.mean(np.abs(lucky - actual)) < np.mean(np.abs(pooled - actual))
    assert clearly_better(lucky, pooled, actual, 0.0)
    assert not clearly_better(lucky, pooled, actual, 2.0)
    sharp = actual + rng.normal(0, 1, size=40)  # better on nearly every game
    assert clearly_better(sharp, pooled, actual, 2.0)
    assert not clearly_better(pooled, sharp, actual, 0.0)
    assert not clearly_better(sharp[:1], pooled[:1], actual[:1], 2.0)  # one game proves nothing
    # by hand: gains 1, 2, 3 -> mean 2, standard error 1/sqrt(3) = 0.577
    ref, act = np.array([5.0, 5.0, 5.0]), np.zeros(3)
    pred = np.array([4.0, 3.0, 2.0])
    assert clearly_better(pred, ref, act, 3.4) and not clearly_better(pred, ref, act, 3.5)


def test_players_who_cannot_win_get_no_own_models_and_change_nothing(splits, trained):
    frames, version = splits
    # one eligible player keeps a single validation row: the guard could never pick his models
    gone = sorted(trained.champions)[0]
    val = frames["val"]
    first = val.filter(pl.col("player_id") == gone).head(1)
    fewer = {**frames, "val": pl.concat([val.filter(pl.col("player_id") != gone), first])}
    again = train_stat("PTS", fewer, version, SMALL)
    assert again.champions[gone] == POOLED and gone not in again.player_rounds
    kinds = again.metrics.filter(pl.col("scope") == str(gone))["kind"].to_list()
    assert not set(kinds) & set(PLAYER_KINDS)
    # the others are fitted and chosen as before
    assert {p: k for p, k in again.champions.items() if p != gone} == {
        p: k for p, k in trained.champions.items() if p != gone
    }


def test_without_the_guard_the_champion_is_the_plain_minimum(splits):
    frames, version = splits
    plain = train_stat("PTS", frames, version, dataclasses.replace(SMALL, champion_z=0.0))
    val = plain.metrics.filter((pl.col("scope") != "all") & (pl.col("split") == "val"))
    for pid, champion in plain.champions.items():
        scores = {
            r["kind"]: r["mae"]
            for r in val.filter(pl.col("scope") == str(pid)).iter_rows(named=True)
            if r["kind"] in (*PLAYER_KINDS, POOLED)
        }
        assert scores[champion] == min(scores.values())


def test_the_test_split_never_chooses_anything(splits, trained):
    frames, version = splits
    scrambled = dict(frames)
    scrambled["test"] = frames["test"].with_columns(pl.col("target") * 10 + 3)
    again = train_stat("PTS", scrambled, version, SMALL)
    assert again.champions == trained.champions
    assert again.pooled_rounds == trained.pooled_rounds
    assert again.player_params == trained.player_params
    val = lambda t: t.summary("val").sort("kind")  # noqa: E731
    assert val(again).equals(val(trained))
    assert not again.summary("test").sort("kind").equals(trained.summary("test").sort("kind"))


def test_baselines_are_measured_on_the_same_rows(splits, trained):
    frames, _ = splits
    test = frames["test"]
    summary = {r["kind"]: r for r in trained.summary("test").iter_rows(named=True)}
    assert {r["rows"] for r in summary.values()} == {test.height}
    for kind, column in BASELINES.items():
        direct = float((test[column] - test["target"]).abs().mean())
        assert summary[kind]["mae"] == pytest.approx(direct)
    best = min(summary[k]["mae"] for k in BASELINES)
    assert summary["champion"]["mae_vs_best_baseline"] == pytest.approx(
        summary["champion"]["mae"] / best
    )
    # per-player rows too: baselines and candidates on the same rows
    player = trained.metrics.filter(pl.col("scope") != "all")
    assert player.group_by("scope", "split").agg(pl.col("rows").n_unique())["rows"].max() == 1


def test_the_pooled_model_learns_the_effects_put_into_the_league(splits, trained):
    """The synthetic league's ground truth: home teams shoot better, good defenses allow less.
    The pooled model's predictions move the right way when only that feature changes."""
    test = splits[0]["test"]
    X = lambda frame: frame.select(trained.features).to_numpy()  # noqa: E731
    predict = trained.pooled.predict
    home = predict(X(test.with_columns(home=pl.lit(1.0, pl.Float32))))
    road = predict(X(test.with_columns(home=pl.lit(0.0, pl.Float32))))
    assert home.mean() > road.mean()
    q = test["opp_def_rating"].quantile
    weak = predict(X(test.with_columns(opp_def_rating=pl.lit(q(0.9), pl.Float32))))
    strong = predict(X(test.with_columns(opp_def_rating=pl.lit(q(0.1), pl.Float32))))
    assert weak.mean() > strong.mean()


def test_tuning_uses_validation_and_prunes(splits):
    frames, _ = splits
    cols = [c for c in frames["train"].columns if c.startswith(("target_", "pts_", "minutes_"))]
    X, y = frames["train"].select(cols).to_numpy(), frames["train"]["target"].to_numpy()
    Xv, yv = frames["val"].select(cols).to_numpy(), frames["val"]["target"].to_numpy()
    params, trials, kept = tune_pooled(X, y, Xv, yv, TrainingSettings(pooled_trials=5, n_jobs=2))
    assert len(trials) == 5
    assert trials[0]["params"] == DEFAULT_POOLED_PARAMS  # the defaults compete
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    best = min((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["value"])
    assert params == best["params"]
    assert 3 <= params["max_depth"] <= 10 and 0.01 <= params["learning_rate"] <= 0.3
    # the best trial's model is kept: the same as fitting its parameters again
    again = fit_pooled(X, y, Xv, yv, params, 7, 2)
    assert kept.best_iteration == again.best_iteration
    np.testing.assert_array_equal(kept.predict(Xv), again.predict(Xv))
    assert tune_pooled(X, y, Xv, yv, TrainingSettings(pooled_trials=0))[0] == DEFAULT_POOLED_PARAMS


def test_pooled_trials_on_a_sample_of_rows_then_the_winner_on_all(splits):
    frames, _ = splits
    cols = [c for c in frames["train"].columns if c.startswith(("target_", "minutes_"))]
    # narrow frames: what train_stat needs (keys, target, baselines, player features) and a few
    keep = list(dict.fromkeys([*KEYS, "target", *BASELINES.values(),
                               *PLAYER_FEATURES, *cols]))  # fmt: skip
    frames = {k: v.select([c for c in keep if c in v.columns]) for k, v in frames.items()}
    X, y = frames["train"].select(cols).to_numpy(), frames["train"]["target"].to_numpy()
    Xv, yv = frames["val"].select(cols).to_numpy(), frames["val"]["target"].to_numpy()
    rows = len(y) // 3
    sample = tuning_sample(len(y), rows, 7)
    assert len(sample) == rows and len(set(sample)) == rows
    assert np.all(np.diff(sample) > 0)  # in order
    np.testing.assert_array_equal(sample, tuning_sample(len(y), rows, 7))  # seeded
    assert tuning_sample(len(y), len(y), 7) is None and tuning_sample(len(y), 0, 7) is None

    settings = TrainingSettings(pooled_trials=2, tuning_rows=rows, n_jobs=2)
    params, trials, kept = tune_pooled(X, y, Xv, yv, settings)
    assert kept is None  # fit on a sample: the winner still needs its fit on every row
    # the trials are fits on the sample: the defaults' trial scores what a fit on it scores
    on_sample = fit_pooled(X[sample], y[sample], Xv, yv, DEFAULT_POOLED_PARAMS, 7, 2)
    assert trials[0]["value"] == pytest.approx(np.mean(np.abs(on_sample.predict(Xv) - yv)))
    assert (
        params
        == min((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["value"])["params"]
    )
    # and train_stat fits the winner on all training rows
    small = dataclasses.replace(SMALL, pooled_trials=2, tuning_rows=rows, max_players=1)
    trained = train_stat("PTS", frames, "t", small)
    Xa = frames["train"].select(trained.features).to_numpy()
    Xva = frames["val"].select(trained.features).to_numpy()
    full = fit_pooled(Xa, y, Xva, yv, trained.pooled_params, 7, 2)
    assert trained.pooled.best_iteration == full.best_iteration
    np.testing.assert_array_equal(trained.pooled.predict(Xva), full.predict(Xva))


def test_per_player_tuning_on_both_cores_decides_as_one_at_a_time(splits):
    frames, _ = splits
    train, val = frames["train"], frames["val"]
    P = list(PLAYER_FEATURES)
    players = train.group_by("player_id").len().sort("len", descending=True)["player_id"][:4]
    groups = []
    for p in players:
        a, b = train.filter(pl.col("player_id") == p), val.filter(pl.col("player_id") == p)
        groups.append((a.select(P).to_numpy(), a["target"].to_numpy(),
                       b.select(P).to_numpy(), b["target"].to_numpy()))  # fmt: skip
    one = tune_player_params(groups, TrainingSettings(player_trials=3, n_jobs=1))
    two = tune_player_params(groups, TrainingSettings(player_trials=3, n_jobs=2))
    assert one == two
    params, trials = two
    assert len(trials) == 3 and trials[0]["state"] == "COMPLETE"
    assert params["rf"]["max_features"] == DEFAULT_PLAYER_PARAMS["rf"]["max_features"]
    assert 2 <= params["xgb"]["max_depth"] <= 6 and 30 <= params["rf"]["n_estimators"] <= 80


def test_the_pooled_fit_on_quantized_rows_is_xgboosts_own_fit(splits):
    frames, _ = splits
    cols = [c for c in frames["train"].columns if c.startswith(("target_", "minutes_"))]
    X, y = frames["train"].select(cols).to_numpy(), frames["train"]["target"].to_numpy()
    Xv, yv = frames["val"].select(cols).to_numpy(), frames["val"]["target"].to_numpy()
    ours = fit_pooled(X, y, Xv, yv, DEFAULT_POOLED_PARAMS, 7, 2)
    sklearn_api = xgb.XGBRegressor(
        n_estimators=1500, early_stopping_rounds=50, eval_metric="mae", tree_method="hist",
        random_state=7, n_jobs=2, **DEFAULT_POOLED_PARAMS,
    ).fit(X, y, eval_set=[(Xv, yv)], verbose=False)  # fmt: skip
    assert ours.best_iteration == sklearn_api.best_iteration
    np.testing.assert_array_equal(ours.predict(Xv), sklearn_api.predict(Xv))
    assert ours.get_params()["learning_rate"] == DEFAULT_POOLED_PARAMS["learning_rate"]


def test_models_read_row_major_arrays_and_fit_the_same_models(splits):
    """The design matrix is row-major (polars' own is column-major, which XGBoost copies before
    quantizing) and holds the same values: the pooled fit on it is the fit on polars' array."""
    frames, _ = splits
    cols = [c for c in frames["train"].columns if c.startswith(("target_", "minutes_", "pts_"))]
    X, Xv = design_matrix(frames["train"], cols), design_matrix(frames["val"], cols)
    polars_X = frames["train"].select(cols).to_numpy()
    assert X.flags["C_CONTIGUOUS"] and not polars_X.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(X, polars_X)
    y, yv = frames["train"]["target"].to_numpy(), frames["val"]["target"].to_numpy()
    ours = fit_pooled(X, y, Xv, yv, DEFAULT_POOLED_PARAMS, 7, 2)
    theirs = fit_pooled(polars_X, y, frames["val"].select(cols).to_numpy(), yv,
                        DEFAULT_POOLED_PARAMS, 7, 2)  # fmt: skip
    assert ours.best_iteration == theirs.best_iteration
    np.testing.assert_array_equal(ours.predict(Xv), theirs.predict(Xv))


def test_version_is_a_function_of_dataset_and_settings():
    a = model_version("PTS", "abc", SMALL)
    assert a == model_version("PTS", "abc", SMALL) and a.startswith("pts-")
    assert a != model_version("PTS", "abd", SMALL)
    assert a != model_version("PTS", "abc", TrainingSettings(min_games=41))
    assert a == model_version("PTS", "abc", TrainingSettings(**{**SMALL.as_dict(), "n_jobs": 1}))


def test_serving_routes_players_to_their_champions(splits, trained):
    frames, _ = splits
    model = evaluation_model(trained)
    test = frames["test"]
    pred = model.predict(test)
    pooled = trained.pooled.predict(test.select(trained.features).to_numpy())
    own = test["player_id"].is_in(list(trained.player_models)).to_numpy()
    assert np.allclose(pred[~own], pooled[~own])
    champions = trained.predictions["test"]["champion"].to_numpy()
    assert np.allclose(pred, champions, atol=1e-4)
    assert set(model.served_by(test).unique()) <= {"player", POOLED}


def test_production_refit_uses_every_row_with_the_chosen_settings(splits, trained):
    frames, _ = splits
    manifest = manifest_of(trained, "2026-01-01T00:00:00")
    rows = pl.concat(list(frames.values()))
    prod = refit_production(manifest, rows)
    assert prod.fit == "production" and prod.version == trained.version
    assert prod.pooled.get_booster().num_boosted_rounds() == trained.pooled_rounds
    assert set(prod.player_models) == set(trained.player_models)
    for pid, model in prod.player_models.items():
        assert type(model) is type(trained.player_models[pid])
    # it has seen the test rows now: its test error is lower than the evaluation fit's
    test = frames["test"]
    err = lambda m: float(np.mean(np.abs(m.predict(test) - test["target"].to_numpy())))  # noqa: E731
    assert err(prod) < err(evaluation_model(trained))


@pytest.mark.parametrize(
    "candidate, production, passed, words",
    [
        (4.0, None, True, "no production version yet: promoted"),
        (4.5, None, False, "does not beat the best naive baseline"),
        (4.0, 4.1, True, "promoted"),
        (4.0, 3.95, True, "promoted"),  # 1.3% worse, within the 2% tolerance
        (4.0, 3.8, False, "worse than production"),
        (math.nan, None, False, "does not beat"),
    ],
)
def test_promotion_gate(candidate, production, passed, words):
    baselines = {"baseline_last10": 4.3, "baseline_ewm": 4.2, "baseline_season": 4.4}
    decision = promotion_gate(
        candidate,
        baselines,
        0.02,
        "pts-old" if production else None,
        production,
        "the same test rows",
    )
    assert decision.passed is passed
    assert words in decision.reason
    assert decision.best_baseline == "baseline_ewm"


def test_tuned_settings_are_reused_only_while_they_still_apply():
    settings = TrainingSettings(pooled_trials=8, player_trials=4, retune_days=28)
    manifest = {
        "settings": settings.as_dict(),
        "features": ["a", "b"],
        "player_features": list(PLAYER_FEATURES),
        "pooled_params": {"max_depth": 4},
        "player_params": {"rf": {"n_estimators": 60}},
        "tuned": {"version": "pts-1", "at": "2026-11-01T00:00:00+00:00"},
    }
    now = "2026-11-20T00:00:00+00:00"
    reused = reusable_tuning(manifest, ["a", "b"], settings, now)
    assert reused == Tuning("pts-1", "2026-11-01T00:00:00+00:00", {"max_depth": 4},
                            {"rf": {"n_estimators": 60}})  # fmt: skip
    assert reusable_tuning(None, ["a", "b"], settings, now) is None
    assert reusable_tuning(manifest, ["a", "c"], settings, now) is None  # other features
    assert reusable_tuning(manifest, ["a", "b"], settings, "2026-11-29T00:00:00+00:00") is None
    fewer = dataclasses.replace(settings, pooled_trials=4)
    assert reusable_tuning(manifest, ["a", "b"], fewer, now) is None  # other trials
    other_sample = dataclasses.replace(settings, tuning_rows=10_000)
    assert reusable_tuning(manifest, ["a", "b"], other_sample, now) is None  # other tuning rows
    always = dataclasses.replace(settings, retune_days=0)
    assert reusable_tuning(manifest, ["a", "b"], always, now) is None
    # the version says whose tuning it reused
    assert model_version("PTS", "d", settings) != model_version("PTS", "d", settings, reused)
    assert model_version("PTS", "d", settings) == model_version("PTS", "d", always)


def test_a_fit_with_reused_tuning_does_not_tune(splits):
    frames, version = splits
    settings = dataclasses.replace(SMALL, pooled_trials=3, player_trials=2)
    tuning = Tuning("pts-x", "2026-11-01T00:00:00+00:00", dict(DEFAULT_POOLED_PARAMS),
                    {k: dict(v) for k, v in DEFAULT_PLAYER_PARAMS.items()})  # fmt: skip
    trained = train_stat("PTS", frames, version, settings, tuning=tuning)
    assert trained.tuning == {"pooled": [], "player": []}
    assert trained.pooled_params == DEFAULT_POOLED_PARAMS
    assert trained.reused_tuning == tuning
    assert manifest_of(trained, "2026-11-20T00:00:00+00:00")["tuned"] == {
        "version": "pts-x",
        "at": "2026-11-01T00:00:00+00:00",
        "reused": True,
    }
