"""The analyst-facing tables: every column's type and meaning, in one place.

Used to type the normalized frames, by the `has_expected_columns` checks, for the column comments
in the DuckDB warehouse, and (by a test) to keep the README's table documentation complete.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    doc: str
    sql: str = ""  # the warehouse's type where it is not the dtype's: TIMESTAMPTZ, JSON


_TIMESTAMP, _JSON = "TIMESTAMPTZ", "JSON"  # frames carry both as ISO / JSON text


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Select this table's columns in order, cast to its types."""
        return frame.select([pl.col(c.name).cast(c.dtype) for c in self.columns])

    def conform_stored(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`conform`, with columns added after the rows were stored read as null."""
        missing = [
            pl.lit(None, t).alias(c) for c, t in self.schema.items() if c not in frame.columns
        ]
        return self.conform(frame.with_columns(missing))

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


_STATS = [
    ("fgm", "field goals made"),
    ("fga", "field goals attempted"),
    ("fg3m", "three-pointers made"),
    ("fg3a", "three-pointers attempted"),
    ("ftm", "free throws made"),
    ("fta", "free throws attempted"),
    ("oreb", "offensive rebounds"),
    ("dreb", "defensive rebounds"),
    ("reb", "rebounds (oreb + dreb)"),
    ("ast", "assists"),
    ("stl", "steals"),
    ("blk", "blocks"),
    ("tov", "turnovers"),
    ("pf", "personal fouls"),
    ("pts", "points (2*fgm + fg3m + ftm)"),
]
COUNT_STATS: tuple[str, ...] = tuple(name for name, _ in _STATS)

_GAME = (
    Column("game_id", pl.String(), "NBA.com game id, 10 digits (0022300001: 002 = regular season)"),
    Column("game_date", pl.Date(), "game date (US Eastern calendar day; the daily partition key)"),
    Column("season", pl.String(), "season label, e.g. 2023-24"),
    Column("season_type", pl.String(), "Regular Season, PlayIn or Playoffs"),
)
_TEAM_SIDE = (
    Column("team_id", pl.Int64(), "NBA.com team id"),
    Column("team", pl.String(), "team abbreviation, e.g. DEN"),
)
_OPPONENT = (
    Column("opponent_id", pl.Int64(), "opponent's NBA.com team id"),
    Column("opponent", pl.String(), "opponent's abbreviation"),
    Column("is_home", pl.Boolean(), "true at home; false on the road and at neutral sites"),
    Column("won", pl.Boolean(), "true if the team won (null if the source gives no result)"),
)

PLAYER_GAME_STATS = Table(
    name="player_game_stats",
    doc="One row per player per game played: the typed, deduplicated box score.",
    key=("player_id", "game_id"),
    columns=(
        *_GAME,
        Column("player_id", pl.Int64(), "NBA.com player id"),
        Column("player_name", pl.String(), "player name as the source spells it"),
        *_TEAM_SIDE,
        *_OPPONENT,
        Column("minutes", pl.Float64(), "minutes played"),
        *(Column(n, pl.Int64(), d) for n, d in _STATS),
        Column("plus_minus", pl.Int64(), "team points minus opponent points while on the floor"),
    ),
)

TEAM_GAME_STATS = Table(
    name="team_game_stats",
    doc="One row per team per game: box score, the opponent's box score, possessions and ratings.",
    key=("team_id", "game_id"),
    columns=(
        *_GAME,
        *_TEAM_SIDE,
        Column("team_name", pl.String(), "full team name"),
        *_OPPONENT,
        Column("minutes", pl.Float64(), "player-minutes (240 in regulation, +25 per overtime)"),
        *(Column(n, pl.Int64(), d) for n, d in _STATS),
        Column("plus_minus", pl.Int64(), "final margin (pts - opp_pts)"),
        *(Column(f"opp_{n}", pl.Int64(), f"opponent's {d}") for n, d in _STATS),
        Column(
            "possessions",
            pl.Float64(),
            "estimated possessions, FGA + 0.44*FTA - OREB + TOV averaged over both teams",
        ),
        Column("pace", pl.Float64(), "possessions per 48 minutes"),
        Column("off_rating", pl.Float64(), "points scored per 100 possessions"),
        Column("def_rating", pl.Float64(), "points allowed per 100 possessions"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (PLAYER_GAME_STATS, TEAM_GAME_STATS)}


def _player_features_table() -> Table:
    from statmuse_pipelines.core.features import KEYS, feature_specs

    keys = {c.name: c for c in PLAYER_GAME_STATS.columns}
    return Table(
        name="player_features",
        doc=(
            "Pregame features of each player-game: everything in a row comes from games strictly "
            "before game_date (see history_last_date). 0.0 with a zero game count = no history."
        ),
        key=("player_id", "game_id"),
        columns=(
            *(keys[k] for k in KEYS),
            *(Column(f.name, pl.Float32(), f"{f.meaning} [{f.window}]") for f in feature_specs()),
            Column(
                "history_last_date",
                pl.Date(),
                "latest game date any feature of the row used (always before game_date)",
            ),
        ),
    )


PLAYER_FEATURES = _player_features_table()

DATASETS = Table(
    name="datasets",
    doc="Training dataset versions: one row per (target, version), with its manifest.",
    key=("target", "version"),
    columns=(
        Column("target", pl.String(), "stat target: PTS, REB, AST, FG3M, STL, BLK, TOV, PRA, ..."),
        Column("version", pl.String(), "hash of the rows and settings (same input, same version)"),
        Column(
            "created_at",
            pl.String(),
            "when this version was first written (UTC, ISO 8601)",
            _TIMESTAMP,
        ),
        Column("is_latest", pl.Boolean(), "true for the version the last run produced"),
        Column("target_definition", pl.String(), "the target as a sum of box-score columns"),
        Column("rows_train", pl.Int64(), "rows in the training split (oldest ~70%)"),
        Column("rows_val", pl.Int64(), "rows in the validation split (next ~15%)"),
        Column("rows_test", pl.Int64(), "rows in the test split (newest ~15%)"),
        Column("train_start", pl.Date(), "first game date of the training split"),
        Column("train_end", pl.Date(), "last game date of the training split"),
        Column("val_start", pl.Date(), "first game date of the validation split"),
        Column("val_end", pl.Date(), "last game date of the validation split"),
        Column("test_start", pl.Date(), "first game date of the test split"),
        Column("test_end", pl.Date(), "last game date of the test split"),
        Column("features", pl.Int64(), "number of feature columns"),
        Column("source", pl.String(), "where the rows came from"),
        Column("path", pl.String(), "folder holding train/val/test.parquet and manifest.json"),
        Column("manifest", pl.String(), "the manifest.json, verbatim", _JSON),
    ),
)

TABLES[PLAYER_FEATURES.name] = PLAYER_FEATURES
TABLES[DATASETS.name] = DATASETS

MODEL_METRICS = Table(
    name="model_metrics",
    doc="Errors of every model and naive baseline of a model version, on the same rows.",
    key=("version", "scope", "kind", "split"),
    columns=(
        Column("version", pl.String(), "model version (stat + hash of dataset and settings)"),
        Column("stat", pl.String(), "stat target"),
        Column("scope", pl.String(), "'all' for every row of the split, else a player id"),
        Column(
            "kind",
            pl.String(),
            "champion (each player's champion, pooled for the rest), pooled, rf, xgb, "
            "elasticnet, voting, stacking, baseline_last10, baseline_ewm, baseline_season",
        ),
        Column("split", pl.String(), "val (chooses champions) or test (only measures)"),
        Column("rows", pl.Int64(), "rows measured"),
        Column("mae", pl.Float64(), "mean absolute error"),
        Column("rmse", pl.Float64(), "root mean squared error"),
        Column("bias", pl.Float64(), "mean of prediction - actual"),
        Column("mae_vs_best_baseline", pl.Float64(), "mae / best baseline's mae on the same rows"),
        Column("created_at", pl.String(), "when the version was trained (UTC)", _TIMESTAMP),
    ),
)

MODEL_REGISTRY = Table(
    name="model_registry",
    doc="Every model of every version: the pooled model and each player's champion, per fit.",
    key=("model_id", "fit"),
    columns=(
        Column("model_id", pl.String(), "version/scope, e.g. pts-1a2b3c4d5e/pooled"),
        Column("stat", pl.String(), "stat target"),
        Column("scope", pl.String(), "'pooled' or a player id"),
        Column("kind", pl.String(), "xgb_pooled, pooled (served by it), rf, xgb, elasticnet, ..."),
        Column("version", pl.String(), "model version"),
        Column("dataset_version", pl.String(), "training dataset version it was fit on"),
        Column("fit", pl.String(), "evaluation (training split) or production (all rows)"),
        Column("params", pl.String(), "hyperparameters, JSON", _JSON),
        Column("metrics", pl.String(), "validation and test errors, JSON", _JSON),
        Column("stage", pl.String(), "candidate, production or archived (the whole version's)"),
        Column("created_at", pl.String(), "when this fit was made (UTC)", _TIMESTAMP),
        Column("path", pl.String(), "where the model file is"),
    ),
)

MODEL_STAGE_HISTORY = Table(
    name="model_stage_history",
    doc="Every stage change of a model version: promotions, archivals, rollbacks.",
    key=("stat", "version", "changed_at", "to_stage"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("version", pl.String(), "model version"),
        Column("from_stage", pl.String(), "stage before (null when registered)"),
        Column("to_stage", pl.String(), "stage after"),
        Column("changed_at", pl.String(), "when (UTC, ISO 8601)", _TIMESTAMP),
        Column("reason", pl.String(), "the gate's reason, or the operator's command"),
    ),
)

for _t in (MODEL_METRICS, MODEL_REGISTRY, MODEL_STAGE_HISTORY):
    TABLES[_t.name] = _t

LINE_MATCHES = Table(
    name="line_matches",
    doc="Every player spelling of the lines per game: who it was matched to, how, or why not.",
    key=("game_date", "event_id", "player_name"),
    columns=(
        Column("game_date", pl.Date(), "game date (US Eastern)"),
        Column("event_id", pl.String(), "the lines source's event id"),
        Column("home_team", pl.String(), "home team as the book names it"),
        Column("away_team", pl.String(), "away team as the book names it"),
        Column("player_name", pl.String(), "the book's spelling"),
        Column("quotes", pl.Int64(), "pregame quotes with this spelling in this game"),
        Column("markets", pl.String(), "markets quoted, comma-separated"),
        Column("player_id", pl.Int64(), "NBA.com player id (null when unmatched)"),
        Column("matched_name", pl.String(), "NBA.com spelling of the matched player"),
        Column(
            "method",
            pl.String(),
            "exact, normalized, alias, reordered, initial, subset, fuzzy, none",
        ),
        Column("score", pl.Float64(), "1 for rule matches, the similarity for fuzzy ones"),
        Column("played", pl.Boolean(), "the matched player played this game (gradable)"),
        Column("reason", pl.String(), "why unmatched, or 'did not play in this game'"),
    ),
)

LINE_QUOTES = Table(
    name="line_quotes",
    doc="What became of every quote the lines source gave: kept or rejected, and why, counted "
    "per game date, feed, book, market and reason.",
    key=("game_date", "feed", "bookmaker", "market", "reason"),
    columns=(
        Column("game_date", pl.Date(), "game date (US Eastern)"),
        Column("feed", pl.String(), "the feed the quotes came from"),
        Column("bookmaker", pl.String(), "the book"),
        Column("market", pl.String(), "PTS, REB, AST, FG3M, PRA, PR, PA, RA, ..."),
        Column("status", pl.String(), "kept (enters the consensus) or rejected"),
        Column(
            "reason",
            pl.String(),
            "priced, line_only (kept); not_pregame, no_odds, odds_impossible, after_tip_off, "
            "superseded, duplicate_rung, stale_snapshot, unmatched_player, did_not_play, "
            "off_market (rejected): the README lists what each means",
        ),
        Column("quotes", pl.Int64(), "quotes"),
        Column(
            "snapshot_assumed",
            pl.Int64(),
            "of them, quotes without a snapshot time (taken as the morning of the game)",
        ),
        Column(
            "event_assumed",
            pl.Int64(),
            "of them, quotes without an event id (keyed by game date and teams)",
        ),
    ),
)

MARKET_LINES = Table(
    name="market_lines",
    doc="Consensus pregame line per player, game and market at the opening (priced: what bets "
    "use) and at the close, with prices and the market's P(over).",
    key=("game_date", "player_id", "market"),
    columns=(
        Column("game_date", pl.Date(), "game date"),
        Column("player_id", pl.Int64(), "NBA.com player id"),
        Column("market", pl.String(), "PTS, REB, AST, FG3M, PRA, PR, PA, RA, ..."),
        Column(
            "consensus_line", pl.Float64(), "median of the books' lines, snapped to an offered line"
        ),
        Column("event_id", pl.String(), "the lines source's event id"),
        Column(
            "feed",
            pl.String(),
            "the feed(s) of the quotes at the line (synthetic_book: the synthetic league's "
            "simulated sportsbook, not a real one)",
        ),
        Column("books", pl.Int64(), "books quoting the player and market"),
        Column("books_at_line", pl.Int64(), "books quoting the consensus line"),
        Column("median_line", pl.Float64(), "the plain median of the books' lines"),
        Column(
            "reference_book", pl.String(), "the single book whose price is used (DraftKings first)"
        ),
        Column("ref_over_odds", pl.Float64(), "reference book's over price (American)"),
        Column("ref_under_odds", pl.Float64(), "reference book's under price (American)"),
        Column("best_over_odds", pl.Float64(), "best over price at the line across books"),
        Column("best_over_book", pl.String(), "book with the best over price"),
        Column("best_under_odds", pl.Float64(), "best under price at the line across books"),
        Column("best_under_book", pl.String(), "book with the best under price"),
        Column(
            "market_p_over", pl.Float64(), "de-vigged probability of the over (median of books)"
        ),
        Column("overround", pl.Float64(), "sum of implied probabilities (median of books)"),
        Column("last_snapshot_utc", pl.String(), "latest snapshot of the opening quotes used"),
        Column(
            "line_kind", pl.String(), "real (only books' quotes are stored here; `feed` says whose)"
        ),
        Column("close_line", pl.Float64(), "consensus line of the books' last pregame quotes"),
        Column("close_market_p_over", pl.Float64(), "de-vigged P(over) at the close's line"),
        Column("close_snapshot_utc", pl.String(), "latest snapshot of the closing quotes used"),
        Column("close_is_later", pl.Boolean(), "a quote later than the opening exists"),
    ),
)

CALIBRATION_METRICS = Table(
    name="calibration_metrics",
    doc="P(over) quality before and after calibration, pushes excluded, by split and line kind.",
    key=("stat", "model_version", "split", "line_kind", "stage"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "the production model version calibrated"),
        Column("split", pl.String(), "val (fits the calibrator) or test (judges it)"),
        Column("line_kind", pl.String(), "real, proxy, or all"),
        Column("stage", pl.String(), "raw (the distribution) or calibrated"),
        Column("rows", pl.Int64(), "rows with a decided over/under"),
        Column("brier", pl.Float64(), "Brier score"),
        Column("log_loss", pl.Float64(), "log loss"),
        Column("ece", pl.Float64(), "expected calibration error, 10 bins"),
        Column("family", pl.String(), "count distribution chosen on validation"),
        Column("method", pl.String(), "calibrator chosen on validation"),
    ),
)

BACKTEST_RESULTS = Table(
    name="backtest_results",
    doc="Walk-forward betting simulations, per stat x strategy x staking x price rule x line kind.",
    key=("stat", "model_version", "line_kind", "strategy", "staking", "price_rule"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "model version"),
        Column(
            "line_kind", pl.String(), "real (a book's quotes) or proxy (labelled synthetic lines)"
        ),
        Column(
            "strategy",
            pl.String(),
            "served (the headline: the rule the slate serves, set in advance); exploratory: "
            "ev_positive, confidence_60, confidence_70, blanket_over, blanket_under, "
            "line_below_season_avg",
        ),
        Column("headline", pl.Boolean(), "the served rule at the reference price"),
        Column(
            "staking",
            pl.String(),
            "flat (1 unit) or kelly (quarter Kelly, cap 2% of bankroll a bet, 10% a day)",
        ),
        Column(
            "price_rule",
            pl.String(),
            "reference (one book at the consensus line) or best (best price: an upper bound)",
        ),
        Column("bets", pl.Int64(), "bets placed"),
        Column("wins", pl.Int64(), "bets won"),
        Column("losses", pl.Int64(), "bets lost"),
        Column("pushes", pl.Int64(), "bets pushed (stake returned)"),
        Column("win_rate", pl.Float64(), "wins / (wins + losses)"),
        Column("staked", pl.Float64(), "units staked"),
        Column("profit", pl.Float64(), "units won"),
        Column("roi", pl.Float64(), "profit / staked"),
        Column(
            "roi_low", pl.Float64(), "95% interval of the ROI (bootstrap over game days), low end"
        ),
        Column(
            "roi_high", pl.Float64(), "95% interval of the ROI (bootstrap over game days), high end"
        ),
        Column("final_bankroll", pl.Float64(), "bankroll at the end (started at 100)"),
        Column("max_drawdown", pl.Float64(), "largest peak-to-trough fall of the bankroll (share)"),
        Column("sharpe", pl.Float64(), "daily bankroll returns, mean / std x sqrt(165)"),
        Column("clv_bets", pl.Int64(), "bets whose prop has a quote later than the opening"),
        Column(
            "clv_line_move",
            pl.Float64(),
            "mean move of the consensus line from the bet's opening to the close, toward our side",
        ),
        Column(
            "clv_beat_close",
            pl.Float64(),
            "share of clv_bets that beat the close (line moved our way, or same line and a "
            "higher closing P of our side)",
        ),
        Column(
            "bet_days",
            pl.Int64(),
            "game days with a bet: the units the ROI interval resamples (none below 2)",
        ),
        Column("first_day", pl.Date(), "first game date bet"),
        Column("last_day", pl.Date(), "last game date bet"),
        Column(
            "non_finite_rows",
            pl.Int64(),
            "rows never bet: a missing or non-finite probability, line, price or result",
        ),
    ),
)

BACKTEST_BETS = Table(
    name="backtest_bets",
    doc="Every simulated bet of the backtests.",
    key=(
        "stat",
        "model_version",
        "line_kind",
        "strategy",
        "staking",
        "price_rule",
        "game_date",
        "player_id",
    ),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "model version"),
        Column("line_kind", pl.String(), "real or proxy"),
        Column("strategy", pl.String(), "strategy"),
        Column("staking", pl.String(), "flat or kelly"),
        Column(
            "price_rule",
            pl.String(),
            "reference (one book at the consensus line) or best (best price across books: an "
            "upper bound; only where it differs from the reference price)",
        ),
        Column("game_date", pl.Date(), "game date"),
        Column("player_id", pl.Int64(), "NBA.com player id"),
        Column("line", pl.Float64(), "the line bet"),
        Column("side", pl.String(), "OVER or UNDER"),
        Column("odds", pl.Float64(), "American odds taken"),
        Column("p_win", pl.Float64(), "our calibrated probability of winning the bet"),
        Column("stake", pl.Float64(), "units staked"),
        Column("outcome", pl.Int64(), "1 won, 0 lost, -1 push"),
        Column("profit", pl.Float64(), "units won or lost"),
        Column("bankroll_after", pl.Float64(), "bankroll after the day's bets"),
        Column("actual", pl.Float64(), "the player's actual stat"),
    ),
)

MARKET_COMPARISON = Table(
    name="market_comparison",
    doc="Our walk-forward P(over) against the line on the same rows: the de-vigged market for real "
    "lines, a naive last-10-games book for labelled proxies (never a market test).",
    key=("stat", "model_version", "line_kind"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "model version whose settings were refit"),
        Column("line_kind", pl.String(), "real (market) or proxy (a naive last-10-games book)"),
        Column("rows", pl.Int64(), "rows with a line of this kind and a decided over/under"),
        Column("first_date", pl.String(), "first game date of those rows"),
        Column("last_date", pl.String(), "last game date of those rows"),
        Column("ours_brier", pl.Float64(), "Brier score of our final (market-aware) P(over)"),
        Column("market_brier", pl.Float64(), "Brier score of the de-vigged market P(over)"),
        Column("brier_diff", pl.Float64(), "ours - market (negative: ours better)"),
        Column("brier_diff_low", pl.Float64(), "2.5% of the paired bootstrap over game dates"),
        Column("brier_diff_high", pl.Float64(), "97.5% of the paired bootstrap over game dates"),
        Column("ours_log_loss", pl.Float64(), "log loss of our final P(over)"),
        Column("market_log_loss", pl.Float64(), "log loss of the market's P(over)"),
        Column("log_loss_diff", pl.Float64(), "ours - market (negative: ours better)"),
        Column("log_loss_diff_low", pl.Float64(), "2.5% of the paired bootstrap over game dates"),
        Column("log_loss_diff_high", pl.Float64(), "97.5% of the paired bootstrap"),
        Column("ours_ece", pl.Float64(), "ECE of our final P(over)"),
        Column("market_ece", pl.Float64(), "ECE of the market's P(over)"),
        Column("raw_brier", pl.Float64(), "Brier score of our own P(over), before the blend"),
        Column("raw_log_loss", pl.Float64(), "log loss of our model's own P(over)"),
        Column("mae_rows", pl.Int64(), "rows with a line of this kind (pushes included)"),
        Column("ours_mae", pl.Float64(), "MAE of our walk-forward mean prediction"),
        Column("line_mae", pl.Float64(), "MAE of the consensus line as a prediction"),
        Column("recommended_share", pl.Float64(), "share of these props the served rule bets"),
        Column(
            "non_finite_rows",
            pl.Int64(),
            "rows of this kind left out of every figure: a missing or non-finite probability, "
            "line or price",
        ),
        Column(
            "quoted_dates",
            pl.Int64(),
            "game dates of the period on which the lines source quotes this stat (any quote)",
        ),
        Column("rows_on_quoted_dates", pl.Int64(), "walk-forward rows on those dates"),
        Column(
            "real_rows_on_quoted_dates",
            pl.Int64(),
            "of them, rows with a real line (the rest, and rows of other dates, are proxies)",
        ),
    ),
)

WALK_FORWARD_PREDICTIONS = Table(
    name="walk_forward_predictions",
    doc="Every row the walk-forward evaluation scores: a prediction made by a fit that saw only "
    "games before its date, at the pregame line, with the market and the result.",
    key=("stat", "game_date", "player_id"),
    columns=(
        Column("game_date", pl.Date(), "game date"),
        Column("player_id", pl.Int64(), "NBA.com player id"),
        Column("player_name", pl.String(), "player name (NBA.com spelling)"),
        Column("stat", pl.String(), "stat target"),
        Column("line", pl.Float64(), "the consensus (real) or proxy line"),
        Column("line_kind", pl.String(), "real (a book's quotes) or proxy (labelled naive book)"),
        Column("reference_book", pl.String(), "the book whose price is used"),
        Column("ref_over_odds", pl.Float64(), "reference book's over price (American)"),
        Column("ref_under_odds", pl.Float64(), "reference book's under price (American)"),
        Column("best_over_odds", pl.Float64(), "best over price across books (an upper bound)"),
        Column("best_under_odds", pl.Float64(), "best under price across books"),
        Column("mean", pl.Float64(), "our predicted mean"),
        Column("p_over_raw", pl.Float64(), "our own P(over | no push), before the blend"),
        Column("p_over", pl.Float64(), "final P(over): market-aware on real lines (pushes apart)"),
        Column("p_under", pl.Float64(), "final P(under)"),
        Column("p_push", pl.Float64(), "P(push) from our distribution (0 on .5 lines)"),
        Column("p_over_cond", pl.Float64(), "final P(over | no push): what the metrics score"),
        Column("market_p_over", pl.Float64(), "de-vigged market P(over) (naive book's on proxies)"),
        Column("close_line", pl.Float64(), "the closing consensus line (real lines only)"),
        Column("close_market_p_over", pl.Float64(), "de-vigged market P(over) at the close"),
        Column("close_is_later", pl.Boolean(), "a quote later than the opening (priced) exists"),
        Column(
            "p_shadow", pl.Float64(), "the date's fitted blend's P(over), used or not (its track)"
        ),
        Column("outcome", pl.Float64(), "the actual stat"),
        Column("went_over", pl.Int64(), "1 over, 0 under, null push"),
        Column("recommendation", pl.String(), "OVER, UNDER or PASS by the served rule"),
        Column("edge", pl.Float64(), "final P of the side minus the market's (0 on PASS)"),
        Column("stake", pl.Float64(), "fractional Kelly share of the bankroll (day-capped)"),
        Column("model_version", pl.String(), "the version whose settings were refit"),
        Column("fit_end", pl.Date(), "the last game date the model's fit saw"),
        Column("fold_start", pl.Date(), "the first date of the refit interval"),
        Column("distribution", pl.String(), "count distribution family of the interval"),
        Column("blend_active", pl.Boolean(), "the blend measured an edge (else: the market's P)"),
        Column("blend_fit_end", pl.Date(), "the last game date the blend's fit saw"),
    ),
)

MARKET_BLEND = Table(
    name="market_blend",
    doc="The market-aware blend fitted for each game date of the walk-forward: whether and how "
    "much our model adds to the de-vigged market.",
    key=("stat", "model_version", "game_date"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "model version"),
        Column("game_date", pl.Date(), "the date the blend scores"),
        Column("active", pl.Boolean(), "used (its track record beat the market) or not"),
        Column("intercept", pl.Float64(), "a: over/under bias on the logit scale"),
        Column("market_weight", pl.Float64(), "1 + b: weight of logit(market P)"),
        Column("ours_weight", pl.Float64(), "c: weight of logit(ours) - logit(market)"),
        Column("rows", pl.Int64(), "real-line rows before the date it was fit on"),
        Column("fit_end", pl.Date(), "the last game date of those rows"),
        Column("track_rows", pl.Int64(), "rows of its out-of-sample track record before the date"),
        Column("track_log_loss_blend", pl.Float64(), "log loss of the blend's predictions on them"),
        Column("track_log_loss_market", pl.Float64(), "the market's log loss on them"),
        Column("reason", pl.String(), "why it is or is not used"),
    ),
)

for _t in (
    LINE_MATCHES,
    LINE_QUOTES,
    MARKET_LINES,
    CALIBRATION_METRICS,
    BACKTEST_RESULTS,
    BACKTEST_BETS,
    MARKET_COMPARISON,
    WALK_FORWARD_PREDICTIONS,
    MARKET_BLEND,
):
    TABLES[_t.name] = _t

RESPONSIBLE_USE = (
    "Predictions are statistical estimates, not guarantees; gambling involves risk. Help: "
    "National Council on Problem Gambling, 1-800-GAMBLER, ncpgambling.org."
)

PREDICTIONS = Table(
    name="predictions",
    doc="The daily slate: one row per player x stat x date with P(over), a recommendation and a "
    "stake. " + RESPONSIBLE_USE,
    key=("prediction_date", "player_id", "stat"),
    columns=(
        Column("prediction_date", pl.Date(), "the game date predicted (the daily partition)"),
        Column("game_id", pl.String(), "NBA.com game id"),
        Column("player_id", pl.Int64(), "NBA.com player id"),
        Column("player_name", pl.String(), "player name"),
        Column("team", pl.String(), "the player's team"),
        Column("opponent", pl.String(), "the opponent"),
        Column("is_home", pl.Boolean(), "true at home"),
        Column("stat", pl.String(), "stat target: PTS, REB, AST, FG3M, ..., PRA, STL_BLK"),
        Column("model_version", pl.String(), "production model version that predicted"),
        Column("prediction", pl.Float64(), "predicted mean of the stat"),
        Column("line", pl.Float64(), "the line: real consensus line, else a proxy"),
        Column("line_kind", pl.String(), "real (a book's quotes) or proxy (labelled synthetic)"),
        Column("book", pl.String(), "the book whose price is used ('proxy' for proxies)"),
        Column("over_odds", pl.Float64(), "American odds of the over"),
        Column("under_odds", pl.Float64(), "American odds of the under"),
        Column("market_p_over", pl.Float64(), "de-vigged market P(over) (naive book's on proxies)"),
        Column("p_over", pl.Float64(), "final P(over): market-aware on real lines, ours on proxy"),
        Column("p_under", pl.Float64(), "final probability it stays under"),
        Column("p_push", pl.Float64(), "probability it lands on a whole-number line"),
        Column("ev_over", pl.Float64(), "expected profit per unit staked on the over"),
        Column("ev_under", pl.Float64(), "expected profit per unit staked on the under"),
        Column(
            "recommendation",
            pl.String(),
            "OVER or UNDER where the final P beats the market's by the margin (0.03) at a price "
            "above break-even, on real lines only; else PASS",
        ),
        Column(
            "confidence", pl.Float64(), "probability of the recommended side (PASS: the larger)"
        ),
        Column(
            "kelly_stake", pl.Float64(), "quarter-Kelly share of bankroll, cap 2% a bet, 10% a day"
        ),
        Column("distribution", pl.String(), "count distribution family (fit walk-forward)"),
        Column("calibrator", pl.String(), "market_blend, market (no measured edge), none (proxy)"),
        Column("created_at", pl.String(), "when predicted (UTC)", _TIMESTAMP),
    ),
)

PREDICTION_OUTCOMES = Table(
    name="prediction_outcomes",
    doc="Every prediction graded with the box score of its date.",
    key=("prediction_date", "player_id", "stat"),
    columns=(
        *(c for c in PREDICTIONS.columns if c.name != "created_at"),
        Column("actual", pl.Float64(), "the player's actual stat (null: did not play)"),
        Column("error", pl.Float64(), "prediction - actual"),
        Column("result", pl.String(), "over, under, push, or void (did not play)"),
        Column("bet_placed", pl.Boolean(), "a recommended bet on a player who played"),
        Column("bet_won", pl.Boolean(), "the bet won"),
        Column("bet_profit", pl.Float64(), "profit of 1 unit at the quoted odds (push: 0)"),
    ),
)

MODEL_PERFORMANCE = Table(
    name="model_performance",
    doc="Graded quality per stat over the day and the trailing 7 and 30 days.",
    key=("stat", "as_of", "window_days"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("as_of", pl.Date(), "last day of the window"),
        Column("window_days", pl.Int64(), "1, 7 or 30"),
        Column("predictions", pl.Int64(), "graded predictions (players who played)"),
        Column("mae", pl.Float64(), "mean absolute error of the mean prediction"),
        Column("brier", pl.Float64(), "Brier score of P(over), pushes excluded, every line kind"),
        Column("ece", pl.Float64(), "expected calibration error of P(over), 10 bins"),
        Column("bets", pl.Int64(), "recommended bets (real lines only)"),
        Column("hit_rate", pl.Float64(), "share of settled recommended bets won (real lines)"),
        Column("roi", pl.Float64(), "profit per unit staked on recommended bets (real lines only)"),
        Column("real_predictions", pl.Int64(), "graded predictions at a real sportsbook line"),
        Column("real_brier", pl.Float64(), "Brier score of our P(over) on real lines only"),
        Column("real_market_brier", pl.Float64(), "the de-vigged market's Brier on the same rows"),
        Column("model_versions", pl.String(), "versions behind the window's predictions"),
    ),
)

FEATURE_DRIFT = Table(
    name="feature_drift",
    doc="Drift checks over time: features, predictions and calibration against the training data.",
    key=("stat", "checked_at", "kind", "name"),
    columns=(
        Column("stat", pl.String(), "stat target"),
        Column("model_version", pl.String(), "production version checked"),
        Column("checked_at", pl.String(), "when (UTC)", _TIMESTAMP),
        Column("window_start", pl.Date(), "first day of the recent window"),
        Column("window_end", pl.Date(), "last day of the recent window"),
        Column("kind", pl.String(), "feature, prediction or calibration"),
        Column("name", pl.String(), "feature name, 'prediction' or 'ece'"),
        Column("ks_stat", pl.Float64(), "Kolmogorov-Smirnov statistic"),
        Column("ks_pvalue", pl.Float64(), "its p-value (asymptotic)"),
        Column("psi", pl.Float64(), "population stability index (>= 0.25: shifted)"),
        Column(
            "shift", pl.Float64(), "Wasserstein distance in reference standard deviations (>= 0.5)"
        ),
        Column(
            "reference_mean",
            pl.Float64(),
            "mean in the reference window, the model's test split (test ECE for calibration)",
        ),
        Column(
            "recent_mean", pl.Float64(), "mean in the recent window (recent ECE for calibration)"
        ),
        Column(
            "drifted",
            pl.Boolean(),
            "features and predictions: past all three limits (PSI 0.25, KS statistic 0.1, "
            "shift 0.5); calibration: recent ECE above the test ECE by more than 0.05",
        ),
    ),
)

ALERTS = Table(
    name="alerts",
    doc="Failed checks, failed runs and automatic rollbacks, and whether the webhook got them.",
    key=("alert_id",),
    columns=(
        Column("alert_id", pl.String(), "unique id (the event behind it)"),
        Column("created_at", pl.String(), "when (UTC)", _TIMESTAMP),
        Column("kind", pl.String(), "check_failed, promotion_refused, run_failed or rollback"),
        Column("severity", pl.String(), "ERROR or WARN"),
        Column("subject", pl.String(), "asset.check[partition], job name, or stat"),
        Column("message", pl.String(), "what happened"),
        Column("run_id", pl.String(), "the Dagster run, when there is one"),
        Column("webhook", pl.String(), "not configured, delivered (status), or failed (why)"),
    ),
)

for _t in (PREDICTIONS, PREDICTION_OUTCOMES, MODEL_PERFORMANCE, FEATURE_DRIFT, ALERTS):
    TABLES[_t.name] = _t


@dataclass(frozen=True)
class View:
    """A view of the warehouse for analysts: a saved query over the tables above."""

    name: str
    doc: str
    select: str  # the query; its columns are `columns`, in order
    columns: tuple[tuple[str, str], ...]  # (name, meaning)
    tables: tuple[str, ...]  # the tables it reads


TODAYS_BETS = View(
    name="todays_bets",
    doc="The newest slate's recommended bets (check prediction_date: the newest date predicted), "
    "the recommended side's price, probabilities and expected value, best EV first. "
    + RESPONSIBLE_USE,
    select="""
SELECT prediction_date, player_name, team, opponent, stat,
       recommendation AS side, line, line_kind, book,
       CASE recommendation WHEN 'OVER' THEN over_odds ELSE under_odds END AS odds,
       confidence AS p_side,
       confidence / (p_over + p_under) AS p_side_no_push,
       CASE recommendation WHEN 'OVER' THEN market_p_over ELSE 1 - market_p_over END
           AS market_p_side,
       CASE recommendation WHEN 'OVER' THEN ev_over ELSE ev_under END AS ev,
       kelly_stake, prediction, model_version, game_id, player_id
FROM predictions
WHERE recommendation IN ('OVER', 'UNDER')
  AND prediction_date = (SELECT max(prediction_date) FROM predictions)
ORDER BY ev DESC, player_name, stat""",
    columns=(
        ("prediction_date", "the game date of the slate (the newest one predicted)"),
        ("player_name", "player name"),
        ("team", "the player's team"),
        ("opponent", "the opponent"),
        ("stat", "stat target"),
        ("side", "OVER or UNDER: the recommended side"),
        ("line", "the line (real: a book's consensus line)"),
        ("line_kind", "real (bets are recommended on real lines only)"),
        ("book", "the book whose price is used"),
        ("odds", "American odds of the recommended side"),
        (
            "p_side",
            "our final probability of the side; a push (whole-number lines) is neither side: "
            "what the EV and the stake use",
        ),
        (
            "p_side_no_push",
            "our probability of the side given no push, p_side / (p_over + p_under): what "
            "market_p_side compares with (the rule bets where it beats it by the margin)",
        ),
        ("market_p_side", "the de-vigged market's probability of the side (given no push)"),
        ("ev", "expected profit per unit staked on the side"),
        ("kelly_stake", "quarter-Kelly share of bankroll, cap 2% a bet, 10% a day"),
        ("prediction", "predicted mean of the stat"),
        ("model_version", "production model version that predicted"),
        ("game_id", "NBA.com game id"),
        ("player_id", "NBA.com player id"),
    ),
    tables=("predictions",),
)

PRODUCTION_MODELS = View(
    name="production_models",
    doc="One row per stat: the version in production, when it was trained and promoted, and its "
    "test MAE against the best naive baseline on the same rows.",
    select="""
WITH versions AS (
    SELECT stat, version, any_value(dataset_version) AS dataset_version,
           min(created_at) AS trained_at
    FROM model_registry WHERE stage = 'production' GROUP BY stat, version
), parts AS (  -- a combo built from its parts: the versions of its parts
    SELECT DISTINCT version, json_extract_string(params, '$.version') AS part_version
    FROM model_registry WHERE stage = 'production' AND kind = 'part'
), owners AS (  -- players with a model of their own, in the version or in a combo's parts
    SELECT v.version, count(DISTINCT r.scope) AS own_models
    FROM versions v LEFT JOIN parts p ON p.version = v.version
    LEFT JOIN model_registry r ON r.version = coalesce(p.part_version, v.version)
        AND r.scope <> 'pooled' AND r.kind NOT IN ('pooled', 'part')
    GROUP BY v.version
), promoted AS (
    SELECT stat, version, max(changed_at) AS promoted_at
    FROM model_stage_history WHERE to_stage = 'production' GROUP BY stat, version
), errors AS (
    SELECT version, max(CASE WHEN kind = 'champion' THEN mae END) AS test_mae,
           min(CASE WHEN kind LIKE 'baseline_%' THEN mae END) AS best_baseline_mae
    FROM model_metrics WHERE scope = 'all' AND split = 'test' GROUP BY version
)
SELECT v.stat, v.version, v.dataset_version, v.trained_at, p.promoted_at, e.test_mae,
       e.best_baseline_mae, e.test_mae / e.best_baseline_mae - 1 AS vs_best_baseline,
       o.own_models
FROM versions v
JOIN owners o ON o.version = v.version
LEFT JOIN promoted p ON p.stat = v.stat AND p.version = v.version
LEFT JOIN errors e ON e.version = v.version
ORDER BY v.stat""",
    columns=(
        ("stat", "stat target"),
        ("version", "the production model version"),
        ("dataset_version", "training dataset version it was fit on"),
        ("trained_at", "when the version was first fit (UTC)"),
        ("promoted_at", "when it last became production (UTC)"),
        ("test_mae", "test MAE of the champion set (each player's champion, pooled for the rest)"),
        ("best_baseline_mae", "test MAE of the best naive baseline on the same rows"),
        ("vs_best_baseline", "test_mae / best_baseline_mae - 1 (below 0: better than naive)"),
        (
            "own_models",
            "players served by their own model rather than the pooled one (a combo "
            "built from its parts: by their own model in any of its parts)",
        ),
    ),
    tables=("model_registry", "model_stage_history", "model_metrics"),
)

DRIFT_FLAGS = View(
    name="drift_flags",
    doc="What each stat's newest drift check flagged: the features and predictions past all three "
    "limits (PSI >= 0.25, KS statistic >= 0.1, shift >= 0.5 sd), largest PSI first, then "
    "calibration whose recent ECE is above the test ECE by more than 0.05 (no PSI, KS or shift).",
    select="""
SELECT d.stat, d.model_version, d.checked_at, d.window_start, d.window_end, d.kind, d.name,
       d.psi, d.ks_stat, d.ks_pvalue, d.shift, d.reference_mean, d.recent_mean
FROM feature_drift d
WHERE d.drifted
  AND d.checked_at = (SELECT max(n.checked_at) FROM feature_drift n WHERE n.stat = d.stat)
ORDER BY d.stat, d.psi DESC NULLS LAST, d.name""",
    columns=(
        ("stat", "stat target"),
        ("model_version", "production version checked"),
        ("checked_at", "when the newest check of the stat ran (UTC)"),
        ("window_start", "first day of the recent window"),
        ("window_end", "last day of the recent window"),
        ("kind", "feature, prediction or calibration"),
        ("name", "feature name, 'prediction' or 'ece'"),
        ("psi", "population stability index (>= 0.25: shifted)"),
        ("ks_stat", "Kolmogorov-Smirnov statistic (>= 0.1), the KS measure the flag uses"),
        ("ks_pvalue", "its p-value (asymptotic; shown, not used by the flag)"),
        ("shift", "Wasserstein distance in reference standard deviations (>= 0.5)"),
        ("reference_mean", "mean in the reference window, the model's test split (test ECE)"),
        ("recent_mean", "mean in the recent window (calibration: recent ECE)"),
    ),
    tables=("feature_drift",),
)

VIEWS: dict[str, View] = {v.name: v for v in (TODAYS_BETS, PRODUCTION_MODELS, DRIFT_FLAGS)}
