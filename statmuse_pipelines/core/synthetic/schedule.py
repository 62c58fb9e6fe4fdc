"""An 82-game regular-season schedule: who plays whom, where and when.

The matchups follow the NBA formula (4 games against each division rival, 4 or 3 against the other
conference teams, 2 against the other conference: 41 home and 41 away for everyone). Dates run from
opening night (late October) to mid April with no games on Thanksgiving, Christmas Eve or during
the All-Star break; a team never plays three days in a row, and back-to-backs happen about as
often as in the NBA (a dozen or so per team).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from statmuse_pipelines.core.synthetic.league import opening_day
from statmuse_pipelines.core.teams import teams

SEASON_DAYS = 174  # opening night to the last day of the regular season


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def game_days(season: int) -> list[date]:
    """The days on which regular-season games may be played."""
    start = opening_day(season)
    end = start + timedelta(days=SEASON_DAYS)
    thanksgiving = _nth_weekday(season, 11, 3, 4)
    all_star_sunday = _nth_weekday(season + 1, 2, 6, 3)
    off = {thanksgiving, date(season, 12, 24)}
    off |= {all_star_sunday + timedelta(days=k) for k in range(-2, 4)}
    return [
        start + timedelta(days=i)
        for i in range((end - start).days + 1)
        if start + timedelta(days=i) not in off
    ]


def matchups(season: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The 1,230 (home_team_id, away_team_id) games of a season, in no particular order."""
    t = teams()
    games: list[tuple[int, int]] = []
    by_conf: dict[str, list[list[int]]] = {}
    for conf in ("East", "West"):
        divisions = []
        for div in sorted(t.filter(pl.col("conference") == conf)["division"].unique()):
            ids = t.filter(pl.col("division") == div)["team_id"].to_list()
            divisions.append([int(x) for x in rng.permutation(ids)])
        by_conf[conf] = divisions
    for divisions in by_conf.values():
        # division rivals: four games, two at each end
        for div in divisions:
            for i, a in enumerate(div):
                for b in div[i + 1 :]:
                    games += [(a, b), (a, b), (b, a), (b, a)]
        # other conference teams: three games against four of them (a 4-regular graph whose
        # orientation gives everyone two extra home games and two extra road games), four against
        # the other six
        three: set[frozenset[int]] = set()
        for d in range(3):
            for i in range(5):
                a = divisions[d][i]
                for b, home_first in (
                    (divisions[(d + 1) % 3][i], True),
                    (divisions[(d + 1) % 3][(i + 1) % 5], True),
                ):
                    three.add(frozenset((a, b)))
                    games += [(a, b), (a, b), (b, a)] if home_first else [(b, a), (b, a), (a, b)]
        for d1 in range(3):
            for d2 in range(d1 + 1, 3):
                for a in divisions[d1]:
                    for b in divisions[d2]:
                        if frozenset((a, b)) not in three:
                            games += [(a, b), (a, b), (b, a), (b, a)]
    east = [x for div in by_conf["East"] for x in div]
    west = [x for div in by_conf["West"] for x in div]
    for a in east:
        for b in west:
            games += [(a, b), (b, a)]
    return games


@lru_cache(maxsize=16)
def season_schedule(seed: int, season: int) -> pl.DataFrame:
    """Every regular-season game of `season`: game_id, game_date, home_team_id, away_team_id.

    GAME_IDs are numbered in date order as NBA.com does ("00223" + 5 digits for 2023-24).
    """
    rng = np.random.default_rng([seed, season, 10])
    pending = matchups(season, rng)
    order = rng.permutation(len(pending))
    pending = [pending[i] for i in order]
    days = game_days(season)
    total = len(pending)
    played: dict[int, int] = {}
    last: dict[int, date] = {}
    before_last: dict[int, date] = {}
    for h, a in pending:
        played[h] = played.get(h, 0)
        played[a] = played.get(a, 0)
    out: list[tuple[date, int, int]] = []
    day_index = 0
    while pending:
        if day_index < len(days):
            day = days[day_index]
            progress = (day_index + 1) / len(days)
        else:  # rare: spill over past the planned last day
            day = days[-1] + timedelta(days=day_index - len(days) + 1)
            progress = 1.0
        day_index += 1
        target_total = round(total * progress)
        jitter = int(rng.integers(-2, 3))
        want = max(1, min(14, target_total - len(out) + jitter))
        expected = 82 * progress

        def urgency(team: int, day: date = day, expected: float = expected) -> float:
            behind = expected - played[team]
            if last.get(team) == day - timedelta(days=1):
                behind -= 1.5  # back-to-backs allowed, but not preferred
            return behind

        scored = []
        for idx, (h, a) in enumerate(pending):
            yesterday = day - timedelta(days=1)
            if (last.get(h) == yesterday and before_last.get(h) == day - timedelta(days=2)) or (
                last.get(a) == yesterday and before_last.get(a) == day - timedelta(days=2)
            ):
                continue  # never three days in a row
            scored.append((urgency(h) + urgency(a) + float(rng.normal(0.0, 1.0)), idx))
        scored.sort(reverse=True)
        busy: set[int] = set()
        chosen: list[int] = []
        for _, idx in scored:
            h, a = pending[idx]
            if h in busy or a in busy:
                continue
            busy |= {h, a}
            chosen.append(idx)
            if len(chosen) >= want:
                break
        for idx in sorted(chosen, reverse=True):
            h, a = pending.pop(idx)
            out.append((day, h, a))
            for team in (h, a):
                played[team] += 1
                before_last[team] = last.get(team, date.min)
                last[team] = day
    out.sort(key=lambda g: (g[0], g[1]))
    yy = season % 100
    return pl.DataFrame(
        {
            "game_id": [f"002{yy:02d}{i + 1:05d}" for i in range(len(out))],
            "game_date": [g[0] for g in out],
            "home_team_id": [g[1] for g in out],
            "away_team_id": [g[2] for g in out],
        },
        schema={
            "game_id": pl.String,
            "game_date": pl.Date,
            "home_team_id": pl.Int64,
            "away_team_id": pl.Int64,
        },
    )
