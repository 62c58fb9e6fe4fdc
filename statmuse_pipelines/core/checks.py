"""Data-quality checks on the normalized tables, as pure functions.

Each returns a `CheckOutcome`: whether it passed, a sentence a person can act on, numbers for the
UI, and a few offending rows. The assets turn them into Dagster asset-check results; the CLI
prints them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from statmuse_pipelines.core.backtest import MIN_INTERVAL_DAYS
from statmuse_pipelines.core.probabilities import MIN_REAL_LINE_SHARE
from statmuse_pipelines.core.schemas import COUNT_STATS, PLAYER_GAME_STATS, TEAM_GAME_STATS, Table


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    severity: str = ""  # from ASSET_CHECKS by name: ERROR blocks, WARN asks a person to look
    metadata: dict[str, float | int | str] = field(default_factory=dict)
    examples: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", severity_of(self.name))


def _outcome(
    name: str,
    bad: pl.DataFrame,
    rows: int,
    ok: str,
    fail: str,
    **metadata: float | int | str,
) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        passed=bad.height == 0,
        description=ok if bad.height == 0 else fail.format(n=bad.height),
        metadata={"rows_checked": rows, "failing_rows": bad.height, **metadata},
        examples=bad.head(5) if bad.height else None,
    )


def has_expected_columns(frame: pl.DataFrame, table: Table) -> CheckOutcome:
    expected = table.schema
    missing = [c for c in expected if c not in frame.columns]
    wrong = [
        f"{c}: {frame.schema[c]} (expected {t})"
        for c, t in expected.items()
        if c in frame.columns and frame.schema[c] != t
    ]
    extra = [c for c in frame.columns if c not in expected]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if wrong:
        problems.append("wrong type " + "; ".join(wrong))
    if extra:
        problems.append("unexpected " + ", ".join(extra))
    return CheckOutcome(
        name="has_expected_columns",
        passed=not problems,
        description=(
            f"all {len(expected)} columns present with the documented types"
            if not problems
            else f"{table.name}: " + " | ".join(problems)
        ),
        metadata={"columns": len(frame.columns)},
    )


def _unique(frame: pl.DataFrame, key: tuple[str, ...], name: str, what: str) -> CheckOutcome:
    bad = frame.filter(pl.struct(list(key)).is_duplicated()).select(*key, "game_date")
    return _outcome(
        name,
        bad,
        frame.height,
        f"one row per {what}",
        "{n} rows share a (" + ", ".join(key) + f") with another row: duplicated {what}s",
    )


def counts_are_non_negative(frame: pl.DataFrame) -> CheckOutcome:
    cols = [c for c in frame.columns if c in COUNT_STATS or c.removeprefix("opp_") in COUNT_STATS]
    cols.append("minutes")
    negative = pl.any_horizontal([pl.col(c) < 0 for c in cols])
    bad = frame.filter(negative)
    return _outcome(
        "counts_are_non_negative",
        bad,
        frame.height,
        f"no negative value in {len(cols)} count columns",
        "{n} rows have a negative count or negative minutes",
    )


def points_add_up(frame: pl.DataFrame) -> CheckOutcome:
    bad = frame.filter(pl.col("pts") != 2 * pl.col("fgm") + pl.col("fg3m") + pl.col("ftm"))
    return _outcome(
        "points_add_up",
        bad,
        frame.height,
        "pts = 2*fgm + fg3m + ftm on every row",
        "{n} rows have pts != 2*fgm + fg3m + ftm",
    )


def rebounds_add_up(frame: pl.DataFrame) -> CheckOutcome:
    bad = frame.filter(pl.col("reb") != pl.col("oreb") + pl.col("dreb"))
    return _outcome(
        "rebounds_add_up",
        bad,
        frame.height,
        "reb = oreb + dreb on every row",
        "{n} rows have reb != oreb + dreb",
    )


def makes_within_attempts(frame: pl.DataFrame) -> CheckOutcome:
    bad = frame.filter(
        (pl.col("fgm") > pl.col("fga"))
        | (pl.col("fg3m") > pl.col("fg3a"))
        | (pl.col("ftm") > pl.col("fta"))
        | (pl.col("fg3m") > pl.col("fgm"))
        | (pl.col("fg3a") > pl.col("fga"))
    )
    return _outcome(
        "makes_within_attempts",
        bad,
        frame.height,
        "makes never exceed attempts, threes never exceed field goals",
        "{n} rows make more than they attempt (or more threes than field goals)",
    )


def every_game_has_two_teams(teams: pl.DataFrame) -> CheckOutcome:
    per_game = teams.group_by("game_id").agg(pl.len().alias("teams"), pl.col("game_date").first())
    bad = per_game.filter(pl.col("teams") != 2).sort("game_id")
    return _outcome(
        "every_game_has_two_teams",
        bad,
        teams.height,
        f"all {per_game.height} games have exactly two teams",
        "{n} games do not have exactly two team rows",
        games=per_game.height,
    )


def player_totals_match_team_totals(players: pl.DataFrame, teams: pl.DataFrame) -> CheckOutcome:
    """Summed player box scores equal the team box score, for every team-game with player rows.

    Team-games the source has no player rows for (the real data's playoff team logs, say) are
    counted and reported, not failed; player rows without a team row fail.
    """
    sums = players.group_by("game_id", "team_id").agg(
        pl.len().alias("players"), *(pl.col(s).sum().alias(f"sum_{s}") for s in COUNT_STATS)
    )
    joined = sums.join(
        teams.select("game_id", "team_id", "game_date", *COUNT_STATS),
        on=["game_id", "team_id"],
        how="full",
        coalesce=True,
    )
    no_team = joined.filter(pl.col("game_date").is_null())
    no_players = joined.filter(pl.col("players").is_null())
    both = joined.filter(pl.col("game_date").is_not_null() & pl.col("players").is_not_null())
    mismatch = both.filter(
        pl.any_horizontal([pl.col(f"sum_{s}") != pl.col(s) for s in COUNT_STATS])
    )
    bad = pl.concat(
        [
            mismatch.select("game_id", "team_id", pl.lit("totals differ").alias("problem")),
            no_team.select("game_id", "team_id", pl.lit("no team row").alias("problem")),
        ]
    )
    out = _outcome(
        "player_totals_match_team_totals",
        bad,
        both.height,
        f"player sums equal the team box score in all {both.height} team-games with player rows",
        "{n} team-games where player sums differ from the team box score, or players have no "
        "team row",
        team_games_without_player_rows=no_players.height,
    )
    return out


def pace_is_plausible(teams: pl.DataFrame, low: float = 80.0, high: float = 125.0) -> CheckOutcome:
    bad = teams.filter(~pl.col("pace").is_between(low, high) & pl.col("pace").is_not_null())
    return _outcome(
        "pace_is_plausible",
        bad.select("game_id", "team", "pace", "possessions", "minutes"),
        teams.height,
        f"pace between {low:g} and {high:g} possessions per 48 minutes in every team-game",
        "{n} team-games have a pace outside " + f"{low:g}..{high:g}: check minutes and possessions",
    )


PLAYER_CHECKS: tuple[Callable[[pl.DataFrame], CheckOutcome], ...] = (
    lambda f: has_expected_columns(f, PLAYER_GAME_STATS),
    lambda f: _unique(f, PLAYER_GAME_STATS.key, "no_duplicate_player_games", "player-game"),
    counts_are_non_negative,
    points_add_up,
    rebounds_add_up,
    makes_within_attempts,
)


def player_game_checks(players: pl.DataFrame, teams: pl.DataFrame) -> list[CheckOutcome]:
    """Every check on player_game_stats rows, the team totals of the same days included (`teams`:
    those days' normalized team rows), so no player row is stored that the team box score
    contradicts."""
    return [*(check(players) for check in PLAYER_CHECKS),
            player_totals_match_team_totals(players, teams)]  # fmt: skip


def team_game_checks(teams: pl.DataFrame, players: pl.DataFrame) -> list[CheckOutcome]:
    """Every check on team_game_stats rows (the player rows of the same days for the totals)."""
    return [
        has_expected_columns(teams, TEAM_GAME_STATS),
        _unique(teams, TEAM_GAME_STATS.key, "no_duplicate_team_games", "team-game"),
        every_game_has_two_teams(teams),
        counts_are_non_negative(teams),
        points_add_up(teams),
        rebounds_add_up(teams),
        player_totals_match_team_totals(players, teams),
        pace_is_plausible(teams),
    ]


# --- features and datasets ----------------------------------------------------------------------


def features_are_pregame(features: pl.DataFrame) -> CheckOutcome:
    """No feature row's source window reaches its own game date."""
    bad = features.filter(pl.col("history_last_date") >= pl.col("game_date")).select(
        "player_id", "game_id", "game_date", "history_last_date"
    )
    return _outcome(
        "features_are_pregame",
        bad,
        features.height,
        "every row's history ends before its game date",
        "{n} rows use history dated on or after their own game: leakage",
    )


def one_row_per_player_game(features: pl.DataFrame, games: pl.DataFrame) -> CheckOutcome:
    """Exactly the player-games of the days computed, once each."""
    dup = features.filter(pl.struct("player_id", "game_id").is_duplicated())
    missing = games.join(features, on=["player_id", "game_id"], how="anti")
    extra = features.join(games, on=["player_id", "game_id"], how="anti")
    bad = pl.concat(
        [
            dup.select("player_id", "game_id", pl.lit("duplicated").alias("problem")),
            missing.select("player_id", "game_id", pl.lit("no feature row").alias("problem")),
            extra.select("player_id", "game_id", pl.lit("not a player-game").alias("problem")),
        ]
    )
    return _outcome(
        "one_row_per_player_game",
        bad,
        features.height,
        f"one feature row for each of the {games.height} player-games",
        "{n} player-games without exactly one feature row",
    )


def no_missing_feature_values(features: pl.DataFrame, names: list[str]) -> CheckOutcome:
    """Every feature has a defined value (cold starts are 0 with a zero count, never NaN)."""
    missing = pl.any_horizontal([pl.col(n).is_null() | pl.col(n).is_nan() for n in names])
    bad = features.filter(missing).select("player_id", "game_id", "game_date")
    return _outcome(
        "no_missing_feature_values",
        bad,
        features.height,
        f"all {len(names)} features defined on every row",
        "{n} rows have a null or NaN feature",
    )


def dataset_checks(ds) -> list[CheckOutcome]:
    """Checks on one training dataset (a core.datasets.Dataset)."""
    from statmuse_pipelines.core.datasets import splits_overlap

    frames = ds.splits()
    allrows = pl.concat(list(frames.values()))
    problems = splits_overlap(ds)
    overlap = CheckOutcome(
        name="splits_do_not_overlap",
        passed=not problems,
        description="train < validation < test in time, no shared date"
        if not problems
        else "; ".join(problems),
        metadata={f"rows_{k}": v.height for k, v in frames.items()},
    )
    dup = allrows.filter(pl.struct("player_id", "game_id").is_duplicated()).select(
        "player_id", "game_id", "game_date"
    )
    bad_target = allrows.filter(pl.col("target").is_null() | (pl.col("target") < 0)).select(
        "player_id", "game_id", "target"
    )
    empty = [s for s, f in frames.items() if f.height == 0]
    return [
        overlap,
        CheckOutcome(
            name="every_split_has_rows",
            passed=not empty,
            description="train, validation and test all have rows"
            if not empty
            else f"empty split(s): {', '.join(empty)}; too few game dates for a 70/15/15 split",
            metadata={f"rows_{k}": v.height for k, v in frames.items()},
        ),
        _outcome(
            "no_duplicate_player_games",
            dup,
            allrows.height,
            "one row per player-game across the splits",
            "{n} rows repeat a player-game",
        ),
        _outcome(
            "target_present_and_non_negative",
            bad_target,
            allrows.height,
            "the target is present and >= 0 on every row",
            "{n} rows have a missing or negative target",
        ),
    ]


def later_features_are_current(
    features_written: dict, box_scores_written: dict, run_days
) -> CheckOutcome:
    """WARN: stored feature days outside this run that were computed before the box scores of
    their day or an earlier one were written again (say week 1 backfilled after week 2): every
    feature reads the games before its date, so those rows may be stale. Arguments: day ->
    write time."""
    days = sorted(set(features_written) | set(box_scores_written))
    newest, stale = float("-inf"), []
    run = set(run_days)
    for day in days:
        newest = max(newest, box_scores_written.get(day, float("-inf")))
        if day in features_written and day not in run and features_written[day] < newest:
            stale.append(day)
    bad = pl.DataFrame({"game_date": stale}, schema={"game_date": pl.Date})
    span = f"{stale[0]}..{stale[-1]}" if stale else ""
    return _outcome(
        "later_features_are_current",
        bad,
        len(features_written),
        "every stored feature day was computed after the box scores before it",
        "{n} feature day(s) " + f"({span}) were computed before earlier box scores were "
        "written again: materialize player_features for them again",
    )


# --- evaluation ---------------------------------------------------------------------------------

# a figure computed on at least one row must be a number
FINITE_FIGURES = {
    "rows": ("ours_brier", "market_brier", "ours_log_loss", "market_log_loss", "ours_ece",
             "market_ece", "raw_brier", "raw_log_loss"),
    "mae_rows": ("ours_mae", "line_mae"),
    "bets": ("roi", "roi_low", "roi_high"),
}  # fmt: skip


def reported_metrics_are_finite(
    comparisons: dict[str, dict], results: pl.DataFrame | None = None
) -> CheckOutcome:
    """Every Brier score, log loss, ECE, MAE and ROI the report shows is a finite number
    wherever it was computed on rows (with no rows it is not shown: '-')."""
    import math

    bad = []
    for kind, c in comparisons.items():
        for count, names in FINITE_FIGURES.items():
            if count != "bets" and (c.get(count) or 0) > 0:
                bad += [
                    (kind, "market comparison", n, str(c.get(n)))
                    for n in names
                    if not isinstance(c.get(n), int | float) or not math.isfinite(c[n])
                ]
    if results is not None and results.height:
        figures = FINITE_FIGURES["bets"]
        for r in results.filter(pl.col("bets") > 0).iter_rows(named=True):
            where = f"{r['strategy']} {r['staking']} {r['price_rule']}"
            # an interval needs two game days of bets (it resamples days); with one it is "-"
            shown = figures if (r.get("bet_days") or 0) >= MIN_INTERVAL_DAYS else ("roi",)
            bad += [
                (r.get("line_kind", ""), where, n, str(r[n]))
                for n in shown
                if r[n] is None or not math.isfinite(r[n])
            ]
    frame = pl.DataFrame(bad, schema=["line_kind", "where", "figure", "value"], orient="row")
    return _outcome(
        "reported_metrics_are_finite",
        frame,
        len(comparisons) + (results.height if results is not None else 0),
        "every reported Brier score, log loss, ECE, MAE and ROI is a finite number",
        "{n} reported figure(s) are not finite numbers (NaN or infinite)",
    )


def real_lines_cover_the_period(stat: str, coverage: dict, min_share: float) -> CheckOutcome:
    """WARN when real lines were given for the stat's period and fewer than `min_share` of the
    player-games on the dates the source quotes it got one (the rest are proxies)."""
    rows = coverage["rows_on_quoted_dates"]
    share = coverage["real_share_on_quoted_dates"]
    low = rows > 0 and share < min_share
    counts = {k: v for k, v in coverage.items() if isinstance(v, int)}
    return CheckOutcome(
        name="real_lines_cover_the_period",
        passed=not low,
        description=(
            f"{stat}: {coverage['real_rows_on_quoted_dates']:,} of {rows:,} player-games on the "
            f"{coverage['quoted_dates']} dates the source quotes {stat} got a real line "
            f"({share:.1%}; at least {min_share:.0%} expected): the rest are priced by proxies"
            if rows
            else f"{stat}: the lines source quotes {stat} on none of the period's dates"
        ),
        metadata={**counts, "real_share_on_quoted_dates": round(share, 4) if share else 0.0},
    )


# --- every asset check of the project, in one place -----------------------------------------
# Its asset, its name, whether a failure is an ERROR (which blocks: the asset stores nothing and
# nothing downstream runs) or a WARN (a person should look; the data flows on), and the sentence
# the UI shows. The assets build their check specs from this list (assets/_common.check_specs)
# and every result takes its severity from it (CheckOutcome, assets/_common.check_result).


@dataclass(frozen=True)
class AssetCheck:
    asset: str
    name: str
    description: str
    severity: str = "ERROR"  # ERROR: blocking; WARN: not blocking

    @property
    def blocking(self) -> bool:
        return self.severity == "ERROR"


_EMPTIED = (
    "a day with stored rows that the source answers with none keeps its rows (WARN), unless "
    "replace_empty_days asks for the deletion"
)
_NORMALIZED = {
    "has_expected_columns": "every documented column is present with its type",
    "no_duplicate_player_games": "one row per (player_id, game_id)",
    "no_duplicate_team_games": "one row per (team_id, game_id)",
    "counts_are_non_negative": "no negative count or minutes",
    "points_add_up": "pts = 2*fgm + fg3m + ftm",
    "rebounds_add_up": "reb = oreb + dreb",
    "makes_within_attempts": "makes <= attempts; threes <= field goals",
    "every_game_has_two_teams": "each game_id has exactly two team rows",
    "player_totals_match_team_totals": "players' sums equal the team box score (checked before "
    "either table is written)",
}
PLAYER_CHECK_NAMES = (
    "has_expected_columns",
    "no_duplicate_player_games",
    "counts_are_non_negative",
    "points_add_up",
    "rebounds_add_up",
    "makes_within_attempts",
    "player_totals_match_team_totals",
)
TEAM_CHECK_NAMES = (
    "has_expected_columns",
    "no_duplicate_team_games",
    "every_game_has_two_teams",
    "counts_are_non_negative",
    "points_add_up",
    "rebounds_add_up",
    "player_totals_match_team_totals",
    "pace_is_plausible",
)
FEATURE_CHECK_NAMES = (
    "features_are_pregame",
    "one_row_per_player_game",
    "no_missing_feature_values",
)
DATASET_CHECK_NAMES = (
    "splits_do_not_overlap",
    "every_split_has_rows",
    "no_duplicate_player_games",
    "target_present_and_non_negative",
)
# the drift checks, by what they watch (the retrain sensor and the command line name them)
DRIFT_CHECKS = {
    "features": "features_have_not_drifted",
    "predictions": "predictions_have_not_drifted",
    "calibration": "calibration_has_not_drifted",
}
MIN_MATCH_RATE = 0.9  # of the book's spellings on dates with box scores

ASSET_CHECKS: tuple[AssetCheck, ...] = (
    *(
        AssetCheck(asset, "empty_answers_keep_stored_days", _EMPTIED, "WARN")
        for asset in ("raw_player_game_logs", "raw_team_game_logs", "daily_slate")
    ),
    *(AssetCheck("player_game_stats", n, _NORMALIZED[n]) for n in PLAYER_CHECK_NAMES),
    *(AssetCheck("team_game_stats", n, _NORMALIZED[n]) for n in TEAM_CHECK_NAMES[:-1]),
    AssetCheck("team_game_stats", "pace_is_plausible", "pace between 80 and 125 (WARN)", "WARN"),
    AssetCheck(
        "player_features",
        "features_are_pregame",
        "no row's history reaches its own game date (leakage)",
    ),
    AssetCheck(
        "player_features",
        "one_row_per_player_game",
        "exactly one feature row per player-game of the partition",
    ),
    AssetCheck(
        "player_features",
        "no_missing_feature_values",
        "no null or NaN feature (cold starts are 0 with a 0 count)",
    ),
    AssetCheck(
        "player_features",
        "later_features_are_current",
        "no stored feature day outside the run was computed before earlier box scores were "
        "written again (WARN: re-run player_features for the days it lists)",
        "WARN",
    ),
    AssetCheck(
        "training_datasets",
        "splits_do_not_overlap",
        "train, validation and test follow each other in time",
    ),
    AssetCheck(
        "training_datasets",
        "every_split_has_rows",
        "train, validation and test each have rows (WARN)",
        "WARN",
    ),
    AssetCheck(
        "training_datasets",
        "no_duplicate_player_games",
        "one row per player-game across the splits",
    ),
    AssetCheck(
        "training_datasets",
        "target_present_and_non_negative",
        "the target is present and >= 0 on every row",
    ),
    AssetCheck(
        "player_models",
        "promotion_gate",
        # a refusal is the gate doing its job, not an error: the check fails as a WARN that says
        # "not promoted" and why, the run succeeds, production stays as it was
        "the candidate set beats the best naive baseline on test and does not regress against "
        "production: only then is it promoted (WARN: a refused candidate stays a candidate)",
        "WARN",
    ),
    AssetCheck(
        "market_lines",
        "lines_match_players",
        f"at least {MIN_MATCH_RATE:.0%} of the book spellings on regular-season dates match a "
        "player (WARN)",
        "WARN",
    ),
    AssetCheck(
        "backtest_reports",
        "reported_metrics_are_finite",
        "every reported Brier score, log loss, ECE, MAE and ROI is a finite number (rows with a "
        "missing or non-finite input are left out and counted)",
    ),
    AssetCheck(
        "backtest_reports",
        "real_lines_cover_the_period",
        f"where real lines were given, at least {MIN_REAL_LINE_SHARE:.0%} of the player-games on "
        "the dates the source quotes the stat got one (the rest are proxies; WARN)",
        "WARN",
    ),
    *(
        AssetCheck(
            "feature_drift", name, f"{name.replace('_', ' ')} (WARN; a failure asks for a retrain)",
            "WARN",
        )
        for name in DRIFT_CHECKS.values()
    ),
)  # fmt: skip


def asset_checks(asset: str) -> list[AssetCheck]:
    """The checks of `asset`, in the order its page lists them."""
    return [c for c in ASSET_CHECKS if c.asset == asset]


def severity_of(name: str) -> str:
    """A check's severity: a name means one thing on every asset that has it."""
    found = {c.severity for c in ASSET_CHECKS if c.name == name}
    if len(found) != 1:
        raise KeyError(f"check {name!r}: {found or 'not in ASSET_CHECKS'}")
    return found.pop()
