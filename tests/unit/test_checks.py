"""Each data-quality check passes on good rows and fails on the defect it exists for."""

import polars as pl
import pytest

from statmuse_pipelines.core import checks
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.schemas import COUNT_STATS, PLAYER_GAME_STATS
from statmuse_pipelines.core.synthetic.simulate import simulate_season


@pytest.fixture(scope="module")
def week():
    box = simulate_season(7, 2024)
    players = normalize_player_logs(box.player_logs).filter(pl.col("game_id") <= "0022400060")
    teams = normalize_team_logs(box.team_logs).filter(pl.col("game_id") <= "0022400060")
    return players, teams


def by_name(outcomes):
    return {o.name: o for o in outcomes}


def bump(frame, column, by=1, row=0):
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.col(column) + by)
        .otherwise(pl.col(column))
        .alias(column)
    )


def test_everything_passes_on_good_rows(week):
    players, teams = week
    for o in checks.player_game_checks(players, teams) + checks.team_game_checks(teams, players):
        assert o.passed, (o.name, o.description)


@pytest.mark.parametrize(
    "tamper, failing",
    [
        (lambda f: bump(f, "pts"), "points_add_up"),
        (lambda f: bump(f, "reb"), "rebounds_add_up"),
        (lambda f: bump(f, "stl", by=-5), "counts_are_non_negative"),
        (lambda f: bump(f, "fgm", by=30), "makes_within_attempts"),
        (lambda f: pl.concat([f, f.head(1)]), "no_duplicate_player_games"),
        (lambda f: f.drop("plus_minus"), "has_expected_columns"),
        (lambda f: f.with_columns(pl.col("minutes").cast(pl.Int64)), "has_expected_columns"),
    ],
)
def test_player_checks_catch_their_defect(week, tamper, failing):
    players, teams = week
    outcome = by_name(checks.player_game_checks(tamper(players), teams))[failing]
    assert not outcome.passed
    assert outcome.severity == "ERROR"
    others = [o for o in checks.player_game_checks(players, teams) if o.name != failing]
    assert all(o.passed for o in others)


def test_a_phantom_player_row_fails_the_player_checks_through_the_team_totals(week):
    players, teams = week
    zero = [pl.lit(0).cast(players.schema[c]).alias(c) for c in COUNT_STATS if c != "ast"]
    phantom = players.head(1).with_columns(
        *zero, player_id=pl.lit(999_999_999, pl.Int64), ast=pl.lit(1).cast(players.schema["ast"])
    )
    outcomes = by_name(checks.player_game_checks(pl.concat([players, phantom]), teams))
    assert not outcomes["player_totals_match_team_totals"].passed
    assert all(o.passed for n, o in outcomes.items() if n != "player_totals_match_team_totals")


def test_team_checks_catch_a_missing_opponent(week):
    players, teams = week
    one_sided = teams.filter(~((pl.col("game_id") == "0022400001") & pl.col("is_home")))
    outcome = by_name(checks.team_game_checks(one_sided, players))["every_game_has_two_teams"]
    assert not outcome.passed and outcome.metadata["failing_rows"] == 1
    assert outcome.examples["game_id"].to_list() == ["0022400001"]


def test_player_totals_must_match_the_team_box(week):
    players, teams = week
    outcome = by_name(checks.team_game_checks(teams, bump(players, "ast", row=3)))[
        "player_totals_match_team_totals"
    ]
    assert not outcome.passed and outcome.metadata["failing_rows"] == 1


def test_team_games_without_player_rows_are_reported_not_failed(week):
    players, teams = week
    fewer_players = players.filter(pl.col("game_id") != "0022400002")
    outcome = checks.player_totals_match_team_totals(fewer_players, teams)
    assert outcome.passed
    assert outcome.metadata["team_games_without_player_rows"] == 2


def test_player_rows_without_a_team_row_fail(week):
    players, teams = week
    outcome = checks.player_totals_match_team_totals(
        players, teams.filter(pl.col("game_id") != "0022400002")
    )
    assert not outcome.passed
    assert set(outcome.examples["problem"].to_list()) == {"no team row"}


def test_implausible_pace_is_a_warning(week):
    players, teams = week
    outcome = by_name(checks.team_game_checks(bump(teams, "pace", by=100.0), players))[
        "pace_is_plausible"
    ]
    assert not outcome.passed and outcome.severity == "WARN"


def test_check_names_match_what_the_assets_declare(week):
    players, teams = week
    assert (
        tuple(o.name for o in checks.player_game_checks(players, teams))
        == checks.PLAYER_CHECK_NAMES
    )
    assert tuple(o.name for o in checks.team_game_checks(teams, players)) == checks.TEAM_CHECK_NAMES
    assert checks.has_expected_columns(players, PLAYER_GAME_STATS).passed


def test_features_computed_before_earlier_box_scores_changed_are_flagged():
    from datetime import date, timedelta

    days = [date(2024, 11, 1) + timedelta(days=i) for i in range(14)]
    # week 2 first (box scores, then features), then week 1
    stats = {d: 100.0 + i for i, d in enumerate(days[7:])} | {
        d: 200.0 + i for i, d in enumerate(days[:7])
    }
    features = {d: 150.0 + i for i, d in enumerate(days[7:])} | {
        d: 250.0 + i for i, d in enumerate(days[:7])
    }
    outcome = checks.later_features_are_current(features, stats, days[:7])
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.examples["game_date"].to_list() == days[7:12]  # the first five shown
    assert "7 feature day(s) (2024-11-08..2024-11-14)" in outcome.description
    # in order (week 1, then week 2): nothing is stale
    in_order = {d: 100.0 + i for i, d in enumerate(days)}
    later = {d: 100.5 + i for i, d in enumerate(days)}
    assert checks.later_features_are_current(later, in_order, days[7:]).passed
