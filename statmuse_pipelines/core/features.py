"""As-of player features: for a game on date D, only games strictly before D.

How the guarantee is built, not hoped for:

1. **States after each game.** For every player game (and every team game) we compute the state
   *after* that game: rolling means over the last 3/5/10 games, the season-to-date mean, the
   date and venue of the game, and so on. A state row is dated with its game's date.
2. **As-of join, strictly before.** A target row (player, D) takes the latest state dated strictly
   before D (`join_asof(..., allow_exact_matches=False)`). Nothing dated D or later can reach it:
   the target's own box score, other games that day and every later game are invisible.
3. **Bounded history.** A game of season S sees the games of seasons S-1 and S only (every
   game is placed in two "epochs": its own season and the next). So one day's features need only
   the last two seasons of player games (three of team games: see `team_history_start`), and a
   single-day run gives exactly what a range backfill gives (`window_inputs` is that window).
   Career games played is the one exception: a count over all earlier games (`prior_games`
   carries the count before the history a caller passes).
4. **Proof, not trust.** `history_last_date` is the latest game date any feature of a row used;
   the `features_are_pregame` check fails if it reaches the row's own date, and the property test
   deletes or alters everything on or after D and asserts the features do not move.

Missing history gets defined values, never NaN: every mean, rate, spread or rating with no game
behind it is 0.0, and the count of games behind it (`games_last_5`, `season_games`,
`vs_opp_games`, ...) says so; rest days are capped at 10 (10 when there is no earlier game); the
opponent's defensive rank is 0 when unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from statmuse_pipelines.core.teams import teams as team_table

STATS: tuple[str, ...] = (
    "pts",
    "reb",
    "ast",
    "fg3m",
    "stl",
    "blk",
    "tov",
    "minutes",
    "fga",
    "fta",
    "fg3a",
)
SPREAD_STATS: tuple[str, ...] = ("pts", "reb", "ast", "fg3m", "stl", "blk", "tov", "minutes")
MATCHUP_STATS: tuple[str, ...] = ("pts", "reb", "ast", "fg3m")
WINDOWS: tuple[int, ...] = (3, 5, 10)
EWM_ALPHA = 0.3
TEAM_WINDOW = 20  # team ratings: the last 20 team games (within the current and previous season)
REST_CAP = 10
ALTITUDE_TEAMS = ("DEN", "UTA")
KEYS: tuple[str, ...] = (
    "game_id",
    "game_date",
    "season",
    "player_id",
    "player_name",
    "team_id",
    "team",
    "opponent_id",
    "opponent",
    "is_home",
)
# standard-time UTC offsets of the arenas' time zones (a time-zone change is what travel costs)
_TZ_OFFSET = {
    "America/New_York": -5,
    "America/Detroit": -5,
    "America/Toronto": -5,
    "America/Indiana/Indianapolis": -5,
    "America/Chicago": -6,
    "America/Denver": -7,
    "America/Phoenix": -7,
    "America/Los_Angeles": -8,
}


_SPREADS = (
    ("std", "standard deviation"),
    ("min", "minimum"),
    ("max", "maximum"),
    ("median", "median"),
)


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    meaning: str
    window: str


def _season_year(col: str = "season") -> pl.Expr:
    return pl.col(col).str.slice(0, 4).cast(pl.Int32)


def history_start(first_target: date) -> date:
    """The first player game date any feature of a game on `first_target` may use (July 1, S-1)."""
    season = first_target.year if first_target.month >= 7 else first_target.year - 1
    return date(season - 1, 7, 1)


def team_history_start(first_target: date) -> date:
    """The first team game date the features may use: one season earlier than the players'.

    A player's record against top-10 defenses classifies each of his games of season S-1 by the
    opponent's rank on that day, which rests on that opponent's games of S-2 and S-1.
    """
    return date(history_start(first_target).year - 1, 7, 1)


def window_days(first: date, last: date) -> tuple[date, date]:
    """The game dates the features of games on first..last may read, as (players_from,
    teams_from), both through `last`: player games of the current and previous season of
    `first`, team games of one season more; every earlier player game only as a count of games
    (career games). The one definition of the window: `window_inputs` below and the lake reader
    of the assets (player_features and the served slate) both take it from here."""
    if last < first - timedelta(days=1):
        raise ValueError(f"window {first}..{last}: last is before the day before first")
    return history_start(first), team_history_start(first)


def window_inputs(
    games: pl.DataFrame, teams: pl.DataFrame, first: date, last: date
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """From complete tables, exactly what the features of first..last may read.

    Returns (history, team_history, targets, prior_games): what the player_features asset reads
    from the lake for a run over first..last (assets/_common.read_feature_window).
    """
    start, team_start = window_days(first, last)
    history = games.filter(pl.col("game_date").is_between(start, last))
    team_history = teams.filter(pl.col("game_date").is_between(team_start, last))
    targets = games.filter(pl.col("game_date").is_between(first, last))
    return history, team_history, targets, prior_games(games.filter(pl.col("game_date") < start))


def prior_games(earlier: pl.DataFrame) -> pl.DataFrame:
    """Each player's count of games before the window (his career games before it)."""
    return earlier.group_by("player_id").agg(pl.len().alias("games"))


def _venues() -> pl.DataFrame:
    t = team_table()
    return t.select(
        pl.col("team_id").alias("venue_id"),
        pl.col("team").alias("venue"),
        pl.col("latitude").alias("venue_lat"),
        pl.col("longitude").alias("venue_lon"),
        pl.col("timezone").replace_strict(_TZ_OFFSET, return_dtype=pl.Int32).alias("venue_tz"),
        pl.col("elevation_m").cast(pl.Float64).alias("venue_elevation_m"),
    )


def _with_venue(frame: pl.DataFrame) -> pl.DataFrame:
    """The arena a game is played in: the home team's (neutral sites are not known: home's)."""
    venue_id = pl.when(pl.col("is_home")).then(pl.col("team_id")).otherwise(pl.col("opponent_id"))
    return frame.with_columns(venue_id=venue_id).join(_venues(), on="venue_id", how="left")


def _epochs(frame: pl.DataFrame) -> pl.DataFrame:
    """Each game twice: in its own season's epoch and in the next season's."""
    year = _season_year()
    return pl.concat(
        [frame.with_columns(epoch=year), frame.with_columns(epoch=year + 1)], how="vertical"
    )


def _player_states(history: pl.DataFrame, team_usage: pl.DataFrame) -> pl.DataFrame:
    """One row per (player, epoch, game): the player's state after that game."""
    g = _with_venue(history).join(team_usage, on=["game_id", "team_id"], how="left")
    g = _epochs(g).sort("player_id", "epoch", "game_date")
    over = ["player_id", "epoch"]
    idx = pl.int_range(pl.len()).over(over).cast(pl.Float64)
    g = g.with_columns(_i=idx)
    exprs: list[pl.Expr] = [
        (pl.col("_i") + 1).alias("n_epoch"),
        pl.col("game_date").alias("last_date"),
        pl.col("game_date").shift(1).over(over).alias("second_last_date"),
        pl.col("venue_lat").alias("last_venue_lat"),
        pl.col("venue_lon").alias("last_venue_lon"),
        pl.col("venue_tz").alias("last_venue_tz"),
    ]
    is_cur = (_season_year() == pl.col("epoch")).cast(pl.Float64)
    season_n = is_cur.cum_sum().over(over)
    exprs.append(season_n.alias("season_games"))
    n10 = pl.min_horizontal(pl.col("_i") + 1, pl.lit(10.0))
    for s in STATS:
        x = pl.col(s).cast(pl.Float64)
        for w in WINDOWS:
            exprs.append(x.rolling_mean(w, min_samples=1).over(over).alias(f"{s}_mean_{w}"))
        exprs.append(x.ewm_mean(alpha=EWM_ALPHA, adjust=False).over(over).alias(f"{s}_ewm"))
        # linear weights 1..10, the latest game weighing 10
        wsum = (pl.col("_i") * x).rolling_sum(10, min_samples=1).over(over) - (
            pl.col("_i") - 10.0
        ) * x.rolling_sum(10, min_samples=1).over(over)
        exprs.append((wsum / (n10 * (21.0 - n10) / 2.0)).alias(f"{s}_wmean_10"))
        # least-squares slope of the stat against game number over the last 10 games
        sp = pl.col("_i").rolling_sum(10, min_samples=1).over(over)
        sx = x.rolling_sum(10, min_samples=1).over(over)
        spx = (pl.col("_i") * x).rolling_sum(10, min_samples=1).over(over)
        spp = (pl.col("_i") ** 2).rolling_sum(10, min_samples=1).over(over)
        denom = n10 * spp - sp**2
        exprs.append(
            pl.when(denom > 0)
            .then((n10 * spx - sp * sx) / denom)
            .otherwise(0.0)
            .alias(f"{s}_slope_10")
        )
        exprs.append((x - x.rolling_mean(5, min_samples=1).over(over)).alias(f"{s}_momentum"))
        exprs.append(((x * is_cur).cum_sum().over(over) / season_n).alias(f"{s}_season_mean"))
        if s in SPREAD_STATS:
            for w in WINDOWS:
                exprs += [
                    x.rolling_std(w, min_samples=2).over(over).alias(f"{s}_std_{w}"),
                    x.rolling_min(w, min_samples=1).over(over).alias(f"{s}_min_{w}"),
                    x.rolling_max(w, min_samples=1).over(over).alias(f"{s}_max_{w}"),
                    x.rolling_median(w, min_samples=1).over(over).alias(f"{s}_median_{w}"),
                ]
    # box-score rates over the last 10 games and the season to date
    sums10 = {
        c: pl.col(c).cast(pl.Float64).rolling_sum(10, min_samples=1).over(over)
        for c in (
            "pts",
            "fga",
            "fta",
            "fgm",
            "fg3m",
            "fg3a",
            "tov",
            "minutes",
            "reb",
            "ast",
            "team_usage",
        )
    }
    usage10 = sums10["fga"] + 0.44 * sums10["fta"] + sums10["tov"]
    seasonal = {
        c: (pl.col(c).cast(pl.Float64) * is_cur).cum_sum().over(over)
        for c in ("pts", "fga", "fta", "tov", "minutes")
    }
    exprs += [
        _ratio(sums10["pts"], 2.0 * (sums10["fga"] + 0.44 * sums10["fta"])).alias("ts_pct_10"),
        _ratio(sums10["fgm"] + 0.5 * sums10["fg3m"], sums10["fga"]).alias("efg_pct_10"),
        _ratio(usage10, sums10["minutes"]).alias("usage_per_min_10"),
        _ratio(sums10["fta"], sums10["fga"]).alias("ft_rate_10"),
        _ratio(sums10["fg3a"], sums10["fga"]).alias("fg3a_rate_10"),
        _ratio(sums10["pts"], sums10["minutes"]).alias("pts_per_min_10"),
        _ratio(sums10["reb"], sums10["minutes"]).alias("reb_per_min_10"),
        _ratio(sums10["ast"], sums10["minutes"]).alias("ast_per_min_10"),
        _ratio(sums10["fg3m"], sums10["minutes"]).alias("fg3m_per_min_10"),
        _ratio(usage10, sums10["team_usage"]).alias("usage_share_10"),
        _ratio(seasonal["pts"], 2.0 * (seasonal["fga"] + 0.44 * seasonal["fta"])).alias(
            "ts_pct_season"
        ),
        _ratio(
            seasonal["fga"] + 0.44 * seasonal["fta"] + seasonal["tov"], seasonal["minutes"]
        ).alias("usage_per_min_season"),
    ]
    # the player's production against the league's best and worst defenses (rank as of that game)
    top = (pl.col("opp_def_rank_then").is_between(1, 10)).cast(pl.Float64)
    bottom = (pl.col("opp_def_rank_then") >= 21).cast(pl.Float64)
    exprs += [
        top.cum_sum().over(over).alias("vs_top10_games"),
        bottom.cum_sum().over(over).alias("vs_bottom10_games"),
    ]
    for s in MATCHUP_STATS:
        x = pl.col(s).cast(pl.Float64)
        exprs += [
            ((x * top).cum_sum().over(over) / top.cum_sum().over(over)).alias(f"{s}_vs_top10_mean"),
            ((x * bottom).cum_sum().over(over) / bottom.cum_sum().over(over)).alias(
                f"{s}_vs_bottom10_mean"
            ),
        ]
    states = g.select("player_id", "epoch", "game_date", *exprs)
    return states.sort("game_date")


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(0.0)


def _team_states(team_history: pl.DataFrame) -> pl.DataFrame:
    """One row per (team, epoch, game): ratings over the team's last 20 games after that game."""
    t = _epochs(team_history).sort("team_id", "epoch", "game_date")
    over = ["team_id", "epoch"]

    def roll(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.Float64).rolling_sum(TEAM_WINDOW, min_samples=1).over(over)

    n = pl.int_range(1, pl.len() + 1).over(over).cast(pl.Float64)
    games = pl.min_horizontal(n, pl.lit(float(TEAM_WINDOW)))
    poss = roll("possessions")
    return t.select(
        "team_id",
        "epoch",
        "game_date",
        games.alias("team_games"),
        _ratio(100.0 * roll("opp_pts"), poss).alias("def_rating"),
        _ratio(100.0 * roll("pts"), poss).alias("off_rating"),
        _ratio(48.0 * poss, roll("minutes") / 5.0).alias("pace"),
        (roll("opp_pts") / games).alias("pts_allowed"),
        (roll("opp_reb") / games).alias("reb_allowed"),
        (roll("opp_ast") / games).alias("ast_allowed"),
        (roll("opp_fg3m") / games).alias("fg3m_allowed"),
    ).sort("game_date")


def _team_grid(team_states: pl.DataFrame, dates: pl.Series) -> pl.DataFrame:
    """Every team's ratings as of each date (strictly before it), and its defensive rank then."""
    ids = team_table().select(pl.col("team_id"))
    days = pl.DataFrame({"game_date": dates.unique().sort()}).with_columns(
        epoch=pl.when(pl.col("game_date").dt.month() >= 7)
        .then(pl.col("game_date").dt.year())
        .otherwise(pl.col("game_date").dt.year() - 1)
        .cast(pl.Int32)
    )
    grid = days.join(ids, how="cross").sort("game_date")
    grid = grid.join_asof(
        team_states.rename({"game_date": "state_date"}).with_columns(
            game_date=pl.col("state_date")
        ),
        on="game_date",
        by=["team_id", "epoch"],
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    rank = (
        pl.when(pl.col("def_rating").is_not_null())
        .then(pl.col("def_rating").rank("ordinal").over("game_date"))
        .otherwise(0)
    )
    return grid.with_columns(def_rank=rank.cast(pl.Int32)).drop("epoch")


def _matchup_states(history: pl.DataFrame) -> pl.DataFrame:
    """One row per (player, opponent, epoch, game): the player's record against that opponent."""
    g = _epochs(history).sort("player_id", "opponent_id", "epoch", "game_date")
    over = ["player_id", "opponent_id", "epoch"]
    n = pl.int_range(1, pl.len() + 1).over(over).cast(pl.Float64)
    exprs = [n.alias("vs_opp_games")]
    for s in MATCHUP_STATS:
        x = pl.col(s).cast(pl.Float64)
        exprs += [
            (x.cum_sum().over(over) / n).alias(f"{s}_vs_opp_mean"),
            x.alias(f"{s}_vs_opp_last"),
        ]
    return g.select(
        "player_id",
        "opponent_id",
        "epoch",
        "game_date",
        pl.col("game_date").alias("vs_opp_date"),
        *exprs,
    ).sort("game_date")


def _prev_season(history: pl.DataFrame) -> pl.DataFrame:
    """Each player's whole-season means, keyed by the following season (whose games use them)."""
    return (
        history.with_columns(epoch=_season_year() + 1)
        .group_by("player_id", "epoch")
        .agg(
            pl.len().cast(pl.Float64).alias("prev_season_games"),
            pl.col("game_date").max().alias("prev_season_last_date"),
            *(pl.col(s).cast(pl.Float64).mean().alias(f"{s}_prev_season_mean") for s in STATS),
        )
    )


def build_features(
    history: pl.DataFrame,
    team_history: pl.DataFrame,
    targets: pl.DataFrame,
    prior_games: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Features for each target row (a player's game, played or scheduled), as of its date.

    history: player_game_stats rows (at least the current and previous season of every target;
        rows on or after a target's date are ignored for that target).
    team_history: team_game_stats rows for the same span.
    targets: one row per (player_id, game_id) with the KEYS columns; box-score columns, if present,
        are ignored.
    prior_games: (player_id, games) played before the first date of `history`, for career counts.
    """
    targets = targets.select(*KEYS).with_columns(epoch=_season_year())
    team_usage = team_history.select(
        "game_id",
        "team_id",
        (pl.col("fga") + 0.44 * pl.col("fta") + pl.col("tov")).alias("team_usage"),
    )
    team_states = _team_states(team_history)
    all_dates = pl.concat([history["game_date"], targets["game_date"]])
    grid = _team_grid(team_states, all_dates)

    # the opponent's defensive rank on the day of each historical game, for vs-top/bottom-10
    ranked_history = history.join(
        grid.select(
            "game_date",
            pl.col("team_id").alias("opponent_id"),
            pl.col("def_rank").alias("opp_def_rank_then"),
        ),
        on=["game_date", "opponent_id"],
        how="left",
    )
    states = _player_states(ranked_history, team_usage)
    state_cols = [c for c in states.columns if c not in ("player_id", "epoch", "game_date")]

    out = _with_venue(targets).sort("game_date")
    out = out.join_asof(
        states.with_columns(state_date=pl.col("game_date")),
        on="game_date",
        by=["player_id", "epoch"],
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    # career games: every earlier game, not just the two-season window
    career = (
        history.sort("player_id", "game_date")
        .select(
            "player_id",
            "game_date",
            pl.int_range(1, pl.len() + 1).over("player_id").cast(pl.Float64).alias("career_n"),
        )
        .sort("game_date")
    )
    out = out.join_asof(
        career,
        on="game_date",
        by="player_id",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    if prior_games is not None:
        out = out.join(
            prior_games.select("player_id", pl.col("games").cast(pl.Float64).alias("_prior")),
            on="player_id",
            how="left",
        )
    else:
        out = out.with_columns(_prior=pl.lit(0.0))
    out = out.join(_prev_season(history), on=["player_id", "epoch"], how="left")
    out = out.join_asof(
        _matchup_states(history).with_columns(pl.col("game_date").alias("_vs_date_key")),
        on="game_date",
        by=["player_id", "opponent_id", "epoch"],
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    opp = grid.select(
        "game_date",
        pl.col("team_id").alias("opponent_id"),
        pl.col("state_date").alias("opp_state_date"),
        pl.col("def_rating").alias("opp_def_rating"),
        pl.col("pace").alias("opp_pace"),
        pl.col("def_rank").alias("opp_def_rank"),
        pl.col("pts_allowed").alias("opp_pts_allowed"),
        pl.col("reb_allowed").alias("opp_reb_allowed"),
        pl.col("ast_allowed").alias("opp_ast_allowed"),
        pl.col("fg3m_allowed").alias("opp_fg3m_allowed"),
        pl.col("team_games").alias("opp_games"),
    )
    own = grid.select(
        "game_date",
        "team_id",
        pl.col("state_date").alias("team_state_date"),
        pl.col("pace").alias("team_pace"),
        pl.col("off_rating").alias("team_off_rating"),
        pl.col("team_games").alias("team_games"),
    )
    rank_date = grid.group_by("game_date").agg(pl.col("state_date").max().alias("rank_state_date"))
    team_last = team_history.select(
        "team_id", "game_date", pl.col("game_date").alias("team_last_date")
    ).sort("game_date")
    out = (
        out.join(opp, on=["game_date", "opponent_id"], how="left")
        .join(own, on=["game_date", "team_id"], how="left")
        .join(rank_date, on="game_date", how="left")
        .sort("game_date")
        .join_asof(
            team_last,
            on="game_date",
            by="team_id",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
    )
    return _finish(out, state_cols)


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days().cast(pl.Float64)


def _haversine_km(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    r = math.pi / 180.0
    a = ((lat2 - lat1) * r / 2).sin() ** 2 + (lat1 * r).cos() * (lat2 * r).cos() * (
        (lon2 - lon1) * r / 2
    ).sin() ** 2
    return 2 * 6371.0 * a.sqrt().arcsin()


def _finish(out: pl.DataFrame, state_cols: list[str]) -> pl.DataFrame:
    """Derived context features, cold-start values, dtypes and column order."""
    d = pl.col("game_date")
    has_prev = pl.col("last_date").is_not_null()
    rest = pl.when(has_prev).then(_days(d, pl.col("last_date"))).otherwise(REST_CAP)
    team_rest = (
        pl.when(pl.col("team_last_date").is_not_null())
        .then(_days(d, pl.col("team_last_date")))
        .otherwise(REST_CAP)
    )
    travel = pl.when(has_prev).then(
        _haversine_km(
            pl.col("last_venue_lat"),
            pl.col("last_venue_lon"),
            pl.col("venue_lat"),
            pl.col("venue_lon"),
        )
    )
    season_start = pl.date(_season_year(), 10, 1)
    out = out.with_columns(
        home=pl.col("is_home").cast(pl.Float64),
        rest_days=pl.min_horizontal(rest, pl.lit(float(REST_CAP))),
        team_rest_days=pl.min_horizontal(team_rest, pl.lit(float(REST_CAP))),
        back_to_back=(has_prev & (_days(d, pl.col("last_date")) == 1)).cast(pl.Float64),
        three_in_four=(
            pl.col("second_last_date").is_not_null() & (_days(d, pl.col("second_last_date")) <= 3)
        ).cast(pl.Float64),
        at_altitude=pl.col("venue").is_in(list(ALTITUDE_TEAMS)).cast(pl.Float64),
        travel_km=travel,
        tz_change_hours=pl.when(has_prev).then(
            (pl.col("venue_tz") - pl.col("last_venue_tz")).cast(pl.Float64)
        ),
        season_month=((d.dt.month().cast(pl.Int32) - 10) % 12 + 1).cast(pl.Float64),
        season_day=_days(d, season_start),
        games_last_3=pl.min_horizontal(pl.col("n_epoch").fill_null(0), pl.lit(3.0)),
        games_last_5=pl.min_horizontal(pl.col("n_epoch").fill_null(0), pl.lit(5.0)),
        games_last_10=pl.min_horizontal(pl.col("n_epoch").fill_null(0), pl.lit(10.0)),
        career_games=pl.col("career_n").fill_null(0) + pl.col("_prior").fill_null(0),
        vs_opp_days_since=pl.when(pl.col("vs_opp_date").is_not_null()).then(
            _days(d, pl.col("vs_opp_date"))
        ),
        history_last_date=pl.max_horizontal(
            "state_date",
            "opp_state_date",
            "team_state_date",
            "rank_state_date",
            "_vs_date_key",
            "prev_season_last_date",
            "team_last_date",
        ),
    )
    features = feature_names()
    return out.select(
        *KEYS,
        *(
            pl.col(f).cast(pl.Float64).fill_nan(0.0).fill_null(0.0).cast(pl.Float32)
            for f in features
        ),
        "history_last_date",
    ).sort("game_date", "game_id", "player_id")


def feature_specs() -> list[FeatureSpec]:
    """Every feature: name, meaning and window (the README's feature table comes from here)."""
    specs: list[FeatureSpec] = []
    for s in STATS:
        for w in WINDOWS:
            specs.append(
                FeatureSpec(f"{s}_mean_{w}", f"mean {s} over the last {w} games", f"last {w}")
            )
        specs += [
            FeatureSpec(
                f"{s}_ewm", f"exponentially weighted mean {s} (alpha {EWM_ALPHA})", "2 seasons"
            ),
            FeatureSpec(
                f"{s}_wmean_10", f"linearly weighted mean {s} (latest game weighs 10)", "last 10"
            ),
            FeatureSpec(f"{s}_slope_10", f"least-squares trend of {s} per game", "last 10"),
            FeatureSpec(f"{s}_momentum", f"last game's {s} minus the 5-game mean", "last 5"),
            FeatureSpec(f"{s}_season_mean", f"season-to-date mean {s}", "this season"),
            FeatureSpec(f"{s}_prev_season_mean", f"previous season's mean {s}", "last season"),
        ]
        if s in SPREAD_STATS:
            for w in WINDOWS:
                for kind, what in _SPREADS:
                    specs.append(FeatureSpec(f"{s}_{kind}_{w}", f"{what} of {s}", f"last {w}"))
    specs += [
        FeatureSpec("games_last_3", "games behind the 3-game features (0-3)", "last 3"),
        FeatureSpec("games_last_5", "games behind the 5-game features (0-5)", "last 5"),
        FeatureSpec("games_last_10", "games behind the 10-game features (0-10)", "last 10"),
        FeatureSpec("season_games", "games played this season before the game", "this season"),
        FeatureSpec("prev_season_games", "games played last season", "last season"),
        FeatureSpec("career_games", "games played before the game, all seasons", "career"),
        FeatureSpec("ts_pct_10", "true shooting %: pts / (2 (fga + 0.44 fta))", "last 10"),
        FeatureSpec("efg_pct_10", "effective FG %: (fgm + 0.5 fg3m) / fga", "last 10"),
        FeatureSpec(
            "usage_per_min_10", "usage proxy: (fga + 0.44 fta + tov) per minute", "last 10"
        ),
        FeatureSpec("ft_rate_10", "free-throw rate: fta / fga", "last 10"),
        FeatureSpec("fg3a_rate_10", "3-point attempt rate: fg3a / fga", "last 10"),
        FeatureSpec("pts_per_min_10", "points per minute", "last 10"),
        FeatureSpec("reb_per_min_10", "rebounds per minute", "last 10"),
        FeatureSpec("ast_per_min_10", "assists per minute", "last 10"),
        FeatureSpec("fg3m_per_min_10", "threes made per minute", "last 10"),
        FeatureSpec("usage_share_10", "player's share of the team's usage in his games", "last 10"),
        FeatureSpec("ts_pct_season", "true shooting %", "this season"),
        FeatureSpec("usage_per_min_season", "usage proxy per minute", "this season"),
        FeatureSpec("home", "1 at home, 0 on the road", "the game"),
        FeatureSpec(
            "rest_days", f"days since the player's previous game (cap {REST_CAP})", "the game"
        ),
        FeatureSpec(
            "team_rest_days", f"days since the team's previous game (cap {REST_CAP})", "the game"
        ),
        FeatureSpec("back_to_back", "1 if the player played the day before", "the game"),
        FeatureSpec("three_in_four", "1 if this is the player's 3rd game in 4 nights", "the game"),
        FeatureSpec("at_altitude", "1 in Denver or Utah", "the game"),
        FeatureSpec("venue_elevation_m", "arena elevation (m)", "the game"),
        FeatureSpec("travel_km", "distance from the previous game's arena (km)", "the game"),
        FeatureSpec(
            "tz_change_hours", "time-zone change since the previous game (h, + = east)", "the game"
        ),
        FeatureSpec("season_month", "month of the season (October = 1)", "the game"),
        FeatureSpec("season_day", "days since October 1 of the season", "the game"),
        FeatureSpec(
            "opp_def_rating",
            "opponent's points allowed per 100 possessions",
            f"opp last {TEAM_WINDOW}",
        ),
        FeatureSpec("opp_pace", "opponent's possessions per 48 minutes", f"opp last {TEAM_WINDOW}"),
        FeatureSpec(
            "opp_def_rank",
            "opponent's defensive rank, 1 = best (0 = unknown)",
            f"opp last {TEAM_WINDOW}",
        ),
        FeatureSpec(
            "opp_pts_allowed", "points the opponent allows per game", f"opp last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "opp_reb_allowed", "rebounds the opponent allows per game", f"opp last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "opp_ast_allowed", "assists the opponent allows per game", f"opp last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "opp_fg3m_allowed", "threes the opponent allows per game", f"opp last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "opp_games",
            f"opponent games behind those ratings (0-{TEAM_WINDOW})",
            f"opp last {TEAM_WINDOW}",
        ),
        FeatureSpec(
            "team_pace", "own team's possessions per 48 minutes", f"team last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "team_off_rating", "own team's points per 100 possessions", f"team last {TEAM_WINDOW}"
        ),
        FeatureSpec(
            "team_games",
            f"team games behind those ratings (0-{TEAM_WINDOW})",
            f"team last {TEAM_WINDOW}",
        ),
        FeatureSpec(
            "vs_top10_games", "player's games against top-10 defenses (rank then)", "2 seasons"
        ),
        FeatureSpec("vs_bottom10_games", "player's games against bottom-10 defenses", "2 seasons"),
        FeatureSpec("vs_opp_games", "player's games against this opponent", "2 seasons"),
        FeatureSpec(
            "vs_opp_days_since", "days since the last game against this opponent", "2 seasons"
        ),
    ]
    for s in MATCHUP_STATS:
        specs += [
            FeatureSpec(f"{s}_vs_top10_mean", f"mean {s} against top-10 defenses", "2 seasons"),
            FeatureSpec(
                f"{s}_vs_bottom10_mean", f"mean {s} against bottom-10 defenses", "2 seasons"
            ),
            FeatureSpec(f"{s}_vs_opp_mean", f"mean {s} against this opponent", "2 seasons"),
            FeatureSpec(
                f"{s}_vs_opp_last", f"{s} in the last game against this opponent", "2 seasons"
            ),
        ]
    return specs


def feature_names() -> list[str]:
    return [f.name for f in feature_specs()]


def targets_from_games(games: pl.DataFrame) -> pl.DataFrame:
    """Target rows for games that were played (the rows of player_game_stats)."""
    return games.select(*KEYS)


__all__: Sequence[str] = [
    "KEYS",
    "build_features",
    "feature_names",
    "feature_specs",
    "history_start",
    "targets_from_games",
]


def features_markdown() -> str:
    """The feature reference (docs/FEATURES.md is this text; a test keeps them in step)."""
    lines = [
        "# Player features",
        "",
        "Generated from `statmuse_pipelines/core/features.py` (`features_markdown()`); a test",
        "fails when this file and the code disagree. Every feature of a game on date D comes from",
        "games strictly before D, within the current and previous season (career games: all",
        "seasons). No history: 0.0, with the count feature of its family at 0.",
        "",
        f"{len(feature_specs())} features.",
        "",
        "| feature | meaning | window |",
        "|---|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.meaning} | {f.window} |" for f in feature_specs()]
    return "\n".join(lines) + "\n"
