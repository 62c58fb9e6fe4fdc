"""The two ensembles of the per-player candidates, built from members that are already fitted.

`WeightedVote` is sklearn's VotingRegressor (a weighted mean of the members' predictions) over the
members we fitted and evaluated anyway; refitting them, as VotingRegressor.fit would, gives the
same trees at twice the cost and loses XGBoost's early stopping. `Stacked` is a stacking ensemble
with a Ridge meta-learner trained on out-of-fold predictions of the members over contiguous,
time-ordered folds of the training rows (what sklearn's StackingRegressor does with
`cv=KFold(shuffle=False)`), then applied to the members fitted on all training rows. A member
that already knows its out-of-sample predictions of the training rows (a random forest's
out-of-bag predictions: each row predicted by the trees whose bootstrap left it out) gives those
instead of being fit once per fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold


class WeightedVote(RegressorMixin, BaseEstimator):
    """Weighted mean of fitted members' predictions."""

    def __init__(self, members: Sequence, weights: Sequence[float]):
        self.members = members
        self.weights = weights

    def fit(self, X, y):  # members are fitted already
        return self

    def predict(self, X):
        return self.combine(np.column_stack([m.predict(X) for m in self.members]))

    def combine(self, member_preds: np.ndarray) -> np.ndarray:
        """The vote of the members' predictions (one column per member, in order)."""
        weights = np.asarray(self.weights, dtype=float)
        return member_preds @ (weights / float(np.sum(weights)))


class Stacked(RegressorMixin, BaseEstimator):
    """A Ridge meta-learner over the predictions of fitted members."""

    def __init__(self, members: Sequence, meta: Ridge):
        self.members = members
        self.meta = meta

    def fit(self, X, y):  # built by `stack`
        return self

    def predict(self, X):
        return self.combine(np.column_stack([m.predict(X) for m in self.members]))

    def combine(self, member_preds: np.ndarray) -> np.ndarray:
        """The meta-learner on the members' predictions (one column per member, in order)."""
        return self.meta.predict(member_preds)


def stack(
    members: Sequence,
    make_members: Callable[[], Sequence],
    X: np.ndarray,
    y: np.ndarray,
    folds: int,
    alpha: float = 1.0,
    known: dict[int, np.ndarray] | None = None,
) -> Stacked:
    """Fit the meta-learner on out-of-fold member predictions (contiguous folds, no shuffling).

    `members` are fitted on all of X; `make_members()` returns unfitted copies for the folds.
    `known`: out-of-sample predictions of X by member index (those members are not refit).
    """
    known = known or {}
    oof = np.zeros((len(y), len(members)))
    for j, pred in known.items():
        oof[:, j] = pred
    for fit_idx, pred_idx in KFold(n_splits=folds, shuffle=False).split(X):
        for j, member in enumerate(make_members()):
            if j in known:
                continue
            member.fit(X[fit_idx], y[fit_idx])
            oof[pred_idx, j] = member.predict(X[pred_idx])
    meta = Ridge(alpha=alpha).fit(oof, y)
    return Stacked(list(members), meta)
