"""Sportsbook lines: reading, pregame quotes, matching to players, consensus, proxies.

A quote is one book's over/under line for one player, market and game at one snapshot. What the
backtests and calibration use, per player-game-market:

- only quotes taken before tip-off (`is_pregame` and snapshot < commence time) with both prices,
  and of each book's ladder the main line (the pair nearest even odds);
- two views of each prop: the opening (each book's first snapshot) and the close (each book's
  last), each from one snapshot time: a book whose quote is more than an hour from the others'
  (a stale or a late quote) is left out of that view, so a price is one a bettor could have had
  at the same moment as the rest. Bets are priced at the opening (what a morning slate sees);
  the close measures closing-line value;
- the consensus line: the median of the books' lines, snapped to the nearest line a book actually
  offers (the lower one on a tie), so a bet at it can be placed;
- the prices at that line, without off-market quotes (de-vigged P more than 0.10 from the books'
  median there): a reference book's (DraftKings, else FanDuel, else BetMGM, else the
  first by name) and the best over and best under across books;
- the de-vigged market probability of the over: the median over the books at the line.

Proxy lines, for sources without real ones, are clearly labelled (`line_kind = 'proxy'`) and
come from a naive book: the line is the player's recent median (last 10 games) moved to the
next .5 above, and it is priced from the last 10 games alone (`naive_p_over`: their mean
and spread) with the margin of -110/-110, so a model only shows an edge on proxies by knowing
more than the player's last ten games.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.core.names import Candidate, match_name
from statmuse_pipelines.core.odds import american_to_decimal, devig, implied_to_american
from statmuse_pipelines.core.teams import teams

LINE_COLUMNS: dict[str, pl.DataType] = {
    "game_date": pl.Date(),
    "feed": pl.String(),
    "commence_time_utc": pl.String(),
    "snapshot_time_utc": pl.String(),
    "is_pregame": pl.Boolean(),
    "event_id": pl.String(),
    "home_team": pl.String(),
    "away_team": pl.String(),
    "player_name": pl.String(),
    "market_code": pl.String(),
    "line": pl.Float64(),
    "bookmaker": pl.String(),
    "over_odds": pl.Float64(),
    "under_odds": pl.Float64(),
}
MARKETS = ("PTS", "REB", "AST", "FG3M", "STL", "BLK", "TOV", "PRA", "PR", "PA", "RA", "STL_BLK")
REFERENCE_BOOKS = ("draftkings", "fanduel", "betmgm")
PROXY_OVERROUND = 2 * 110 / 210  # -110 on both sides of a coin flip: 1.0476
# the naive book's probabilities stay inside this range; with the margin the implied probability
# stays below 1, so the book never sells a side its own estimate says is worth betting
PROXY_P_RANGE = (0.05, 0.95)
CANDIDATE_DAYS = 30
OFF_MARKET = 0.10  # de-vigged P(over) this far from the books' median at the line: dropped
SNAPSHOT_WINDOW = timedelta(hours=1)  # quotes of one view are this close to its median snapshot
# a pregame quote without a snapshot time: the morning of the game (10:00 US Eastern standard
# time, 11:00 in daylight time), or a minute before tip-off if the game starts earlier
DEFAULT_SNAPSHOT_UTC = time(15, 0)
# names books use for franchises that NBA.com spells otherwise
TEAM_NAME_ALIASES = {"Los Angeles Clippers": "LA Clippers"}


def read_lines(path: Path) -> pl.DataFrame:
    """Every quote in a file or a folder of parquet/CSV files, typed; errors name file and row."""
    path = Path(path)
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".csv"))
        if path.is_dir()
        else [path]
    )
    if not files or not all(f.exists() for f in files):
        raise GameLogError(str(path), "no lines file (parquet or CSV) there")
    frames = []
    for f in files:
        is_csv = f.suffix.lower() == ".csv"
        raw = pl.read_csv(f, infer_schema=False) if is_csv else pl.read_parquet(f)
        frames.append(_type_lines(raw, str(f)))
    return pl.concat(frames)


# columns a feed may leave out: null when absent (the feed: the file's name)
OPTIONAL_COLUMNS = ("feed", "commence_time_utc", "snapshot_time_utc", "event_id")
# other spellings feeds use for our columns: named in the error, never renamed silently
COLUMN_SPELLINGS = {
    "game_date": ("date", "game_day", "commence_date"),
    "player_name": ("player", "name", "description", "participant"),
    "market_code": ("market", "stat", "market_key", "prop", "prop_type"),
    "line": ("point", "points", "handicap", "total"),
    "bookmaker": ("book", "sportsbook", "bookmaker_key", "bookie"),
    "over_odds": ("price_over", "over_price", "odds_over", "over"),
    "under_odds": ("price_under", "under_price", "odds_under", "under"),
    "home_team": ("home", "home_team_name"),
    "away_team": ("away", "away_team_name"),
    "is_pregame": ("pregame", "is_live"),
    "snapshot_time_utc": ("snapshot_time", "last_update", "timestamp"),
    "commence_time_utc": ("commence_time", "start_time", "tip_off"),
}


def _type_lines(raw: pl.DataFrame, origin: str) -> pl.DataFrame:
    missing = [c for c in LINE_COLUMNS if c not in raw.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        hints = [
            f"{other!r} for {c!r}"
            for c in missing
            for other in COLUMN_SPELLINGS.get(c, ())
            if other in raw.columns
        ]
        raise GameLogError(
            origin,
            f"missing column(s) {', '.join(missing)} for prop lines"
            + (f" (the file has {', '.join(hints)}: rename them)" if hints else "")
            + f"; expected columns: {', '.join(LINE_COLUMNS)}"
            f" ({', '.join(OPTIONAL_COLUMNS)} may be left out)",
        )
    fill = {"feed": Path(origin).stem}
    raw = raw.with_columns(
        pl.lit(fill.get(c)).cast(pl.String).alias(c) for c in OPTIONAL_COLUMNS if c not in raw
    )
    frame = raw.with_row_index("__row", offset=1)
    out = []
    for name, dtype in LINE_COLUMNS.items():
        col = frame[name]
        if dtype == pl.Date():
            typed = col.cast(pl.String).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        elif dtype == pl.Boolean():
            typed = (
                col
                if col.dtype == pl.Boolean
                else col.cast(pl.String)
                .str.to_lowercase()
                .replace_strict({"true": True, "false": False, "1": True, "0": False}, default=None)
            )
        elif dtype == pl.Float64():
            typed = col.cast(pl.Float64, strict=False)
        else:
            typed = col.cast(pl.String)
        bad = col.is_not_null() & typed.is_null()
        if name not in ("commence_time_utc",) and bad.any():
            i = int(bad.arg_true()[0])
            row = int(frame["__row"][i])
            raise GameLogError(origin, "cannot read the value", name, row, col[i])
        out.append(typed.alias(name))
    # impossible or missing odds are not an error of the file: those quotes are rejected, and
    # counted, by `audit_quotes`
    return pl.DataFrame(out)


def complete_quotes(quotes: pl.DataFrame) -> pl.DataFrame:
    """Quotes as feeds deliver them, completed where the feed leaves a gap (idempotent):

    - no `event_id`: the event is keyed by game date and teams (`2024-03-02:Away@Home`);
    - no `commence_time_utc` (the real closing feed): the event's scheduled tip from another
      feed's quotes of the same event, so "before tip-off" is checked, not assumed;
    - no `snapshot_time_utc` on a quote the feed flags pregame: taken at DEFAULT_SNAPSHOT_UTC on
      the game date (the morning of the game), or a minute before tip-off when the game starts
      earlier; `snapshot_assumed` says which quotes had their time filled so."""
    event = pl.coalesce(
        pl.col("event_id"),
        pl.format("{}:{}@{}", pl.col("game_date"), pl.col("away_team"), pl.col("home_team")),
    )
    if "snapshot_assumed" in quotes.columns:  # completed already
        return quotes
    tip = pl.col("commence_time_utc").fill_null(pl.col("commence_time_utc").max().over("event_id"))
    out = quotes.with_columns(
        event_id=event, event_assumed=pl.col("event_id").is_null()
    ).with_columns(commence_time_utc=tip)
    morning = pl.col("game_date").cast(pl.Datetime("us", "UTC")) + pl.duration(
        hours=DEFAULT_SNAPSHOT_UTC.hour, minutes=DEFAULT_SNAPSHOT_UTC.minute
    )
    before_tip = pl.col("commence_time_utc").str.to_datetime(
        "%Y-%m-%dT%H:%M:%SZ", strict=False, time_zone="UTC"
    ) - pl.duration(minutes=1)
    assumed = pl.min_horizontal(morning, before_tip).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.with_columns(
        snapshot_time_utc=pl.coalesce(pl.col("snapshot_time_utc"), assumed),
        snapshot_assumed=pl.col("snapshot_time_utc").is_null(),
    )


def _rejected_before_views() -> pl.Expr:
    """Why a completed quote cannot be a pregame quote at all (null: it can)."""
    prices = [pl.col(c) for c in ("line", "over_odds", "under_odds")]
    missing = pl.any_horizontal(*(p.is_null() | ~p.is_finite() for p in prices))
    impossible = (pl.col("over_odds").abs() < 100) | (pl.col("under_odds").abs() < 100)
    after = pl.col("commence_time_utc").is_not_null() & (
        pl.col("snapshot_time_utc") >= pl.col("commence_time_utc")
    )
    return (
        pl.when(~pl.col("is_pregame").fill_null(False))
        .then(pl.lit("not_pregame"))
        .when(missing)
        .then(pl.lit("no_odds"))
        .when(impossible)
        .then(pl.lit("odds_impossible"))
        .when(after)
        .then(pl.lit("after_tip_off"))
        .otherwise(pl.lit(None, pl.String))
    )


def pregame(quotes: pl.DataFrame, keep: str = "last") -> pl.DataFrame:
    """Quotes taken before tip-off with both prices: each book's last (`keep="last"`, the close)
    or first (`keep="first"`, the opening) snapshot per player, market and game, and of that
    snapshot's ladder of lines one main line, the pair nearest even odds (ties: the lower line),
    so the same quotes in any order give the same result. Books whose snapshot is more than
    SNAPSHOT_WINDOW from the view's median snapshot time (the lower median for the opening, the
    upper for the close) are left out: a view's prices are from one moment. Feeds' gaps are
    completed first (`complete_quotes`)."""
    return _pregame_stages(quotes, keep)[2]


def _pregame_stages(
    quotes: pl.DataFrame, keep: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """`pregame`'s steps: the view's snapshot of each book, its main line, the books in time."""
    if keep not in ("first", "last"):
        raise ValueError(f"pregame: keep must be 'first' or 'last', not {keep!r}")
    before = complete_quotes(quotes).filter(_rejected_before_views().is_null())
    prop = ["game_date", "event_id", "player_name", "market_code"]
    key = [*prop, "bookmaker"]
    snap = pl.col("snapshot_time_utc")
    chosen = before.filter(snap == (snap.max() if keep == "last" else snap.min()).over(key))
    p_over, _ = devig(chosen["over_odds"].to_numpy(), chosen["under_odds"].to_numpy())
    main = (
        chosen.with_columns(_dist=(pl.Series(p_over) - 0.5).abs())
        .sort([*key, "_dist", "line", "over_odds", "under_odds"])
        .group_by(key, maintain_order=True)
        .first()
        .drop("_dist")
    )
    middle = pl.col("_at").quantile(0.5, interpolation="higher" if keep == "last" else "lower")
    windowed = (
        main.with_columns(_at=snapshot_times(main["snapshot_time_utc"]))
        .with_columns(_middle=middle.over(prop))
        .filter(
            pl.col("_at").is_null()
            | pl.col("_middle").is_null()
            | ((pl.col("_at") - pl.col("_middle")).abs() <= SNAPSHOT_WINDOW)
        )
        .drop("_at", "_middle")
    )
    return chosen, main, windowed


def snapshot_times(text: pl.Series) -> pl.Series:
    """Snapshot times as UTC datetimes: ISO 8601 with a Z as the feeds write them (fast), any
    other ISO spelling parsed as well; null where there is none or it cannot be read."""
    fast = text.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, time_zone="UTC")
    missed = fast.is_null() & text.is_not_null()
    if not missed.any():
        return fast
    slow = text.str.to_datetime(strict=False, time_zone="UTC")
    return pl.select(pl.coalesce(fast, slow)).to_series().alias(text.name)


def _team_ids() -> dict[str, int]:
    t = teams()
    ids = dict(zip(t["team_name"], t["team_id"], strict=True))
    for book, nba in TEAM_NAME_ALIASES.items():
        ids[book] = ids[nba]
    return ids


def match_players(quotes: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """One row per (game date, event, book spelling): who it is, how it matched, and whether he
    played. `games` are player_game_stats rows covering the 30 days before each line's date."""
    ids = _team_ids()
    events = (
        quotes.group_by("game_date", "event_id", "home_team", "away_team", "player_name")
        .agg(pl.len().alias("quotes"), pl.col("market_code").unique().sort().alias("markets"))
        .sort("game_date", "event_id", "player_name")
    )
    unknown = sorted(
        {t for t in events["home_team"].to_list() + events["away_team"].to_list() if t not in ids}
    )
    if unknown:
        raise GameLogError("prop lines", f"unknown team name(s): {', '.join(unknown)}")
    # per team, its player-games by date, so a game's candidates are two slices
    by_team: dict[int, tuple[np.ndarray, list[int], list[str]]] = {}
    for (tid,), part in (
        games.select("team_id", "player_id", "player_name", "game_date")
        .sort("game_date", "player_id")
        .partition_by("team_id", as_dict=True)
        .items()
    ):
        by_team[tid] = (
            part["game_date"].to_numpy().astype("datetime64[D]"),
            part["player_id"].to_numpy(),
            part["player_name"].to_list(),
        )
    rows = []
    cache: dict[tuple, list[Candidate]] = {}
    for r in events.iter_rows(named=True):
        day, home, away = r["game_date"], ids[r["home_team"]], ids[r["away_team"]]
        key = (day, home, away)
        if key not in cache:
            today = np.datetime64(day, "D")
            cands: dict[int, Candidate] = {}
            for tid in (home, away):
                if tid not in by_team:
                    continue
                dates, pids, names = by_team[tid]
                lo = int(np.searchsorted(dates, today - np.timedelta64(CANDIDATE_DAYS, "D")))
                hi = int(np.searchsorted(dates, today, side="right"))
                played = set(pids[lo:hi][dates[lo:hi] == today].tolist())
                # the latest spelling of each player in the window (the later row wins)
                latest = dict(zip(pids[lo:hi].tolist(), names[lo:hi], strict=True))
                for pid, name in latest.items():
                    cands[pid] = Candidate(pid, name, pid in played)
            cache[key] = sorted(cands.values(), key=lambda c: c.player_id)
        m = match_name(r["player_name"], cache[key])
        played = next((c.played for c in cache[key] if c.player_id == m.player_id), False)
        reason = m.reason or ("" if played else "did not play in this game")
        rows.append(
            {
                **{k: r[k] for k in _EVENT_KEYS},
                "quotes": r["quotes"],
                "markets": ",".join(r["markets"]),
                "player_id": m.player_id,
                "matched_name": m.name,
                "method": m.method,
                "score": m.score,
                "played": played,
                "reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=MATCH_SCHEMA)


_EVENT_KEYS = ("game_date", "event_id", "home_team", "away_team", "player_name")
MATCH_SCHEMA = {
    "game_date": pl.Date,
    "event_id": pl.String,
    "home_team": pl.String,
    "away_team": pl.String,
    "player_name": pl.String,
    "quotes": pl.Int64,
    "markets": pl.String,
    "player_id": pl.Int64,
    "matched_name": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "played": pl.Boolean,
    "reason": pl.String,
}


def _at_line(
    quotes: pl.DataFrame, matches: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """`consensus`'s steps on one view's quotes: the matched quotes with the consensus line of
    their prop, those at that line, and of those the ones on the market (what is priced)."""
    q = quotes.join(
        matches.filter(pl.col("player_id").is_not_null()).select(
            "game_date", "event_id", "player_name", "player_id"
        ),
        on=["game_date", "event_id", "player_name"],
        how="inner",
    )
    p_over, overround = devig(q["over_odds"].to_numpy(), q["under_odds"].to_numpy())
    q = q.with_columns(
        pl.Series("p_over_book", p_over),
        pl.Series("overround", overround),
        pl.Series("over_dec", american_to_decimal(q["over_odds"].to_numpy())),
        pl.Series("under_dec", american_to_decimal(q["under_odds"].to_numpy())),
    )
    key = ["game_date", "player_id", "market_code"]
    median = q.group_by(key).agg(pl.col("line").median().alias("median_line"))
    q = q.join(median, on=key).with_columns(dist=(pl.col("line") - pl.col("median_line")).abs())
    # the line nearest the median, the lower of two as near (a sort_by, not a sorted struct:
    # 7x faster on the demo's book, the same lines)
    snapped = q.group_by(key).agg(
        pl.col("line").sort_by("dist", "line").first().alias("consensus_line")
    )
    q = q.join(snapped, on=key)
    at = q.filter(pl.col("line") == pl.col("consensus_line"))
    # a book far from the others' de-vigged P at the same line is off-market (a stale or
    # mistaken quote): its price would be harvested as the "best", so it is dropped
    priced = at.filter(
        (pl.col("p_over_book") - pl.col("p_over_book").median().over(key)).abs() <= OFF_MARKET
    )
    return q, at, priced


def consensus(quotes: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """Per (game date, player, market): the consensus line and its prices (real lines only)."""
    q, _, priced = _at_line(quotes, matches)
    return _consensus_of(q, priced)


def _consensus_of(q: pl.DataFrame, at: pl.DataFrame) -> pl.DataFrame:
    """The consensus records from `_at_line`'s matched quotes and priced ones."""
    key = ["game_date", "player_id", "market_code"]
    snapped = q.group_by(key).agg(pl.col("consensus_line").first())
    rank = pl.col("bookmaker").replace_strict(
        {b: i for i, b in enumerate(REFERENCE_BOOKS)}, default=len(REFERENCE_BOOKS)
    )
    ref = (
        at.with_columns(_rank=rank)
        .sort("_rank", "bookmaker")
        .group_by(key, maintain_order=True)
        .first()
        .select(
            *key,
            pl.col("bookmaker").alias("reference_book"),
            pl.col("over_odds").alias("ref_over_odds"),
            pl.col("under_odds").alias("ref_under_odds"),
        )
    )
    best = at.group_by(key).agg(
        pl.col("event_id").first(),
        pl.col("feed").unique().sort().str.join(",").alias("feed"),
        pl.len().alias("books_at_line"),
        pl.col("over_odds").sort_by("over_dec").last().alias("best_over_odds"),
        pl.col("bookmaker").sort_by("over_dec").last().alias("best_over_book"),
        pl.col("under_odds").sort_by("under_dec").last().alias("best_under_odds"),
        pl.col("bookmaker").sort_by("under_dec").last().alias("best_under_book"),
        pl.col("p_over_book").median().alias("market_p_over"),
        pl.col("overround").median().alias("overround"),
    )
    books = q.group_by(key).agg(
        pl.col("bookmaker").n_unique().alias("books"),
        pl.col("median_line").first(),
        pl.col("snapshot_time_utc").max().alias("last_snapshot_utc"),
    )
    return (
        snapped.join(best, on=key)
        .join(ref, on=key)
        .join(books, on=key)
        .with_columns(pl.lit("real").alias("line_kind"))
        .rename({"market_code": "market"})
        .sort("game_date", "player_id", "market")
    )


def with_close(opening: pl.DataFrame, close: pl.DataFrame) -> pl.DataFrame:
    """The opening consensus (from `pregame(..., "first")`) with the close's line and market
    P(over) beside it (from `pregame(..., "last")`). `close_is_later` says a later quote exists,
    so closing-line value can be measured on that prop."""
    key = ["game_date", "player_id", "market"]
    later = close.select(
        *key,
        pl.col("consensus_line").alias("close_line"),
        pl.col("market_p_over").alias("close_market_p_over"),
        pl.col("last_snapshot_utc").alias("close_snapshot_utc"),
    )
    return opening.join(later, on=key, how="left").with_columns(
        close_is_later=pl.col("close_snapshot_utc").is_not_null()
        & (pl.col("close_snapshot_utc") > pl.col("last_snapshot_utc"))
    )


# every quote a lines source gives is kept or rejected for one of these reasons, in the order
# the pipeline decides them; a quote in both views (the opening and the close) counts once,
# under the view where it went furthest
QUOTE_REASONS: dict[str, tuple[str, str]] = {
    "not_pregame": ("rejected", "the feed flags it as not pregame (is_pregame false or empty)"),
    "no_odds": ("rejected", "its line or a price is missing or not a finite number"),
    "odds_impossible": ("rejected", "an American price between -100 and +100"),
    "after_tip_off": ("rejected", "taken at or after tip-off"),
    "superseded": ("rejected", "neither the book's first nor its last pregame snapshot"),
    "duplicate_rung": (
        "rejected",
        "a repeat of the book's quote or another rung of its ladder (the main line is the "
        "pair nearest even odds)",
    ),
    "stale_snapshot": ("rejected", "over an hour from the other books' snapshot of the view"),
    "unmatched_player": ("rejected", "the book's spelling matches no player of the two teams"),
    "did_not_play": ("rejected", "the player has no box score in a game that has them"),
    "off_market": (
        "rejected",
        f"de-vigged P(over) more than {OFF_MARKET:g} from the books' median at the line",
    ),
    "line_only": ("kept", "its line enters the consensus median; the book quotes another line"),
    "priced": ("kept", "at the consensus line: its price and de-vigged P(over) are used"),
}
_VIEW_RANK = {r: i for i, r in enumerate(
    ["superseded", "duplicate_rung", "stale_snapshot", "unmatched_player", "did_not_play",
     "off_market", "line_only", "priced"]
)}  # fmt: skip


def audit_quotes(quotes: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """Every quote with the reason it was kept or rejected (QUOTE_REASONS), by the same steps
    `pregame` and `consensus` take. `matches` as from `match_players`."""
    q = complete_quotes(quotes).with_row_index("_quote")
    views, _ = _view_steps({keep: _pregame_stages(q, keep) for keep in VIEWS}, matches)
    return _audit(q, views, matches)


VIEWS = ("first", "last")  # the opening and the close


def _view_steps(stages: dict, matches: pl.DataFrame) -> tuple[dict, dict]:
    """Per view, `pregame`'s and `consensus`'s intermediate frames (what the audit reads) and
    the consensus records."""
    views, records = {}, {}
    for keep, (chosen, main, windowed) in stages.items():
        matched, at, priced = _at_line(windowed, matches)
        views[keep] = (chosen, main, windowed, at, priced)
        records[keep] = _consensus_of(matched, priced)
    return views, records


@dataclass(frozen=True)
class MarketView:
    """The market's view of a set of quotes, each step taken once: the consensus records
    (the opening, with the close beside it), the player matches and every quote's reason."""

    lines: pl.DataFrame
    matches: pl.DataFrame
    audited: pl.DataFrame
    opening_quotes: int  # pregame quotes in the opening view
    close_quotes: int  # and in the close


def market_view(quotes: pl.DataFrame, games: pl.DataFrame) -> MarketView:
    """`pregame`, `match_players`, `consensus`, `with_close` and `audit_quotes` in one pass.
    `games`: player_game_stats rows (team_id, player_id, player_name, game_date) covering the
    CANDIDATE_DAYS before each quote's date."""
    q = complete_quotes(quotes).with_row_index("_quote")
    stages = {keep: _pregame_stages(q, keep) for keep in VIEWS}
    matches = match_players(stages["last"][2], games)
    views, records = _view_steps(stages, matches)
    return MarketView(
        lines=with_close(records["first"], records["last"]),
        matches=matches,
        audited=_audit(q, views, matches),
        opening_quotes=stages["first"][2].height,
        close_quotes=stages["last"][2].height,
    )


def _audit(q: pl.DataFrame, views: dict[str, tuple], matches: pl.DataFrame) -> pl.DataFrame:
    early = q.select("_quote", _rejected_before_views().alias("reason"))
    played = matches.select(
        "game_date", "event_id", "player_name", "player_id", "played",
        pl.col("played").any().over("game_date", "event_id").alias("_game_has_box_scores"),
    )  # fmt: skip
    placed_by_view = []
    for chosen, main, windowed, at, priced in views.values():
        placed = (
            windowed.select("_quote", "game_date", "event_id", "player_name")
            .join(played, on=["game_date", "event_id", "player_name"], how="left")
            .select(
                "_quote",
                pl.when(pl.col("player_id").is_null())
                .then(pl.lit("unmatched_player"))
                .when(~pl.col("played") & pl.col("_game_has_box_scores"))
                .then(pl.lit("did_not_play"))
                .when(pl.col("_quote").is_in(priced["_quote"].implode()))
                .then(pl.lit("priced"))
                .when(pl.col("_quote").is_in(at["_quote"].implode()))
                .then(pl.lit("off_market"))
                .otherwise(pl.lit("line_only"))
                .alias("reason"),
            )
        )
        placed_by_view.append(
            pl.concat(
                [
                    chosen.select("_quote", pl.lit("duplicate_rung").alias("reason")),
                    main.select("_quote", pl.lit("stale_snapshot").alias("reason")),
                    placed,
                ]
            )
        )
    rank = pl.col("reason").replace_strict(_VIEW_RANK, return_dtype=pl.Int64)
    furthest = (
        pl.concat(placed_by_view)
        .with_columns(_rank=rank)
        .group_by("_quote")
        .agg(pl.col("reason").sort_by("_rank").last().alias("_view_reason"))
    )
    reason = pl.coalesce("reason", "_view_reason", pl.lit("superseded"))
    return (
        q.join(early, on="_quote")
        .join(furthest, on="_quote", how="left")
        .with_columns(reason=reason)
        .with_columns(
            status=pl.col("reason").replace_strict({r: s for r, (s, _) in QUOTE_REASONS.items()})
        )
        .sort("_quote")
        .drop("_quote", "_view_reason")
    )


def quote_counts(audited: pl.DataFrame) -> pl.DataFrame:
    """The audit counted per game date, feed, book, market and reason (the `line_quotes`
    table): quotes, and of them how many had their snapshot time or event assumed."""
    key = ["game_date", "feed", "bookmaker", pl.col("market_code").alias("market"), "status"]
    return (
        audited.group_by(*key, "reason")
        .agg(
            pl.len().cast(pl.Int64).alias("quotes"),
            pl.col("snapshot_assumed").sum().cast(pl.Int64).alias("snapshot_assumed"),
            pl.col("event_assumed").sum().cast(pl.Int64).alias("event_assumed"),
        )
        .sort("game_date", "feed", "bookmaker", "market", "reason", nulls_last=True)
    )


def reason_totals(counts: pl.DataFrame) -> dict[str, int]:
    """Quotes per reason, in QUOTE_REASONS order, from `quote_counts` rows."""
    totals = dict(counts.group_by("reason").agg(pl.col("quotes").sum()).iter_rows())
    return {r: int(totals[r]) for r in QUOTE_REASONS if totals.get(r)}


def naive_p_over(line: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """The naive book's P(stat > line) from the last 10 games' mean and variance: the even mix of
    a normal (spread at least 0.5 and at least Poisson's) and a negative binomial (at least
    Poisson's spread). On the real 2021-24 seasons a normal alone overprices the over (blanket
    unders win) and a negative binomial underprices it; the mix gets each stat's over rate within
    a few points. Kept within PROXY_P_RANGE."""
    from scipy.special import ndtr
    from scipy.stats import nbinom

    if not np.all(np.isfinite(line)):
        raise ValueError(f"proxy lines: {int(np.sum(~np.isfinite(line)))} line(s) are not numbers")
    m = np.maximum(np.nan_to_num(mean), 0.05)
    v = np.nan_to_num(variance)
    normal = 1.0 - ndtr((line - m) / np.sqrt(np.maximum.reduce([v, m, np.full_like(m, 0.25)])))
    v_nb = np.maximum(v, m * 1.0001)
    negbin = nbinom.sf(np.floor(line), m * m / (v_nb - m), m / v_nb)
    return np.clip(0.5 * normal + 0.5 * negbin, *PROXY_P_RANGE)


def proxy_lines(frame: pl.DataFrame, market: str) -> pl.DataFrame:
    """Labelled synthetic lines for rows with features, from a naive book. The line: the recent
    median (last 10 games; the 10-game mean for combos) moved up to the next .5. The price:
    `naive_p_over` on the last 10 games' mean and variance (a combo's parts' variances summed, as
    if independent), with the vig of -110/-110 split in proportion; `market_p_over` is that
    de-vigged probability."""
    parts = TARGETS[market]
    single = parts[0] if len(parts) == 1 else None
    center = pl.col(f"{single}_median_10") if single else pl.col("target_mean_10")
    mean = pl.col(f"{single}_mean_10") if single else pl.col("target_mean_10")
    priced = frame.select(
        "game_date",
        "player_id",
        (center.floor() + 0.5).cast(pl.Float64).alias("consensus_line"),
        mean.fill_null(0.0).cast(pl.Float64).alias("_mean"),
        pl.sum_horizontal(*(pl.col(f"{p}_std_10").fill_null(0.0) ** 2 for p in parts))
        .cast(pl.Float64)
        .alias("_variance"),
    )
    p_over = naive_p_over(
        priced["consensus_line"].to_numpy(),
        priced["_mean"].to_numpy(),
        priced["_variance"].to_numpy(),
    )
    over = implied_to_american(p_over * PROXY_OVERROUND)
    under = implied_to_american((1 - p_over) * PROXY_OVERROUND)
    return priced.select(
        "game_date",
        "player_id",
        pl.lit(market).alias("market"),
        "consensus_line",
        pl.lit("proxy").alias("reference_book"),
        pl.Series("ref_over_odds", over),
        pl.Series("ref_under_odds", under),
        pl.Series("best_over_odds", over),
        pl.Series("best_under_odds", under),
        pl.Series("market_p_over", p_over),
        pl.lit("proxy").alias("line_kind"),
        pl.lit(None, pl.Float64).alias("close_line"),
        pl.lit(None, pl.Float64).alias("close_market_p_over"),
        pl.lit(False).alias("close_is_later"),
    )


def match_rate(matches: pl.DataFrame, season_types: Sequence[str] | None = None) -> dict:
    """How many spellings matched, how, and why the rest did not."""
    total = matches.height
    matched = matches.filter(pl.col("player_id").is_not_null())
    return {
        "spellings": total,
        "matched": matched.height,
        "match_rate": round(matched.height / total, 4) if total else 0.0,
        "matched_and_played": matched.filter(pl.col("played")).height,
        "by_method": dict(matches.group_by("method").len().iter_rows()),
    }
