"""A simulated sportsbook for the synthetic league: player props priced the way a sharp book does.

For every game of the season the book plays the game `reps` times from its pregame plan
(`simulate.play_game`: the simulator itself, with the availability, minutes plan, opponent,
pace, rest and in-season form known before tip-off), so it knows each listed player's true
distribution of every stat that night. What it posts is that distribution seen through an
error:

- the market's error: the book believes the player's stat is the true one shifted by
  `error` standard deviations of that night's distribution times a standard normal draw (half
  of the draw shared by the player's markets that night, as when a book misjudges his minutes,
  half the market's own); every book shares it;
- each book's own error, a quarter of that size, so lines and prices differ slightly across
  books;
- the line: of the .5 lines, the one at which the book's P(over) is nearest one half (the book's
  median); its price: the book's P(over) and P(under) times the book's overround, in American
  odds rounded to 5 as books quote them;
- two snapshots: the morning (the opening, 10 or 11 a.m. in New York) and the close (5 minutes
  before tip-off), where the error left is `close_error` times the morning's, so a bettor who
  knows more than the morning's market sees the close move his way (closing-line value);
- listed: the first `listed` players of each team's healthy rotation (starters and the main
  bench, never garbage-time players), each market by each book with the probability of
  LISTING; one book posts a ladder of alternate lines around its main line;
- names as books spell them: now and then an initial ("J. Banks") or a team tag
  ("Jalen Banks (BOS)"), which the name matching must resolve.

Quotes have the schema of the real prop lines (core.lines.LINE_COLUMNS), so the whole lines path
runs on them unchanged. A pure function of the seed, the season and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from zlib import crc32
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from statmuse_pipelines.core.datasets import TARGETS
from statmuse_pipelines.core.lines import LINE_COLUMNS
from statmuse_pipelines.core.odds import implied_to_american
from statmuse_pipelines.core.synthetic.league import season_league
from statmuse_pipelines.core.synthetic.simulate import play_game, simulate_season
from statmuse_pipelines.core.teams import ABBREVIATION_BY_ID, TEAM_NAME_BY_ID

FEED = "synthetic_book"
# each book's margin per side: overrounds of 1.06-1.09, as measured on the real 2023-24 quotes
# in ../shared (median 1.070, 10th-90th percentile 1.061-1.091)
BOOK_MARGINS = {"draftkings": 0.0375, "fanduel": 0.035, "betmgm": 0.045}
LADDER_BOOK = "fanduel"
LADDER_MARKETS = ("PTS", "REB", "AST", "PRA")
# the share of a listed player's props each book posts, by market
LISTING = {
    "PTS": 1.0, "REB": 0.95, "AST": 0.95, "PRA": 0.95, "FG3M": 0.85, "PR": 0.8, "PA": 0.8,
    "RA": 0.8, "STL": 0.5, "BLK": 0.5, "TOV": 0.5, "STL_BLK": 0.5,
}  # fmt: skip
PRICE_RANGE = (0.15, 0.85)  # a book does not post a prop whose main line it prices outside this
NY = ZoneInfo("America/New_York")
# tip-off times in New York and how often each is used
TIPS = ((time(19, 0), 0.5), (time(19, 30), 0.25), (time(20, 0), 0.1), (time(22, 0), 0.1),
        (time(22, 30), 0.05))  # fmt: skip


@dataclass(frozen=True)
class BookSettings:
    error: float = 0.12  # the market's opening error, in standard deviations of the player's night
    close_error: float = 0.5  # the share of the opening error left at the close
    reps: int = 200  # playings of each game behind the book's distributions
    listed: int = 6  # players of each team's healthy rotation the books list

    def __post_init__(self) -> None:
        if not (self.error >= 0 and np.isfinite(self.error)):
            raise ValueError(f"book error must be a finite number >= 0, not {self.error}")
        if not 0 <= self.close_error <= 1:
            raise ValueError(f"close_error must be within 0..1, not {self.close_error}")
        if self.reps < 20:
            raise ValueError(f"reps must be at least 20, not {self.reps}")


def _unit(*key: object) -> float:
    """A deterministic number in [0, 1) for a key (spellings and tip times: stable per name)."""
    return crc32("|".join(map(str, key)).encode()) / 2**32


def book_spelling(name: str, team: int, book: str) -> str:
    """How `book` spells a player: mostly as NBA.com does; 3% an initial, 2% a team tag."""
    u = _unit("spelling", name, book)
    first, _, last = name.partition(" ")
    if u < 0.03 and last:
        return f"{first[0]}. {last}"
    if u < 0.05:
        return f"{name} ({ABBREVIATION_BY_ID[team]})"
    return name


def tip_off(game_id: str, day: date) -> datetime:
    """The game's scheduled tip-off in UTC (a New York evening time, fixed per game)."""
    cumulative = np.cumsum([share for _, share in TIPS])
    i = min(int(np.searchsorted(cumulative, _unit("tip", game_id), side="right")), len(TIPS) - 1)
    return datetime.combine(day, TIPS[i][0], NY).astimezone(ZoneInfo("UTC"))


def _over_probability(cdf: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """P(X > t) = 1 - F(floor(t)) from each player-game's empirical CDF: `cdf` (N, W) over the
    integer values 0..W-1, `lines` (..., N) the thresholds (lines less the book's shift)."""
    padded = np.concatenate([np.zeros((cdf.shape[0], 1)), cdf], axis=1)  # F(-1) = 0
    idx = np.clip(np.floor(lines).astype(int) + 1, 0, padded.shape[1] - 1)
    return 1.0 - padded[np.arange(cdf.shape[0]), idx]


def _round_odds(p_implied: np.ndarray) -> np.ndarray:
    """American odds for implied probabilities, rounded to 5 as books quote them."""
    odds = np.round(implied_to_american(np.clip(p_implied, 0.01, 0.99)) / 5) * 5
    return np.where(np.abs(odds) < 100, 100.0, odds)


@dataclass
class _Draws:
    """What the book knows about the listed player-games of a season, column by column."""

    rows: dict[str, list]  # per player-game: game_date, game_id, tip, team, player_id, ...
    samples: dict[str, list[np.ndarray]]  # per market: (reps, players) blocks, one per side
    z: dict[str, list[np.ndarray]]  # per market: the market's error draw per player-game
    own: dict[str, list[np.ndarray]]  # per market: each book's own error draw (books, players)
    listed: dict[str, list[np.ndarray]]  # per market: which books post it (books, players)


def _draw(
    seed: int, season: int, settings: BookSettings, today: date | None,
    pace_change: tuple[date, float] | None, start: date, end: date,
) -> _Draws:  # fmt: skip
    box = simulate_season(seed, season, pace_change)
    keys = ("game_date", "game_id", "tip", "team", "opp", "home", "player_id", "close")
    draws = _Draws({k: [] for k in keys}, *({m: [] for m in TARGETS} for _ in range(4)))
    n_books = len(BOOK_MARGINS)
    for index, plan in enumerate(box.plans):
        if (today is not None and plan.day > today) or plan.day > end:
            break
        if plan.day < start:
            continue
        boxes = play_game(np.random.default_rng([seed, season, 40, index]), plan, settings.reps)
        errors = np.random.default_rng([seed, season, 41, index])
        tip = tip_off(plan.game_id, plan.day)
        for side, played in zip(plan.sides, boxes, strict=True):
            n = min(settings.listed, len(side.ids))
            if n == 0:
                continue
            base = {c.lower(): played[c][:, :n] for c in ("PTS", "REB", "AST", "FG3M", "STL",
                                                          "BLK", "TOV")}  # fmt: skip
            shared = errors.standard_normal(n)
            for market, parts in TARGETS.items():
                draws.samples[market].append(sum(base[p] for p in parts))
                draws.z[market].append(
                    np.sqrt(0.5) * shared + np.sqrt(0.5) * errors.standard_normal(n)
                )
                draws.own[market].append(0.25 * errors.standard_normal((n_books, n)))
                draws.listed[market].append(errors.random((n_books, n)) < LISTING[market])
            for k, v in (("game_date", plan.day), ("game_id", plan.game_id), ("tip", tip),
                         ("team", side.team), ("opp", side.opp), ("home", side.home),
                         ("close", today is None or plan.day < today)):  # fmt: skip
                draws.rows[k].extend([v] * n)
            draws.rows["player_id"].extend(side.ids[:n])
    return draws


def _market_quotes(
    draws: _Draws, market: str, settings: BookSettings, has_close: np.ndarray
) -> list[dict]:
    """Every book's quotes of one market, both snapshots, as column arrays of row indices."""
    x = np.concatenate(draws.samples[market], axis=1)  # (reps, N)
    reps, n = x.shape
    width = int(x.max()) + 2
    counts = np.bincount((x + np.arange(n) * width).ravel(), minlength=n * width)
    cdf = np.cumsum(counts.reshape(n, width), axis=1) / reps
    sd = np.maximum(x.std(axis=0), 0.5)
    median = np.median(x, axis=0)
    z = np.concatenate(draws.z[market])
    own = np.concatenate(draws.own[market], axis=1)  # (books, N)
    listed = np.concatenate(draws.listed[market], axis=1)
    out = []
    for snap in ("open", "close"):
        left = 1.0 if snap == "open" else settings.close_error
        for b, book in enumerate(BOOK_MARGINS):
            shift = settings.error * sd * left * (z + own[b])
            # of the .5 lines around the book's median, the one it prices nearest even
            cands = np.maximum(np.floor(median + shift)[None, :] + OFFSETS[:, None], 0.5)
            p = np.stack([_over_probability(cdf, c - shift) for c in cands])
            pick = np.argmin(np.abs(p - 0.5) + 1e-9 * cands, axis=0)
            line = cands[pick, np.arange(n)]
            p_line = p[pick, np.arange(n)]
            main = listed[b] & (p_line >= PRICE_RANGE[0]) & (p_line <= PRICE_RANGE[1])
            if snap == "close":
                main &= has_close
            ladder = market in LADDER_MARKETS and book == LADDER_BOOK and snap == "open"
            for off in (0.0, -1.0, 1.0) if ladder else (0.0,):
                at = line + off
                pb = _over_probability(cdf, at - shift) if off else p_line
                keep = np.flatnonzero(main & (at >= 0.5) & (pb > 0.03) & (pb < 0.97))
                margin = 1.0 + 2.0 * BOOK_MARGINS[book]
                out.append(
                    {
                        "row": keep,
                        "snap": snap,
                        "book": book,
                        "market": market,
                        "line": at[keep],
                        "over_odds": _round_odds(pb[keep] * margin),
                        "under_odds": _round_odds((1.0 - pb[keep]) * margin),
                    }
                )
    return out


OFFSETS = np.array([-1.5, -0.5, 0.5, 1.5])  # candidate lines around floor(the book's median)


@lru_cache(maxsize=16)
def season_quotes(
    seed: int,
    season: int,
    settings: BookSettings = BookSettings(),
    today: date | None = None,
    pace_change: tuple[date, float] | None = None,
    start: date = date.min,
    end: date = date.max,
) -> pl.DataFrame:
    """The book's quotes for the games of `season` from start to end and before `today`
    (`today`'s games with their morning snapshot only: the close has not happened yet), in
    LINE_COLUMNS order. Every game's draws are its own (seeded by its place in the schedule),
    so a game's quotes are the same whatever range is asked for: a day's run plays its games
    only."""
    draws = _draw(seed, season, settings, today, pace_change, start, end)
    if not draws.rows["player_id"]:
        return pl.DataFrame(schema=LINE_COLUMNS)
    league = season_league(seed, season)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    games = pl.DataFrame(
        {
            "game_date": pl.Series(draws.rows["game_date"], dtype=pl.Date),
            "game_id": draws.rows["game_id"],
            "tip": draws.rows["tip"],
            "team": draws.rows["team"],
            "opp": draws.rows["opp"],
            "home": draws.rows["home"],
            "player_id": draws.rows["player_id"],
        }
    ).with_row_index("row")
    has_close = np.array(draws.rows["close"])
    parts = [q for m in TARGETS for q in _market_quotes(draws, m, settings, has_close)]
    quotes = pl.concat(
        pl.DataFrame(
            {
                "row": q["row"].astype(np.uint32),
                "snap": q["snap"],
                "bookmaker": q["book"],
                "market_code": q["market"],
                "line": q["line"].astype(float),
                "over_odds": q["over_odds"].astype(float),
                "under_odds": q["under_odds"].astype(float),
            }
        )
        for q in parts
        if len(q["row"])
    )
    spellings = pl.DataFrame(
        [
            (pid, team, book, book_spelling(league.players[pid].name, team, book))
            for pid, team in games.select("player_id", "team").unique().iter_rows()
            for book in BOOK_MARGINS
        ],
        schema={
            "player_id": pl.Int64,
            "team": pl.Int64,
            "bookmaker": pl.String,
            "player_name": pl.String,
        },
        orient="row",
    )
    games = games.with_columns(
        event_id="syn-" + pl.col("game_id"),
        commence=pl.col("tip").dt.strftime(stamp),
        close_at=(pl.col("tip") - pl.duration(minutes=5)).dt.strftime(stamp),
        open_at=pl.col("game_date")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("America/New_York")
        .dt.offset_by("10h")
        .dt.convert_time_zone("UTC")
        .dt.strftime(stamp),
        team_name=pl.col("team").replace_strict(TEAM_NAME_BY_ID, return_dtype=pl.String),
        opp_name=pl.col("opp").replace_strict(TEAM_NAME_BY_ID, return_dtype=pl.String),
    )
    frame = (
        quotes.join(games, on="row", how="left")
        .join(spellings, on=["player_id", "team", "bookmaker"], how="left")
        .sort("row", "market_code", "bookmaker", "snap", "line")
    )
    return frame.select(
        "game_date",
        pl.lit(FEED).alias("feed"),
        pl.col("commence").alias("commence_time_utc"),
        pl.when(pl.col("snap") == "open")
        .then(pl.col("open_at"))
        .otherwise(pl.col("close_at"))
        .alias("snapshot_time_utc"),
        pl.lit(True).alias("is_pregame"),
        "event_id",
        pl.when(pl.col("home")).then("team_name").otherwise("opp_name").alias("home_team"),
        pl.when(pl.col("home")).then("opp_name").otherwise("team_name").alias("away_team"),
        "player_name",
        "market_code",
        "line",
        "bookmaker",
        "over_odds",
        "under_odds",
    ).select(pl.col(c).cast(t) for c, t in LINE_COLUMNS.items())
