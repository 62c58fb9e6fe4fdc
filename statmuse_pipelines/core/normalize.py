"""Raw LeagueGameLog rows -> the canonical player_game_stats and team_game_stats tables."""

from __future__ import annotations

import polars as pl

from statmuse_pipelines.core.schemas import COUNT_STATS, PLAYER_GAME_STATS, TEAM_GAME_STATS
from statmuse_pipelines.core.seasons import GAME_TYPES, KEPT_GAME_TYPES
from statmuse_pipelines.core.teams import TEAM_ID_BY_ABBREVIATION


class NormalizationError(ValueError):
    """Rows that cannot be made canonical, with which rows they are."""


def _game_columns() -> list[pl.Expr]:
    start = (pl.col("SEASON_ID") % 10000).cast(pl.Int64)
    return [
        pl.col("GAME_ID").alias("game_id"),
        pl.col("GAME_DATE").alias("game_date"),
        pl.format("{}-{}", start, ((start + 1) % 100).cast(pl.String).str.zfill(2)).alias("season"),
        pl.col("GAME_ID").str.slice(0, 3).replace_strict(GAME_TYPES).alias("season_type"),
    ]


def _matchup_columns() -> list[pl.Expr]:
    # "DEN vs. LAL" at home, "DEN @ LAL" on the road (neutral sites: "@" on both sides)
    parts = pl.col("MATCHUP").str.extract_groups(r"^\s*(\S+)\s+(vs\.|@)\s+(\S+)\s*$")
    return [
        parts.struct.field("3").alias("opponent"),
        (parts.struct.field("2") == "vs.").alias("is_home"),
        pl.when(pl.col("WL") == "W")
        .then(True)
        .when(pl.col("WL") == "L")
        .then(False)
        .otherwise(None)
        .alias("won"),
    ]


def _kept(raw: pl.DataFrame, what: str) -> pl.DataFrame:
    """The counting games' rows, after two checks no single value shows: the season in
    SEASON_ID is the one GAME_ID encodes (0022300001: type 2, season 2023 -> 22023), and every
    team is an NBA team (exhibitions against other clubs were left out above)."""
    kept = raw.filter(pl.col("GAME_ID").str.slice(0, 3).is_in(list(KEPT_GAME_TYPES)))
    encoded = pl.col("GAME_ID").str.slice(2, 1) + "20" + pl.col("GAME_ID").str.slice(3, 2)
    wrong = kept.filter(pl.col("SEASON_ID").cast(pl.String) != encoded)
    if wrong.height:
        r = wrong.with_columns(_expected=encoded).row(0, named=True)
        raise NormalizationError(
            f"{what}: SEASON_ID {r['SEASON_ID']} does not match GAME_ID {r['GAME_ID']} (which "
            f"says {r['_expected']}) on {r['GAME_DATE']}, in {wrong.height} row(s); nothing was "
            "written"
        )
    unknown = kept.filter(~pl.col("TEAM_ID").is_in(list(TEAM_ID_BY_ABBREVIATION.values())))
    if unknown.height:
        r = unknown.row(0, named=True)
        raise NormalizationError(
            f"{what}: TEAM_ID {r['TEAM_ID']} ({r['TEAM_ABBREVIATION']}) of game {r['GAME_ID']} "
            f"on {r['GAME_DATE']} is no NBA team, in {unknown.height} row(s); nothing was written"
        )
    return kept


def _dedupe(frame: pl.DataFrame, key: list[str], what: str) -> pl.DataFrame:
    """Drop exact duplicate rows; conflicting rows for one key are an error naming the key."""
    frame = frame.unique(maintain_order=True)
    dup = frame.filter(pl.struct(key).is_duplicated())
    if dup.height:
        first = dup.row(0, named=True)
        label = ", ".join(f"{k}={first[k]}" for k in key)
        raise NormalizationError(
            f"{what}: {dup.height} rows share a key but differ in their values, first {label}; "
            "the source disagrees with itself, so nothing was written"
        )
    return frame


def _check_matchups(frame: pl.DataFrame, what: str) -> None:
    bad = frame.filter(pl.col("opponent").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise NormalizationError(
            f"{what}: MATCHUP {row['MATCHUP']!r} of game {row['GAME_ID']} is not "
            "'TEAM vs. OPP' or 'TEAM @ OPP'"
        )


def _opponent_ids(frame: pl.DataFrame, team_col: str = "TEAM_ID") -> pl.DataFrame:
    """opponent_id: the other team in the same game, else the id of the matchup's abbreviation."""
    teams_in_game = frame.select("GAME_ID", pl.col(team_col).alias("_tid")).unique()
    other = (
        frame.select("GAME_ID", team_col)
        .unique()
        .join(teams_in_game, on="GAME_ID")
        .filter(pl.col("_tid") != pl.col(team_col))
        .group_by("GAME_ID", team_col)
        .agg(pl.col("_tid").first().alias("_other"))
    )
    by_abbr = pl.DataFrame(
        {
            "opponent": list(TEAM_ID_BY_ABBREVIATION),
            "_abbr_id": list(TEAM_ID_BY_ABBREVIATION.values()),
        },
        schema={"opponent": pl.String, "_abbr_id": pl.Int64},
    )
    return (
        frame.join(other, on=["GAME_ID", team_col], how="left")
        .join(by_abbr, on="opponent", how="left")
        .with_columns(pl.coalesce("_other", "_abbr_id").alias("opponent_id"))
        .drop("_other", "_abbr_id")
    )


def normalize_player_logs(raw: pl.DataFrame) -> pl.DataFrame:
    """player_game_stats rows from LeagueGameLog player rows (counting games only)."""
    frame = _dedupe(_kept(raw, "player game logs"), ["PLAYER_ID", "GAME_ID"], "player game logs")
    frame = frame.with_columns(_matchup_columns())
    _check_matchups(frame, "player game logs")
    frame = _opponent_ids(frame)
    out = frame.select(
        *_game_columns(),
        pl.col("PLAYER_ID").alias("player_id"),
        pl.col("PLAYER_NAME").alias("player_name"),
        pl.col("TEAM_ID").alias("team_id"),
        pl.col("TEAM_ABBREVIATION").alias("team"),
        "opponent_id",
        "opponent",
        "is_home",
        "won",
        pl.col("MIN").alias("minutes"),
        *(pl.col(s.upper()).alias(s) for s in COUNT_STATS),
        pl.col("PLUS_MINUS").round(0).alias("plus_minus"),
    )
    return PLAYER_GAME_STATS.conform(out).sort("game_date", "game_id", "team_id", "player_id")


def normalize_team_logs(raw: pl.DataFrame) -> pl.DataFrame:
    """team_game_stats rows: each team's box score beside its opponent's, with pace and ratings."""
    frame = _dedupe(_kept(raw, "team game logs"), ["TEAM_ID", "GAME_ID"], "team game logs")
    frame = frame.with_columns(_matchup_columns())
    _check_matchups(frame, "team game logs")
    frame = _opponent_ids(frame)
    box = frame.select(
        *_game_columns(),
        pl.col("TEAM_ID").alias("team_id"),
        pl.col("TEAM_ABBREVIATION").alias("team"),
        pl.col("TEAM_NAME").alias("team_name"),
        "opponent_id",
        "opponent",
        "is_home",
        "won",
        pl.col("MIN").alias("minutes"),
        *(pl.col(s.upper()).alias(s) for s in COUNT_STATS),
        pl.col("PLUS_MINUS").round(0).alias("plus_minus"),
    )
    opp = box.select(
        "game_id",
        pl.col("team_id").alias("opponent_id"),
        *(pl.col(s).alias(f"opp_{s}") for s in COUNT_STATS),
    )
    out = box.join(opp, on=["game_id", "opponent_id"], how="left")
    own = pl.col("fga") + 0.44 * pl.col("fta") - pl.col("oreb") + pl.col("tov")
    theirs = pl.col("opp_fga") + 0.44 * pl.col("opp_fta") - pl.col("opp_oreb") + pl.col("opp_tov")
    out = out.with_columns(possessions=(own + theirs) / 2.0).with_columns(
        pace=48.0 * pl.col("possessions") / (pl.col("minutes") / 5.0),
        off_rating=100.0 * pl.col("pts") / pl.col("possessions"),
        def_rating=100.0 * pl.col("opp_pts") / pl.col("possessions"),
    )
    return TEAM_GAME_STATS.conform(out).sort("game_date", "game_id", "team_id")


SCHEDULE_SCHEMA = {
    "game_id": pl.String,
    "game_date": pl.Date,
    "season": pl.String,
    "home_team_id": pl.Int64,
    "away_team_id": pl.Int64,
}


def schedule_from_team_logs(raw: pl.DataFrame) -> pl.DataFrame:
    """The games of team box scores as a slate: one row per game, home and away teams."""
    teams = normalize_team_logs(raw)
    if teams.height == 0:
        return pl.DataFrame(schema=SCHEDULE_SCHEMA)
    # a neutral site has no home team: the first team id stands in
    home = (
        teams.sort("is_home", "team_id", descending=[True, False])
        .group_by("game_id", maintain_order=True)
        .first()
    )
    return home.select(
        "game_id",
        "game_date",
        "season",
        pl.col("team_id").alias("home_team_id"),
        pl.col("opponent_id").alias("away_team_id"),
    ).sort("game_date", "game_id")
