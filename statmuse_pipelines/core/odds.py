"""Betting arithmetic: American odds, implied and de-vigged probabilities, payouts, Kelly stakes.

Everything works on numpy arrays (or scalars) so a season of bets is one call.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | float | int


def american_to_decimal(odds: ArrayLike) -> np.ndarray:
    """+150 -> 2.5, -110 -> 1.909...: the total returned per unit staked, stake included."""
    o = np.asarray(odds, dtype=float)
    if np.any(np.abs(o) < 100):
        raise ValueError(f"American odds are <= -100 or >= +100, got {o[np.abs(o) < 100][:3]}")
    return np.where(o > 0, 1.0 + o / 100.0, 1.0 + 100.0 / np.abs(o))


def american_to_implied(odds: ArrayLike) -> np.ndarray:
    """The bookmaker's implied probability, vig included: +150 -> 0.4, -110 -> 0.5238."""
    return 1.0 / american_to_decimal(odds)


def implied_to_american(p: ArrayLike) -> np.ndarray:
    """The American odds whose implied probability is p: 0.5238 -> -110, 0.4 -> +150."""
    q = np.asarray(p, dtype=float)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"implied probabilities are in (0, 1), got {q[(q <= 0) | (q >= 1)][:3]}")
    return np.where(q >= 0.5, -100.0 * q / (1.0 - q), 100.0 * (1.0 - q) / q)


def devig(over_odds: ArrayLike, under_odds: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Fair probabilities of over and under: each implied probability divided by their sum
    (proportional de-vigging). Returns (p_over, overround)."""
    io, iu = american_to_implied(over_odds), american_to_implied(under_odds)
    total = io + iu
    return io / total, total


def profit(stake: ArrayLike, odds: ArrayLike, outcome: ArrayLike) -> np.ndarray:
    """Profit of a bet: +stake*(decimal-1) if won, -stake if lost, 0 if pushed (stake returned).

    outcome: 1 = won, 0 = lost, -1 = push.
    """
    s = np.asarray(stake, dtype=float)
    dec = american_to_decimal(odds)
    out = np.asarray(outcome)
    return np.where(out == 1, s * (dec - 1.0), np.where(out == 0, -s, 0.0))


def expected_value(p_win: ArrayLike, odds: ArrayLike, p_push: ArrayLike = 0.0) -> np.ndarray:
    """Expected profit per unit staked: p_win (dec - 1) - p_lose (a push returns the stake)."""
    p = np.asarray(p_win, dtype=float)
    lose = 1.0 - p - np.asarray(p_push, dtype=float)
    return p * (american_to_decimal(odds) - 1.0) - lose


def kelly_fraction(
    p_win: ArrayLike,
    odds: ArrayLike,
    fraction: float = 0.25,
    cap: float = 0.05,
    p_push: ArrayLike = 0.0,
) -> np.ndarray:
    """Fractional Kelly stake as a share of the bankroll, never negative, at most `cap`.

    With b = decimal - 1, q = 1 - p - p_push and a push returning the stake, the growth
    p log(1 + b f) + q log(1 - f) is largest at f = (b p - q) / (b (p + q)); without pushes
    that is the familiar (b p - q) / b.
    """
    p = np.asarray(p_win, dtype=float)
    q = 1.0 - p - np.asarray(p_push, dtype=float)
    b = american_to_decimal(odds) - 1.0
    full = (b * p - q) / (b * np.clip(p + q, 1e-12, None))
    return np.clip(full * fraction, 0.0, cap)
