"""The synthetic league looks like the NBA at the league level (compared with the real data)."""

import polars as pl
import pytest

from statmuse_pipelines.core.synthetic.simulate import simulate_season

pytestmark = pytest.mark.integration

STATS = ["MIN", "PTS", "REB", "AST", "FG3M"]


@pytest.fixture(scope="module")
def synthetic():
    return pl.concat([simulate_season(7, s).player_logs for s in (2024, 2025)])


@pytest.mark.parametrize("stat", STATS)
def test_mean_and_spread_within_15_percent_of_the_real_league(real_data, synthetic, stat):
    real = pl.read_parquet(real_data / "player_game_logs" / "*.parquet")
    for name, fn in (("mean", pl.Series.mean), ("std", pl.Series.std)):
        ours, theirs = fn(synthetic[stat]), fn(real[stat])
        assert abs(ours / theirs - 1) <= 0.15, f"{stat} {name}: {ours:.2f} vs real {theirs:.2f}"


def test_team_points_per_game_are_nba_like():
    teams = pl.concat([simulate_season(7, s).team_logs for s in (2024, 2025)])
    assert 105 <= teams["PTS"].mean() <= 120
    assert 8 <= teams["PTS"].std() <= 18
