"""Game-log sources: one ConfigurableResource per place box scores come from.

All of them answer `fetch(mode, start, end)` with rows in the nba_api LeagueGameLog format
(mode 'player' or 'team'), typed by `core.gamelog.coerce_game_log`, for games played from start to
end inclusive. The assets do not know which source they talk to.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import requests
from pydantic import Field

from statmuse_pipelines.core.deadline import DeadlineExceeded, call_within
from statmuse_pipelines.core.files import load_range
from statmuse_pipelines.core.gamelog import GameLogError, coerce_game_log, empty_game_log
from statmuse_pipelines.core.normalize import SCHEDULE_SCHEMA, schedule_from_team_logs
from statmuse_pipelines.core.seasons import (
    KEPT_GAME_TYPES,
    season_bounds,
    season_label,
    season_of_date,
)
from statmuse_pipelines.core.synthetic import SyntheticLeague, default_seasons
from statmuse_pipelines.settings import league_today

log = logging.getLogger(__name__)


class GameLogSource(dg.ConfigurableResource):
    """Base class: where player and team box scores come from."""

    def fetch(self, mode: str, start: date, end: date) -> pl.DataFrame:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def schedule(self, start: date, end: date) -> pl.DataFrame:
        """Games scheduled from start to end: game_id, game_date, season, home/away team ids."""
        raise NotImplementedError


class SyntheticGameLogSource(GameLogSource):
    """A seeded simulated league (the default source): same seed, same league."""

    seed: int = Field(default=7, description="seed of the simulated league")
    seasons: int = Field(default=3, description="number of seasons, the last one today's")
    today: str | None = Field(
        default=None,
        description="ISO date the league treats as today (games before it have results); "
        "default: today in America/New_York",
    )

    pace_change_from: str | None = Field(
        default=None, description="ISO date from which games are played at pace_change x pace"
    )
    pace_change: float = Field(default=1.0, description="pace multiplier (a regime change)")

    def league(self) -> SyntheticLeague:
        today = date.fromisoformat(self.today) if self.today else league_today()
        regime = (
            (date.fromisoformat(self.pace_change_from), self.pace_change)
            if self.pace_change_from and self.pace_change != 1.0
            else None
        )
        return SyntheticLeague(self.seed, default_seasons(today, self.seasons), today, regime)

    def fetch(self, mode: str, start: date, end: date) -> pl.DataFrame:
        return self.league().game_logs(mode, start, end)

    def schedule(self, start: date, end: date) -> pl.DataFrame:
        games = self.league().schedule(start, end)
        year = pl.col("game_id").str.slice(3, 2).cast(pl.Int32) + 2000
        label = pl.format("{}-{}", year, ((year + 1) % 100).cast(pl.String).str.zfill(2))
        return games.select(
            "game_id", "game_date", label.alias("season"), "home_team_id", "away_team_id"
        )

    def describe(self) -> str:
        league = self.league()
        first, last = league.seasons[0], league.seasons[-1]
        return (
            f"synthetic league (seed {self.seed}, seasons {season_label(first)}.."
            f"{season_label(last)}, today {league.today})"
        )


class FilesGameLogSource(GameLogSource):
    """Replays a folder of nba_api exports (player and team logs, CSV or parquet)."""

    directory: str = Field(description="folder holding player_game_logs/ and team_game_logs/")

    def fetch(self, mode: str, start: date, end: date) -> pl.DataFrame:
        return load_range(Path(self.directory).expanduser(), mode, start, end)

    def describe(self) -> str:
        return f"nba_api exports in {Path(self.directory).expanduser().resolve()}"

    def schedule(self, start: date, end: date) -> pl.DataFrame:
        """Replaying exports, the slate of a day is the games its team logs hold."""
        return schedule_from_team_logs(self.fetch("team", start, end))


# --- live nba_api ---------------------------------------------------------------------------

_SEASON_TYPES = (
    # (nba_api SeasonType value, first month-day, last month-day) of where such games can fall
    ("Regular Season", (10, 1), (4, 30)),
    ("PlayIn", (4, 1), (4, 30)),
    ("Playoffs", (4, 1), (6, 30)),
)
_spacing_lock = threading.Lock()
_last_call = [0.0]


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After given in seconds (an HTTP date is ignored: the backoff applies)."""
    try:
        return max(float(retry_after), 0.0) if retry_after is not None else None
    except ValueError:
        return None


def _sleep(seconds: float) -> None:
    """Pause (a seam for tests, which record the pauses instead of waiting)."""
    time.sleep(seconds)


class NbaApiUnavailable(RuntimeError):
    """stats.nba.com did not answer usefully after every retry."""


class NbaApiUnreachable(NbaApiUnavailable):
    """The first call of a run could not connect at all: retrying for minutes will not help."""


class NbaApiSettingsError(ValueError):
    """The source's own settings are wrong (a typo in headers_json, say): never retried."""


# the longest a Retry-After of stats.nba.com is honoured for
MAX_RETRY_AFTER_SECONDS = 120.0


class _Recording:
    """nba_api's HTTP session, recording each answer's status and Retry-After (nba_api keeps
    only the text)."""

    def __init__(self, inner):
        self.inner, self.status, self.retry_after = inner, None, None

    def get(self, *args, **kwargs):
        response = self.inner.get(*args, **kwargs)
        self.status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None) or {}
        self.retry_after = headers.get("Retry-After")
        return response


class NbaApiGameLogSource(GameLogSource):
    """Live stats.nba.com through nba_api's LeagueGameLog: one call per season type and date range.

    stats.nba.com hangs on blocked addresses (a timeout, not an error), throttles bursts and
    sometimes answers with an HTML page: every call has a timeout and a deadline, calls are
    spaced, and failures are retried with exponential backoff (or after the Retry-After the
    server asks for) before giving up with a message that says what happened, HTTP status
    included. A run whose first call cannot connect at all fails at once.
    """

    timeout_seconds: float = Field(default=30.0, description="per-read timeout of a request")
    deadline_seconds: float = Field(
        default=90.0, description="the longest one request may take in all (a trickled answer)"
    )
    max_attempts: int = Field(default=4, description="attempts per call before giving up")
    backoff_seconds: float = Field(default=2.0, description="first retry delay; doubles each time")
    min_interval_seconds: float = Field(default=0.6, description="minimum spacing between calls")
    proxy: str | None = Field(default=None, description="HTTP(S) proxy URL for stats.nba.com")
    headers_json: str | None = Field(
        default=None, description="JSON object of request headers replacing nba_api's defaults"
    )

    def describe(self) -> str:
        return "stats.nba.com via nba_api LeagueGameLog"

    def _headers(self) -> dict[str, str] | None:
        if not self.headers_json:
            return None
        try:
            headers = json.loads(self.headers_json)
        except ValueError as exc:
            raise NbaApiSettingsError(
                f"nba_api source: headers_json is not valid JSON ({exc}); expected an object "
                'such as {"User-Agent": "...", "Referer": "https://www.nba.com/"}'
            ) from None
        if not isinstance(headers, dict):
            raise NbaApiSettingsError(
                f"nba_api source: headers_json must be a JSON object, not {type(headers).__name__}"
            )
        return headers

    def _wait_for_slot(self) -> None:
        with _spacing_lock:
            wait = _last_call[0] + self.min_interval_seconds - time.monotonic()
            if wait > 0:
                _sleep(wait)
            _last_call[0] = time.monotonic()

    def _request(self, what: str, make, first: bool) -> Any:
        """`make(headers)` (an nba_api endpoint call returning its data), retried: timeouts,
        refused connections, HTML or truncated JSON, throttling. `first`: the run's first call,
        which fails at once when nothing answers at all."""
        from nba_api.stats.library.http import NBAStatsHTTP

        headers = self._headers()  # a settings error is not a network failure
        last_error: Exception | None = None
        status = None
        for attempt in range(1, self.max_attempts + 1):
            self._wait_for_slot()
            recording = _Recording(NBAStatsHTTP.get_session())
            NBAStatsHTTP.set_session(recording)
            try:
                return call_within(self.deadline_seconds, lambda: make(headers))
            except (
                requests.RequestException, DeadlineExceeded, ValueError, KeyError, TypeError
            ) as exc:  # fmt: skip
                # RequestException: timeouts, refused connections; ValueError: an HTML page or
                # truncated JSON instead of data; KeyError/TypeError: JSON of another shape
                last_error, status = exc, recording.status
                cannot_connect = isinstance(exc, requests.ConnectionError) and not isinstance(
                    exc, requests.ReadTimeout
                )
                if first and attempt == 1 and cannot_connect:
                    raise NbaApiUnreachable(
                        f"{what}: cannot connect to stats.nba.com ({exc}); check the network "
                        "or set a proxy (proxy=...): not retried, this run fails now"
                    ) from exc
                if attempt < self.max_attempts:
                    delay = self.backoff_seconds * 2 ** (attempt - 1)
                    asked = _seconds(recording.retry_after)
                    if asked is not None:
                        delay = min(max(delay, asked), MAX_RETRY_AFTER_SECONDS)
                    http = f"HTTP {status}, " if status else ""
                    log.warning("%s failed (%s%s); retry %d in %.1fs", what, http, exc, attempt,
                                delay)  # fmt: skip
                    _sleep(delay)
            finally:
                NBAStatsHTTP.set_session(recording.inner)
        http = f"HTTP {status}; " if status else ""
        raise NbaApiUnavailable(
            f"{what}: no usable answer after {self.max_attempts} attempts "
            f"(timeout {self.timeout_seconds:g}s per read, {self.deadline_seconds:g}s per call); "
            f"{http}last error: {last_error!r}. "
            "stats.nba.com times out for blocked networks: try a proxy (proxy=...)."
        ) from last_error

    def _call(
        self, mode: str, season: int, season_type: str, start: date, end: date, first: bool = False
    ) -> list:
        """One LeagueGameLog request, retried; returns (what, headers, rows)."""
        from nba_api.stats.endpoints.leaguegamelog import LeagueGameLog

        what = (
            f"nba_api LeagueGameLog {mode} {season_label(season)} {season_type} "
            f"{start.isoformat()}..{end.isoformat()}"
        )

        def make(headers):
            endpoint = LeagueGameLog(
                player_or_team_abbreviation="P" if mode == "player" else "T",
                season=season_label(season),
                season_type_all_star=season_type,
                date_from_nullable=start.strftime("%m/%d/%Y"),
                date_to_nullable=end.strftime("%m/%d/%Y"),
                proxy=self.proxy,
                headers=headers,
                timeout=self.timeout_seconds,
            )
            payload: dict[str, Any] = endpoint.league_game_log.get_dict()
            return [what, payload["headers"], payload["data"]]

        return self._request(what, make, first)

    def schedule(self, start: date, end: date) -> pl.DataFrame:
        """The scoreboard of each day (ScoreboardV2's GameHeader: one call per day)."""
        from nba_api.stats.endpoints.scoreboardv2 import ScoreboardV2

        rows = []
        day = start
        while day <= end:

            def make(headers, day=day):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # its line scores; the header is fine
                    board = ScoreboardV2(
                        game_date=day.isoformat(),
                        proxy=self.proxy,
                        headers=headers,
                        timeout=self.timeout_seconds,
                    )
                return board.game_header.get_dict()

            header = self._request(f"nba_api ScoreboardV2 {day.isoformat()}", make, day == start)
            cols = header["headers"]
            for r in header["data"]:
                g = dict(zip(cols, r, strict=False))
                gid = str(g["GAME_ID"]).zfill(10)
                if gid[:3] not in KEPT_GAME_TYPES:
                    continue
                start_year = int(str(g["SEASON"])[:4])
                rows.append(
                    {
                        "game_id": gid,
                        "game_date": day,
                        "season": season_label(start_year),
                        "home_team_id": int(g["HOME_TEAM_ID"]),
                        "away_team_id": int(g["VISITOR_TEAM_ID"]),
                    }
                )
            day += timedelta(days=1)
        return pl.DataFrame(rows, schema=SCHEDULE_SCHEMA)

    def requests_for(self, start: date, end: date) -> list[tuple[int, str, date, date]]:
        """The (season, season type, from, to) calls that cover start..end."""
        out = []
        for season in range(season_of_date(start), season_of_date(end) + 1):
            lo, hi = season_bounds(season)
            lo, hi = max(lo, start), min(hi, end)
            for season_type, (m1, d1), (m2, d2) in _SEASON_TYPES:
                first = date(season if m1 >= 7 else season + 1, m1, d1)
                last = date(season if m2 >= 7 else season + 1, m2, d2)
                a, b = max(lo, first), min(hi, last)
                if a <= b:
                    out.append((season, season_type, a, b))
        return out

    def fetch(self, mode: str, start: date, end: date) -> pl.DataFrame:
        frames = []
        for i, (season, season_type, a, b) in enumerate(self.requests_for(start, end)):
            what, headers, rows = self._call(mode, season, season_type, a, b, first=i == 0)
            if not rows:
                continue
            # every value as text, as from a CSV: coerce_game_log types it and names bad values
            text = [[None if v is None else str(v) for v in row] for row in rows]
            raw = pl.DataFrame(text, schema=dict.fromkeys(headers, pl.String), orient="row")
            frames.append(coerce_game_log(raw, mode, what))
        if not frames:
            return empty_game_log(mode)
        return pl.concat(frames).filter(pl.col("GAME_DATE").is_between(start, end))


__all__ = [
    "FilesGameLogSource",
    "GameLogError",
    "GameLogSource",
    "NbaApiGameLogSource",
    "NbaApiSettingsError",
    "NbaApiUnavailable",
    "NbaApiUnreachable",
    "SyntheticGameLogSource",
]
