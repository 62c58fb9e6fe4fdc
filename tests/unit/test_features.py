"""Pregame features: computed by hand, cold starts, and the no-leakage guarantee as a property."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from statmuse_pipelines.core import checks
from statmuse_pipelines.core.features import (
    KEYS,
    build_features,
    feature_names,
    feature_specs,
    history_start,
    team_history_start,
    window_inputs,
)
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.core.schemas import COUNT_STATS, PLAYER_GAME_STATS, TEAM_GAME_STATS
from statmuse_pipelines.core.synthetic.simulate import simulate_season

DEN, LAL, BOS = 1610612743, 1610612747, 1610612738


@pytest.fixture(scope="module")
def league():
    boxes = [simulate_season(7, s) for s in (2024, 2025)]
    games = normalize_player_logs(pl.concat([b.player_logs for b in boxes]))
    teams = normalize_team_logs(pl.concat([b.team_logs for b in boxes]))
    return games, teams


@pytest.fixture(scope="module")
def full(league):
    games, teams = league
    return build_features(games, teams, games)


# --- a small hand-written history ------------------------------------------------------------


def game(player, day, team, opp, home, season="2024-25", gid=None, **stats):
    row = {c.name: None for c in PLAYER_GAME_STATS.columns}
    row.update(
        game_id=gid or f"00224{day.toordinal() % 100000:05d}",
        game_date=day,
        season=season,
        season_type="Regular Season",
        player_id=player,
        player_name=f"P{player}",
        team_id=team,
        team="DEN" if team == DEN else "LAL" if team == LAL else "BOS",
        opponent_id=opp,
        opponent="DEN" if opp == DEN else "LAL" if opp == LAL else "BOS",
        is_home=home,
        won=True,
        minutes=30.0,
        plus_minus=0,
    )
    for c in COUNT_STATS:
        row[c] = stats.get(c, 0)
    return row


def team_rows(games: pl.DataFrame) -> pl.DataFrame:
    """Team box scores that are the sums of the hand-written player rows (one player a side)."""
    sums = games.group_by(
        "game_id", "game_date", "season", "team_id", "opponent_id", "is_home"
    ).agg(*(pl.col(c).sum() for c in COUNT_STATS), pl.col("minutes").sum() * 8)
    opp = sums.select(
        "game_id",
        pl.col("team_id").alias("opponent_id"),
        *(pl.col(c).alias(f"opp_{c}") for c in COUNT_STATS),
    )
    out = sums.join(opp, on=["game_id", "opponent_id"], how="left").with_columns(
        pl.lit("Regular Season").alias("season_type"),
        pl.lit("X").alias("team"),
        pl.lit("X").alias("team_name"),
        pl.lit("Y").alias("opponent"),
        pl.lit(True).alias("won"),
        pl.lit(0).alias("plus_minus"),
        pl.lit(100.0).alias("possessions"),
        pl.lit(100.0).alias("pace"),
        pl.lit(100.0).alias("off_rating"),
        pl.lit(100.0).alias("def_rating"),
    )
    return TEAM_GAME_STATS.conform(out.fill_null(0))


@pytest.fixture
def hand():
    d0 = date(2024, 11, 1)
    rows = [
        # last season: two games for player 1
        game(1, date(2024, 3, 1), DEN, LAL, True, season="2023-24", pts=8, reb=2),
        game(1, date(2024, 3, 3), DEN, BOS, False, season="2023-24", pts=12, reb=4),
        # this season
        game(1, d0, DEN, LAL, True, pts=10, reb=5, ast=1, fga=8, fta=2, tov=1),
        game(
            1, d0 + timedelta(days=1), DEN, BOS, False, pts=20, reb=7, ast=3, fga=15, fta=6, tov=2
        ),
        game(
            1, d0 + timedelta(days=3), DEN, LAL, False, pts=30, reb=3, ast=5, fga=20, fta=8, tov=3
        ),
        game(1, d0 + timedelta(days=4), DEN, BOS, True, pts=99, reb=99, ast=99),  # the target
        # opponents' single players, so every game has two sides
        game(2, date(2024, 3, 1), LAL, DEN, False, season="2023-24"),
        game(3, date(2024, 3, 3), BOS, DEN, True, season="2023-24"),
        game(2, d0, LAL, DEN, False),
        game(3, d0 + timedelta(days=1), BOS, DEN, True),
        game(2, d0 + timedelta(days=3), LAL, DEN, True),
        game(3, d0 + timedelta(days=4), BOS, DEN, False),
    ]
    frame = PLAYER_GAME_STATS.conform(pl.DataFrame(rows, schema=PLAYER_GAME_STATS.schema))
    # one game id per (date, pair)
    frame = frame.with_columns(
        game_id=pl.format("002{}", pl.col("game_date").cast(pl.String).str.replace_all("-", ""))
    )
    return frame, team_rows(frame), d0


def test_features_computed_by_hand(hand):
    games, teams, d0 = hand
    target = games.filter(
        (pl.col("player_id") == 1) & (pl.col("game_date") == d0 + timedelta(days=4))
    )
    f = build_features(games, teams, target).row(0, named=True)
    # this season's three games before the target: 10, 20, 30 points
    assert f["pts_mean_3"] == pytest.approx(20.0)
    assert f["pts_mean_5"] == pytest.approx((8 + 12 + 10 + 20 + 30) / 5)  # reaches last season
    assert f["pts_season_mean"] == pytest.approx(20.0)
    assert f["season_games"] == 3 and f["games_last_3"] == 3 and f["games_last_10"] == 5
    assert f["pts_prev_season_mean"] == pytest.approx(10.0) and f["prev_season_games"] == 2
    assert f["career_games"] == 5
    ewm = 8.0
    for x in (12, 10, 20, 30):
        ewm = 0.3 * x + 0.7 * ewm
    assert f["pts_ewm"] == pytest.approx(ewm, rel=1e-6)
    assert f["pts_momentum"] == pytest.approx(30 - 16.0)
    assert f["pts_max_3"] == 30 and f["pts_min_3"] == 10 and f["pts_median_3"] == 20
    assert f["pts_std_3"] == pytest.approx(10.0)
    weights = np.arange(6, 11)  # 10 for the latest game, one less per game back
    assert f["pts_wmean_10"] == pytest.approx(np.dot(weights, [8, 12, 10, 20, 30]) / weights.sum())
    assert f["pts_slope_10"] == pytest.approx(
        np.polyfit(range(5), [8, 12, 10, 20, 30], 1)[0], rel=1e-5
    )
    # 75 points on 43 FGA and 16 FTA over the last 10 games (last season's rows had no attempts)
    assert f["ts_pct_10"] == pytest.approx(80 / (2 * (43 + 0.44 * 16)), rel=1e-5)
    # context: played two days ago, at LAL; now home in Denver
    assert f["rest_days"] == 1 and f["back_to_back"] == 1 and f["three_in_four"] == 1
    assert f["home"] == 1 and f["at_altitude"] == 1
    assert f["tz_change_hours"] == 1  # Los Angeles (UTC-8) to Denver (UTC-7)
    assert f["travel_km"] == pytest.approx(1340, rel=0.05)
    # against BOS: one game last season (12 points) and one this season (20)
    assert f["vs_opp_games"] == 2 and f["pts_vs_opp_mean"] == pytest.approx(16.0)
    assert f["pts_vs_opp_last"] == 20 and f["vs_opp_days_since"] == 3
    assert f["history_last_date"] == d0 + timedelta(days=3)
    # the target's own 99s are nowhere
    assert 99 not in {round(v) for k, v in f.items() if isinstance(v, float)}


def test_first_game_has_only_cold_start_values(hand):
    games, teams, _ = hand
    first = games.filter(pl.col("player_id") == 2).sort("game_date").head(1)
    f = build_features(games, teams, first).row(0, named=True)
    team_side = {"home", "at_altitude", "venue_elevation_m", "season_month", "season_day",
                 "team_rest_days", "opp_def_rank", "team_games", "opp_games"}  # fmt: skip
    for spec in feature_specs():
        name = spec.name
        if name in team_side or name.startswith(("opp_", "team_")):
            continue
        expected = 10.0 if name == "rest_days" else 0.0
        assert f[name] == expected, name
    assert f["history_last_date"] is None


def test_no_feature_is_missing_and_every_row_is_pregame(full, league):
    games, _ = league
    assert full.height == games.height
    assert set(full.columns) == {*KEYS, *feature_names(), "history_last_date"}
    assert checks.features_are_pregame(full).passed
    assert checks.no_missing_feature_values(full, feature_names()).passed
    assert checks.one_row_per_player_game(full, games).passed


def test_the_pregame_check_catches_a_leak(full):
    leaked = full.with_columns(
        history_last_date=pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("game_date"))
        .otherwise(pl.col("history_last_date"))
    )
    outcome = checks.features_are_pregame(leaked)
    assert not outcome.passed and outcome.metadata["failing_rows"] == 1


def _scramble(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The same rows with every counting stat replaced by random numbers."""
    rng = np.random.default_rng(seed)
    return frame.with_columns(
        *(pl.Series(c, rng.integers(0, 60, frame.height)) for c in COUNT_STATS),
        minutes=pl.Series(rng.uniform(0, 48, frame.height)),
    )


@pytest.mark.parametrize("variant", ["deleted", "altered"])
def test_nothing_on_or_after_the_game_date_changes_its_features(league, full, variant):
    """The property: for random dates D, delete or alter every game on or after D (the target's
    own box score included) and the features of every player-game on D stay the same."""
    games, teams = league
    days = games["game_date"].unique().sort().slice(30)
    for d in days.sample(4, seed=42 if variant == "deleted" else 43):
        targets = games.filter(pl.col("game_date") == d)
        before, later = (
            games.filter(pl.col("game_date") < d),
            games.filter(pl.col("game_date") >= d),
        )
        tb, tl = teams.filter(pl.col("game_date") < d), teams.filter(pl.col("game_date") >= d)
        if variant == "deleted":
            hist, thist = before, tb
        else:
            hist = pl.concat([before, _scramble(later, 1)])
            thist = pl.concat([tb, _scramble(tl, 2).with_columns(pl.col("possessions") * 3)])
        again = build_features(hist, thist, _scramble(targets, 3))
        expected = full.filter(pl.col("game_date") == d)
        assert again.height == expected.height > 0
        assert again.equals(expected), f"features of {d} moved when later games were {variant}"


@pytest.fixture(scope="module")
def four_seasons():
    boxes = [simulate_season(7, s) for s in (2022, 2023, 2024, 2025)]
    games = normalize_player_logs(pl.concat([b.player_logs for b in boxes]))
    teams = normalize_team_logs(pl.concat([b.team_logs for b in boxes]))
    return games, teams, build_features(games, teams, games)


@pytest.mark.parametrize(
    "first, last",
    [(date(2026, 1, 15), date(2026, 1, 15)), (date(2025, 7, 1), date(2026, 6, 30))],
    ids=["one-day", "one-season"],
)
def test_a_run_over_its_window_equals_the_full_pass(four_seasons, first, last):
    """What a run over first..last reads (window_inputs) gives exactly the full pass's numbers,
    with a season of history before the window that the window must not need."""
    games, teams, full = four_seasons
    history, team_history, targets, prior = window_inputs(games, teams, first, last)
    assert history["game_date"].min() >= history_start(first)
    assert games["game_date"].min() < team_history["game_date"].min()
    run = build_features(history, team_history, targets, prior)
    expected = full.filter(pl.col("game_date").is_between(first, last))
    assert run.height == expected.height > 0
    assert run.equals(expected)


def test_history_start_is_the_previous_season():
    assert history_start(date(2024, 1, 5)) == date(2022, 7, 1)
    assert history_start(date(2024, 10, 22)) == date(2023, 7, 1)
    assert team_history_start(date(2024, 10, 22)) == date(2022, 7, 1)
