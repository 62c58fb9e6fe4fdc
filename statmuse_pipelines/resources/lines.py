"""Where betting lines come from: a file or folder of real sportsbook quotes, or proxies."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.core.lines import read_lines


class LinesResource(dg.ConfigurableResource):
    """STATMUSE_LINES: `proxy` (labelled synthetic lines) or a file/folder of prop lines in the
    schema of ../shared/data/nba/prop_lines (player name, date, market, line, book, odds, ...)."""

    source: str = Field(default="proxy", description="'proxy' or a path to prop-line files")

    def is_proxy(self) -> bool:
        return self.source.strip().lower() == "proxy"

    def quotes(self) -> pl.DataFrame:
        return read_lines(Path(self.source).expanduser())

    def dates(self) -> tuple[date, date] | None:
        """The first and last game date the source has lines for (None for proxies or none)."""
        if self.is_proxy():
            return None
        days = self.quotes()["game_date"].drop_nulls()
        return (days.min(), days.max()) if days.len() else None

    def describe(self) -> str:
        if self.is_proxy():
            return (
                "proxy lines (recent median to the next .5, priced by a naive last-10-games book;"
                " labelled proxy)"
            )
        return f"sportsbook lines in {Path(self.source).expanduser().resolve()}"
