"""Features and datasets on the nine real seasons."""

from datetime import date

import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core import checks
from statmuse_pipelines.core.datasets import TARGETS, build_dataset
from statmuse_pipelines.core.features import build_features, feature_names, window_inputs
from statmuse_pipelines.core.lines import proxy_lines
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.odds import american_to_decimal
from statmuse_pipelines.resources.sources import FilesGameLogSource

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real(real_data):
    source = FilesGameLogSource(directory=str(real_data))
    start, end = date(2015, 10, 1), date(2024, 4, 30)
    games = normalize_player_logs(source.fetch("player", start, end))
    teams = normalize_team_logs(source.fetch("team", start, end))
    return games, teams, build_features(games, teams, games)


def test_one_pregame_feature_row_per_real_player_game(real):
    games, _, features = real
    assert features.height == 226_315
    assert checks.one_row_per_player_game(features, games).passed
    assert checks.features_are_pregame(features).passed
    assert checks.no_missing_feature_values(features, feature_names()).passed


@pytest.mark.parametrize("season", [2020, 2023])
def test_a_season_run_equals_the_one_pass(real, season):
    """A run over one season, reading only its window, gives exactly the one-pass numbers
    (2020-21 starts after the bubble, whose games belong to 2019-20)."""
    games, teams, features = real
    first, last = date(season, 7, 1), date(season + 1, 6, 30)
    run = build_features(*window_inputs(games, teams, first, last))
    assert run.equals(features.filter(pl.col("game_date").is_between(first, last)))


def test_features_carry_signal(real):
    """The season-to-date mean predicts points better than the league mean (a sanity floor)."""
    games, _, features = real
    joined = features.join(games.select("player_id", "game_id", "pts"), on=["player_id", "game_id"])
    warm = joined.filter(pl.col("season_games") >= 10)
    mae_feature = (warm["pts_ewm"] - warm["pts"]).abs().mean()
    mae_constant = (warm["pts"].mean() - warm["pts"]).abs().mean()
    assert mae_feature < 0.75 * mae_constant


@pytest.fixture(scope="module")
def datasets(real):
    games, _, features = real
    return {t: build_dataset(features, games, t, "real", "2026-01-01T00:00:00") for t in TARGETS}


def test_twelve_datasets_with_versions_that_do_not_change(real, datasets):
    games, _, features = real
    first = datasets
    # built again later: the same versions (a base stat, a combo and the two-part defensive one;
    # every target goes through the same code)
    for t in ("PTS", "PRA", "STL_BLK"):
        assert build_dataset(features, games, t, "real", "2026-06-01T00:00:00").version == (
            first[t].version
        ), t
    assert len({d.version for d in first.values()}) == 12
    for ds in first.values():
        assert all(o.passed for o in checks.dataset_checks(ds)), ds.target
        assert sum(ds.manifest["rows"].values()) == 226_315


def test_the_naive_book_behind_proxy_lines_is_fair_on_real_games(datasets):
    """Proxy lines priced by the naive book: on each target's real test split neither blanket
    side (every over, every under, at the book's prices) earns more than 2%, the book's mean
    P(over) is within 4 points of the over rate, and its Brier is at most a coin flip's + 0.0025."""
    for target in TARGETS:
        test = datasets[target].test
        lines = proxy_lines(test, target)
        over = (test["target"].to_numpy() > lines["consensus_line"].to_numpy()).astype(float)
        p = lines["market_p_over"].to_numpy()
        won_over = np.where(over == 1, american_to_decimal(lines["ref_over_odds"]) - 1, -1.0)
        won_under = np.where(over == 0, american_to_decimal(lines["ref_under_odds"]) - 1, -1.0)
        assert won_over.mean() < 0.02 and won_under.mean() < 0.02, target
        assert abs(p.mean() - over.mean()) < 0.04, target
        assert np.mean((p - over) ** 2) < 0.2525, target
