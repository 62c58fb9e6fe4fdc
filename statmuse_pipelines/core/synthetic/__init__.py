"""A seeded, simulated NBA: the default source, so a fresh clone runs the pipeline offline.

`SyntheticLeague(seed, seasons, today)` answers in the nba_api LeagueGameLog format, like the other
sources. The league is a pure function of the seed and the season; `today` only decides which games
have been played (those strictly before it); later games are scheduled but have no box score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from statmuse_pipelines.core.gamelog import empty_game_log
from statmuse_pipelines.core.lines import LINE_COLUMNS
from statmuse_pipelines.core.seasons import season_bounds, season_of_date
from statmuse_pipelines.core.synthetic.book import BookSettings, season_quotes
from statmuse_pipelines.core.synthetic.league import ORIGIN_SEASON, season_league
from statmuse_pipelines.core.synthetic.schedule import season_schedule
from statmuse_pipelines.core.synthetic.simulate import simulate_season

__all__ = ["BookSettings", "SyntheticLeague", "default_seasons", "season_league"]


def default_seasons(today: date, count: int = 3) -> tuple[int, ...]:
    """The `count` most recent season start years, the last one being today's season."""
    current = season_of_date(today)
    return tuple(range(current - count + 1, current + 1))


@dataclass(frozen=True)
class SyntheticLeague:
    seed: int
    seasons: tuple[int, ...]
    today: date
    pace_change: tuple[date, float] | None = None  # a regime change, for drift tests

    def __post_init__(self) -> None:
        if not self.seasons:
            raise ValueError("the synthetic league needs at least one season")
        if min(self.seasons) < ORIGIN_SEASON + 3:
            raise ValueError(
                f"synthetic seasons start at {ORIGIN_SEASON + 3}-"
                f"{(ORIGIN_SEASON + 4) % 100:02d}; asked for {min(self.seasons)}"
            )

    def _seasons_between(self, start: date, end: date) -> list[int]:
        out = []
        for s in self.seasons:
            lo, hi = season_bounds(s)
            if lo <= end and start <= hi:
                out.append(s)
        return out

    def game_logs(self, mode: str, start: date, end: date) -> pl.DataFrame:
        """Box scores of games played between start and end (inclusive) and before today."""
        frames = []
        for s in self._seasons_between(start, end):
            box = simulate_season(self.seed, s, self.pace_change)
            logs = box.player_logs if mode == "player" else box.team_logs
            frames.append(
                logs.filter(
                    pl.col("GAME_DATE").is_between(start, end) & (pl.col("GAME_DATE") < self.today)
                )
            )
        if not frames:
            return empty_game_log(mode)
        return pl.concat(frames)

    def schedule(self, start: date, end: date) -> pl.DataFrame:
        """Games scheduled between start and end, played or not (`played` says which)."""
        frames = [
            season_schedule(self.seed, s).filter(pl.col("game_date").is_between(start, end))
            for s in self._seasons_between(start, end)
        ]
        schema = {
            "game_id": pl.String,
            "game_date": pl.Date,
            "home_team_id": pl.Int64,
            "away_team_id": pl.Int64,
        }
        out = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
        return out.with_columns(played=pl.col("game_date") < self.today)

    def prop_lines(self, start: date, end: date, book: BookSettings | None = None) -> pl.DataFrame:
        """The simulated sportsbook's quotes (core.synthetic.book) for games from start to end:
        both snapshots for games before today, the morning one for today's, none later."""
        calls = [
            (self.seed, s, book or BookSettings(), self.today, self.pace_change, start, end)
            for s in self._seasons_between(start, end)
        ]
        if len(calls) > 1:
            # each season's book is its own seeded replay (a full season ~13 s): on both cores
            # at once, the same quotes (tested) in about half the time
            from joblib import Parallel, delayed

            frames = Parallel(n_jobs=2)(delayed(season_quotes)(*c) for c in calls)
        else:
            frames = [season_quotes(*c) for c in calls]
        return pl.concat(frames) if frames else pl.DataFrame(schema=LINE_COLUMNS)

    def line_dates(self) -> tuple[date, date] | None:
        """The first and last game date the book has quoted (today's games included)."""
        days = self.schedule(date.min, self.today)["game_date"]
        return (days.min(), days.max()) if days.len() else None
