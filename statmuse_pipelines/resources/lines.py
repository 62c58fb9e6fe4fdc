"""Where betting lines come from: the synthetic league's simulated book, a file or folder of
real sportsbook quotes, or proxies."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.core.lines import read_lines
from statmuse_pipelines.core.synthetic import BookSettings
from statmuse_pipelines.resources.sources import SyntheticGameLogSource


class LinesResource(dg.ConfigurableResource):
    """STATMUSE_LINES: `synthetic` (the synthetic league's simulated sportsbook), `proxy`
    (labelled lines of a naive book) or a file/folder of prop lines in the schema of
    ../shared/data/nba/prop_lines (player name, date, market, line, book, odds, ...)."""

    source: str = Field(
        default="proxy", description="'synthetic', 'proxy' or a path to prop-line files"
    )
    league: SyntheticGameLogSource | None = Field(
        default=None, description="the synthetic league whose book `synthetic` lines come from"
    )
    book_error: float = Field(
        default=BookSettings().error,
        description="the simulated book's opening error, in standard deviations of the player's "
        "night (0: the book knows each player's true distribution)",
    )

    def is_proxy(self) -> bool:
        return self.source.strip().lower() == "proxy"

    def is_synthetic(self) -> bool:
        return self.source.strip().lower() == "synthetic"

    def _league(self):
        if self.league is None:
            raise dg.Failure("STATMUSE_LINES=synthetic needs the synthetic game-log source")
        return self.league.league()

    def quotes(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The quotes of games from start to end (default: all the source has)."""
        lo, hi = start or date.min, end or date.max
        if self.is_synthetic():
            return self._league().prop_lines(lo, hi, BookSettings(error=self.book_error))
        quotes = read_lines(Path(self.source).expanduser())
        return (
            quotes
            if start is None and end is None
            else (quotes.filter(pl.col("game_date").is_between(lo, hi)))
        )

    def dates(self) -> tuple[date, date] | None:
        """The first and last game date the source has lines for (None for proxies or none)."""
        if self.is_proxy():
            return None
        if self.is_synthetic():
            return self._league().line_dates()
        days = self.quotes()["game_date"].drop_nulls()
        return (days.min(), days.max()) if days.len() else None

    def describe(self) -> str:
        if self.is_proxy():
            return (
                "proxy lines (recent median to the next .5, priced by a naive last-10-games book;"
                " labelled proxy)"
            )
        if self.is_synthetic():
            return (
                f"the synthetic league's simulated sportsbook (book error {self.book_error:g} sd;"
                " simulated quotes, not a real book's)"
            )
        return f"sportsbook lines in {Path(self.source).expanduser().resolve()}"
