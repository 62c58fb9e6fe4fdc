"""Predictive distributions for counts: from a predicted mean to P(over), P(under), P(push).

A model predicts the mean of a player's count (points, rebounds, ...). Around that mean the count
follows a distribution whose family and spread are fitted on the validation split: Poisson,
negative binomial with one dispersion per stat, negative binomial with a dispersion per group of
predicted means (a 6-point scorer and a 28-point scorer are not equally noisy), or a discretized
normal. The family with the lowest validation log loss (mean negative log-likelihood of the
actual counts) is kept, and the comparison is kept as evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

FAMILIES = ("poisson", "negbin", "negbin_grouped", "normal")
GROUPS = 5  # predicted-mean quantile groups for the grouped dispersion
MIN_MEAN = 0.05


def _nb(mu: np.ndarray, r: np.ndarray):
    return stats.nbinom(n=r, p=r / (r + mu))


def _fit_r(y: np.ndarray, mu: np.ndarray) -> float:
    """Negative-binomial size by maximum likelihood (large = close to Poisson)."""

    def nll(log_r: float) -> float:
        return -float(np.sum(_nb(mu, np.full_like(mu, math.exp(log_r))).logpmf(y)))

    res = optimize.minimize_scalar(nll, bounds=(math.log(0.05), math.log(1e4)), method="bounded")
    return float(math.exp(res.x))


def _fit_sigma(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Normal spread sigma = a + b sqrt(mu), least squares on |residual| (then rescaled)."""
    s = np.sqrt(mu)
    A = np.column_stack([np.ones_like(s), s])
    coef, *_ = np.linalg.lstsq(A, np.abs(y - mu) * math.sqrt(math.pi / 2), rcond=None)
    return float(max(coef[0], 0.1)), float(max(coef[1], 0.0))


@dataclass
class CountDistribution:
    """A fitted family: probabilities of any count, and of over/under/push at any line."""

    family: str
    r: float = math.inf  # negbin size (one per stat)
    group_edges: list[float] = field(default_factory=list)  # predicted-mean cut points
    group_r: list[float] = field(default_factory=list)  # negbin size per group
    sigma: tuple[float, float] = (1.0, 0.0)  # normal: a + b sqrt(mu)

    def _sizes(self, mu: np.ndarray) -> np.ndarray:
        if self.family == "negbin":
            return np.full_like(mu, self.r)
        idx = np.searchsorted(np.asarray(self.group_edges), mu, side="right")
        return np.asarray(self.group_r)[idx]

    def cdf(self, k: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """P(X <= k) for integer k (k < 0 gives 0)."""
        mu = np.maximum(np.asarray(mu, dtype=float), MIN_MEAN)
        k = np.asarray(k, dtype=float)
        if self.family == "poisson":
            out = stats.poisson(mu).cdf(k)
        elif self.family in ("negbin", "negbin_grouped"):
            out = _nb(mu, self._sizes(mu)).cdf(k)
        else:
            a, b = self.sigma
            out = stats.norm(mu, a + b * np.sqrt(mu)).cdf(k + 0.5)
        return np.where(k < 0, 0.0, out)

    def pmf(self, k: np.ndarray, mu: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        return np.clip(self.cdf(k, mu) - self.cdf(k - 1, mu), 1e-12, 1.0)

    def probabilities(self, line: np.ndarray, mu: np.ndarray) -> dict[str, np.ndarray]:
        """P(over), P(under), P(push) at `line` (x.5 lines cannot push; whole lines can)."""
        line = np.asarray(line, dtype=float)
        below = np.ceil(line) - 1  # the largest count under the line
        over = 1.0 - self.cdf(np.floor(line), mu)
        under = self.cdf(below, mu)
        push = np.clip(1.0 - over - under, 0.0, 1.0)
        return {"over": over, "under": under, "push": push}

    def describe(self) -> dict:
        out: dict = {"family": self.family}
        if self.family == "negbin":
            out["size"] = round(self.r, 3)
        if self.family == "negbin_grouped":
            out["mean_edges"] = [round(e, 2) for e in self.group_edges]
            out["sizes"] = [round(r, 3) for r in self.group_r]
        if self.family == "normal":
            out["sigma"] = f"{self.sigma[0]:.3f} + {self.sigma[1]:.3f} sqrt(mean)"
        return out


def fit_family(family: str, y: np.ndarray, mu: np.ndarray) -> CountDistribution:
    y = np.asarray(y, dtype=float)
    mu = np.maximum(np.asarray(mu, dtype=float), MIN_MEAN)
    if family == "poisson":
        return CountDistribution("poisson")
    if family == "negbin":
        return CountDistribution("negbin", r=_fit_r(y, mu))
    if family == "negbin_grouped":
        edges = np.unique(np.quantile(mu, np.linspace(0, 1, GROUPS + 1)[1:-1])).tolist()
        idx = np.searchsorted(np.asarray(edges), mu, side="right")
        sizes = [_fit_r(y[idx == g], mu[idx == g]) if np.sum(idx == g) > 30 else _fit_r(y, mu)
                 for g in range(len(edges) + 1)]  # fmt: skip
        return CountDistribution("negbin_grouped", group_edges=edges, group_r=sizes)
    if family == "normal":
        return CountDistribution("normal", sigma=_fit_sigma(y, mu))
    raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")


def log_loss_counts(dist: CountDistribution, y: np.ndarray, mu: np.ndarray) -> float:
    """Mean negative log-likelihood of the actual counts."""
    return float(-np.mean(np.log(dist.pmf(np.asarray(y, dtype=float), mu))))


def choose_family(
    fit_y: np.ndarray, fit_mu: np.ndarray, score_y: np.ndarray, score_mu: np.ndarray
) -> tuple[CountDistribution, dict[str, float]]:
    """Fit every family on one half of the validation rows, score on the other half (by date),
    keep the best, and refit it on all of them. Returns the family and every score."""
    scores = {f: log_loss_counts(fit_family(f, fit_y, fit_mu), score_y, score_mu) for f in FAMILIES}
    best = min(scores, key=scores.get)
    y = np.concatenate([fit_y, score_y])
    mu = np.concatenate([fit_mu, score_mu])
    return fit_family(best, y, mu), scores
