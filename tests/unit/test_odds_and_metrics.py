"""Betting and probability arithmetic against hand-computed values."""

import math

import numpy as np
import pytest

from statmuse_pipelines.core.calibration import (
    Calibrator,
    brier,
    choose_calibrator,
    ece,
    log_loss,
    reliability,
)
from statmuse_pipelines.core.distributions import (
    CountDistribution,
    choose_family,
    fit_family,
    log_loss_counts,
)
from statmuse_pipelines.core.odds import (
    american_to_decimal,
    american_to_implied,
    devig,
    expected_value,
    kelly_fraction,
    profit,
)


def test_american_odds_conversions():
    assert american_to_decimal([150, -110, 100, -200]) == pytest.approx(
        [2.5, 1 + 100 / 110, 2.0, 1.5]
    )
    assert american_to_implied([150, -110]) == pytest.approx([0.4, 110 / 210])
    with pytest.raises(ValueError, match="<= -100 or >= \\+100"):
        american_to_decimal([50])


def test_devig_removes_the_overround():
    p, total = devig(-110, -110)
    assert p == pytest.approx(0.5) and total == pytest.approx(2 * 110 / 210)
    p, _ = devig(-150, 130)  # 0.6 and 0.43478 -> 0.6 / 1.03478
    assert p == pytest.approx(0.6 / (0.6 + 100 / 230))


def test_profit_with_pushes():
    # won at +150, lost at -110, pushed at -110: +1.5, -1, 0
    assert profit([1, 1, 1], [150, -110, -110], [1, 0, -1]) == pytest.approx([1.5, -1.0, 0.0])
    stakes, odds, outcome = np.array([2.0, 2.0]), np.array([-110, -110]), np.array([1, 0])
    roi = profit(stakes, odds, outcome).sum() / stakes.sum()
    assert roi == pytest.approx((2 * 100 / 110 - 2) / 4)


def test_expected_value_and_kelly():
    assert expected_value(0.55, -110) == pytest.approx(0.55 * 100 / 110 - 0.45)
    assert expected_value(0.5, 100, p_push=0.1) == pytest.approx(0.5 - 0.4)
    # full Kelly at even money with p = 0.55 is 0.10; a quarter is 0.025
    assert kelly_fraction(0.55, 100, fraction=0.25, cap=1.0) == pytest.approx(0.025)
    assert kelly_fraction(0.9, 100, fraction=1.0, cap=0.05) == pytest.approx(0.05)  # capped
    assert kelly_fraction(0.4, 100) == 0.0  # no edge, no bet


def test_brier_log_loss_and_ece_by_hand():
    p = np.array([0.9, 0.2, 0.6, 0.4])
    y = np.array([1, 0, 0, 1])
    assert brier(p, y) == pytest.approx((0.01 + 0.04 + 0.36 + 0.36) / 4)
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.4)) / 4
    assert log_loss(p, y) == pytest.approx(expected)
    # bins: 0.2 -> bin 2 (freq 0), 0.4 -> bin 4 (freq 1), 0.6 -> bin 6 (freq 0), 0.9 -> bin 9 (1)
    assert ece(p, y) == pytest.approx((0.2 + 0.6 + 0.6 + 0.1) / 4)
    table = reliability(p, y)
    assert [b["rows"] for b in table] == [0, 0, 1, 0, 1, 0, 1, 0, 0, 1]
    assert ece(np.array([0.3, 0.3, 0.3]), np.array([0, 1, 0])) == pytest.approx(abs(0.3 - 1 / 3))


def test_calibrators_repair_a_miscalibrated_forecaster():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.95, 4000)
    y = (rng.uniform(size=truth.size) < truth).astype(float)
    raw = truth**2  # systematically too low
    assert ece(raw, y) > 0.1
    for method in ("platt", "beta", "isotonic"):
        cal = Calibrator(method).fit(raw[:2000], y[:2000])
        assert ece(cal.predict(raw[2000:]), y[2000:]) < 0.04, method
    chosen, scores = choose_calibrator(raw[:2000], y[:2000])
    assert chosen.method != "identity" and set(scores) == {"identity", "platt", "beta", "isotonic"}
    # an honest forecaster is left alone (or nearly)
    _, honest = choose_calibrator(truth[:2000], y[:2000])
    assert honest["identity"] <= min(honest.values()) + 0.005


def test_isotonic_needs_enough_rows():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p).astype(float)
    _, scores = choose_calibrator(p, y)
    assert "isotonic" not in scores


def test_count_probabilities_at_half_and_whole_lines():
    poisson = CountDistribution("poisson")
    probs = poisson.probabilities(np.array([2.5]), np.array([2.0]))
    p_le_2 = math.exp(-2) * (1 + 2 + 2)
    assert probs["under"][0] == pytest.approx(p_le_2)
    assert probs["over"][0] == pytest.approx(1 - p_le_2)
    assert probs["push"][0] == pytest.approx(0.0, abs=1e-12)
    whole = poisson.probabilities(np.array([2.0]), np.array([2.0]))
    assert whole["push"][0] == pytest.approx(math.exp(-2) * 2)
    assert whole["under"][0] == pytest.approx(math.exp(-2) * 3)
    assert whole["over"][0] + whole["under"][0] + whole["push"][0] == pytest.approx(1.0)


def test_negative_binomial_recovers_its_dispersion_and_wins_on_overdispersed_counts():
    rng = np.random.default_rng(2)
    mu = rng.uniform(2, 25, 6000)
    r = 4.0
    y = rng.negative_binomial(r, r / (r + mu))
    nb = fit_family("negbin", y, mu)
    assert nb.r == pytest.approx(r, rel=0.15)
    assert log_loss_counts(nb, y, mu) < log_loss_counts(fit_family("poisson", y, mu), y, mu)
    dist, scores = choose_family(y[:3000], mu[:3000], y[3000:], mu[3000:])
    assert dist.family in ("negbin", "negbin_grouped")
    assert scores["poisson"] > scores[dist.family]
