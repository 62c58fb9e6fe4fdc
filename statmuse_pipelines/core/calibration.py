"""Probability metrics and calibrators for P(over).

Metrics (pushes are excluded by the callers): Brier score, log loss, expected calibration error
with 10 equal-width bins, and the reliability table behind a reliability diagram.

Calibrators map a raw P(over) to a calibrated one. They are fit on the validation split only and
judged on the test split only. Which one is chosen is decided on validation too: time-ordered
cross-validation within the validation rows scores isotonic regression (when there are enough
rows), Platt scaling, beta calibration and no calibration at all; the best log loss wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

EPS = 1e-6
ISOTONIC_MIN_ROWS = 1000  # isotonic regression needs many rows to be smooth enough
METHODS = ("identity", "platt", "beta", "isotonic")


def brier(p: np.ndarray, y: np.ndarray) -> float:
    p, y = np.asarray(p, float), np.asarray(y, float)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    if not len(y):
        return math.nan
    return float(np.mean(row_log_loss(p, y)))


def row_log_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's log loss (what `log_loss` averages)."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    y = np.asarray(y, float)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width bin of predicted probability: rows, mean prediction, observed frequency."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = idx == b
        n = int(mask.sum())
        out.append(
            {
                "bin": b,
                "low": b / bins,
                "high": (b + 1) / bins,
                "rows": n,
                "mean_p": float(p[mask].mean()) if n else math.nan,
                "frequency": float(y[mask].mean()) if n else math.nan,
            }
        )
    return out


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean prediction - frequency| averaged over bins by rows."""
    table = reliability(p, y, bins)
    n = sum(b["rows"] for b in table)
    if not n:
        return math.nan
    return float(sum(b["rows"] * abs(b["mean_p"] - b["frequency"]) for b in table if b["rows"]) / n)


def probability_metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"rows": len(y), "brier": brier(p, y), "log_loss": log_loss(p, y), "ece": ece(p, y)}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    method: str
    model: Any = None

    def fit(self, p: np.ndarray, y: np.ndarray) -> Calibrator:
        p, y = np.asarray(p, float), np.asarray(y, float)
        if self.method == "identity":
            self.model = None
        elif self.method == "platt":
            self.model = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
        elif self.method == "beta":
            q = np.clip(p, EPS, 1 - EPS)
            self.model = LogisticRegression(C=1e6).fit(
                np.column_stack([np.log(q), -np.log(1 - q)]), y
            )
        elif self.method == "isotonic":
            self.model = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(
                p, y
            )
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, float)
        if self.method == "identity":
            return p
        if self.method == "platt":
            return self.model.predict_proba(_logit(p)[:, None])[:, 1]
        if self.method == "beta":
            q = np.clip(p, EPS, 1 - EPS)
            return self.model.predict_proba(np.column_stack([np.log(q), -np.log(1 - q)]))[:, 1]
        return self.model.predict(p)


def choose_calibrator(p: np.ndarray, y: np.ndarray, folds: int = 5) -> tuple[Calibrator, dict]:
    """Pick a method by time-ordered cross-validation within the validation rows, then fit it
    on all of them. Returns the calibrator and each method's cross-validated log loss."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    methods = [m for m in METHODS if m != "isotonic" or len(y) >= ISOTONIC_MIN_ROWS]
    scores: dict[str, float] = {}
    if len(y) < 2 * folds or len(np.unique(y)) < 2:
        return Calibrator("identity").fit(p, y), {"identity": log_loss(p, y)}
    for method in methods:
        losses, rows = 0.0, 0
        for fit_idx, score_idx in KFold(n_splits=folds, shuffle=False).split(p):
            if len(np.unique(y[fit_idx])) < 2:
                continue
            cal = Calibrator(method).fit(p[fit_idx], y[fit_idx])
            losses += log_loss(cal.predict(p[score_idx]), y[score_idx]) * len(score_idx)
            rows += len(score_idx)
        scores[method] = losses / rows if rows else math.inf
    best = min(scores, key=scores.get)
    return Calibrator(best).fit(p, y), scores
