"""Careers of simulated players: draft, aging, retirement, free agency and mid-season trades.

A season's league is a pure function of (seed, season): careers evolve season by season from
`ORIGIN_SEASON`, each step drawing from a generator seeded with (seed, season, stream), so asking
for 2025-26 alone gives the same league as asking for 2023-24 first. No game is simulated here:
rosters and trades are decided before (and independently of) the games.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from statmuse_pipelines.core.synthetic.names import FIRST_NAMES, LAST_NAMES
from statmuse_pipelines.core.teams import teams

ORIGIN_SEASON = 2005
ROSTER_SIZE = 15
ROOKIES_PER_SEASON = 62
FIRST_PLAYER_ID = 2_000_001  # well above NBA.com's ids, so synthetic ids never look real

# stream ids for independent random draws of one season
_S_OFFSEASON, _S_ROOKIES, _S_TRADES, _S_TEAMS = 1, 2, 3, 4

_POSITION_STYLE = {
    # usage, three_rate, p2, p3, ft_pct, ft_trip_rate, tov_rate, oreb, dreb, ast, stl, blk, pf
    "G": (0.205, 0.43, 0.505, 0.362, 0.81, 0.105, 0.132, 0.45, 0.80, 2.30, 1.15, 0.35, 0.95),
    "F": (0.190, 0.36, 0.525, 0.355, 0.77, 0.110, 0.112, 1.00, 1.10, 1.05, 1.00, 0.80, 1.00),
    "C": (0.180, 0.11, 0.590, 0.330, 0.69, 0.140, 0.132, 2.50, 1.85, 0.85, 0.80, 2.40, 1.20),
}
_POSITIONS = ("G", "F", "C")
_POSITION_P = (0.42, 0.35, 0.23)


@dataclass(frozen=True)
class Player:
    player_id: int
    name: str
    position: str
    birth_year: int
    quality: float  # latent overall skill, ~N(0, 1) among rostered players
    usage: float  # share of on-court plays used, before the quality adjustment
    three_rate: float  # share of field-goal attempts taken from three
    p2: float
    p3: float
    ft_pct: float
    ft_trip_rate: float  # share of used plays that end in free throws
    tov_rate: float  # share of used plays that end in a turnover
    oreb_w: float  # relative weights for sharing the team's rebounds, assists, ...
    dreb_w: float
    ast_w: float
    stl_w: float
    blk_w: float
    pf_w: float
    injury_prone: float  # multiplier on the per-game injury hazard


@dataclass(frozen=True)
class Stint:
    player_id: int
    team_id: int
    start: date  # first day on the team (inclusive)
    end: date  # last day on the team (inclusive)


@dataclass(frozen=True)
class SeasonLeague:
    season: int
    players: dict[int, Player]  # everyone on a roster at some point of the season
    stints: tuple[Stint, ...]
    trades: tuple[tuple[date, int, int, int], ...]  # (date, player_id, from_team, to_team)
    team_pace: dict[int, float]  # possessions per 48 minutes
    team_defense: dict[int, float]  # multiplier on opponents' shooting (lower = better defense)

    def roster_on(self, team_id: int, day: date) -> list[int]:
        return [
            s.player_id for s in self.stints if s.team_id == team_id and s.start <= day <= s.end
        ]


@dataclass(frozen=True)
class _State:
    """Careers at the end of a season: everyone still in the league, and their team (or None)."""

    season: int
    players: dict[int, Player]
    team_of: dict[int, int | None]
    next_id: int
    used_names: frozenset[str]


def _rng(seed: int, season: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, season, stream])


def _new_player(
    rng: np.random.Generator, player_id: int, name: str, birth_year: int, quality: float
) -> Player:
    position = _POSITIONS[int(rng.choice(3, p=_POSITION_P))]
    u, tr, p2, p3, ft, ftr, tov, oreb, dreb, ast, stl, blk, pf = _POSITION_STYLE[position]

    def lognormal(scale: float, sd: float) -> float:
        return float(scale * rng.lognormal(0.0, sd))

    return Player(
        player_id=player_id,
        name=name,
        position=position,
        birth_year=birth_year,
        quality=quality,
        usage=float(np.clip(rng.normal(u, 0.04), 0.11, 0.33)),
        three_rate=float(np.clip(rng.normal(tr, 0.13 if position != "C" else 0.1), 0.0, 0.85)),
        p2=float(np.clip(rng.normal(p2, 0.035), 0.40, 0.70)),
        p3=float(np.clip(rng.normal(p3, 0.03), 0.25, 0.44)),
        ft_pct=float(np.clip(rng.normal(ft, 0.07), 0.45, 0.95)),
        ft_trip_rate=float(np.clip(rng.normal(ftr, 0.04), 0.03, 0.25)),
        tov_rate=float(np.clip(rng.normal(tov, 0.02), 0.06, 0.2)),
        oreb_w=lognormal(oreb, 0.35),
        dreb_w=lognormal(dreb, 0.25),
        ast_w=lognormal(ast, 0.45),
        stl_w=lognormal(stl, 0.3),
        blk_w=lognormal(blk, 0.45),
        pf_w=lognormal(pf, 0.2),
        injury_prone=lognormal(1.0, 0.5),
    )


def _unique_name(rng: np.random.Generator, used: set[str]) -> str:
    for _ in range(50):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name not in used:
            used.add(name)
            return name
    base = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    for suffix in (" Jr.", " II", " III", " IV"):
        if base + suffix not in used:
            used.add(base + suffix)
            return base + suffix
    raise RuntimeError("ran out of synthetic names")


def _age_delta(age: int) -> float:
    """Mean change of latent quality over a summer, by age: rise, plateau, decline."""
    if age <= 21:
        return 0.30
    if age <= 24:
        return 0.18
    if age <= 27:
        return 0.06
    if age <= 30:
        return -0.04
    if age <= 33:
        return -0.15
    return -0.30


def _fill_rosters(
    rng: np.random.Generator, players: dict[int, Player], team_of: dict[int, int | None]
) -> None:
    """Teams in random order sign the best available free agents until each has 15."""
    team_ids = teams()["team_id"].to_list()
    counts = {t: 0 for t in team_ids}
    for t in team_of.values():
        if t is not None:
            counts[t] += 1
    free = [pid for pid, t in team_of.items() if t is None]
    # teams see quality through a noisy lens (scouting)
    appeal = {pid: players[pid].quality + rng.normal(0.0, 0.45) for pid in free}
    free.sort(key=lambda pid: -appeal[pid])
    order = list(rng.permutation(team_ids))
    it = iter(free)
    while any(counts[t] < ROSTER_SIZE for t in order):
        for t in order:
            if counts[t] < ROSTER_SIZE:
                pid = next(it)
                team_of[pid] = int(t)
                counts[t] += 1


def _origin(seed: int) -> _State:
    rng = _rng(seed, ORIGIN_SEASON, 0)
    used: set[str] = set()
    players: dict[int, Player] = {}
    next_id = FIRST_PLAYER_ID
    for _ in range(30 * ROSTER_SIZE + 60):
        age = int(rng.integers(19, 36))
        quality = float(rng.normal(0.0, 1.0) - 0.05 * abs(age - 27))
        p = _new_player(rng, next_id, _unique_name(rng, used), ORIGIN_SEASON - age, quality)
        players[p.player_id] = p
        next_id += 1
    team_of: dict[int, int | None] = dict.fromkeys(players)
    _fill_rosters(rng, players, team_of)
    return _State(ORIGIN_SEASON - 1, players, team_of, next_id, frozenset(used))


def _offseason(seed: int, prev: _State, season: int) -> tuple[dict[int, Player], dict, int, set]:
    """Age, retire, draft and re-sign: the league as it opens `season`."""
    rng = _rng(seed, season, _S_OFFSEASON)
    players: dict[int, Player] = {}
    team_of: dict[int, int | None] = {}
    for pid in sorted(prev.players):
        p = prev.players[pid]
        age = season - p.birth_year
        was_rostered = prev.team_of.get(pid) is not None
        retire_p = 0.02 if age < 30 else 0.08 if age < 33 else 0.3 if age < 36 else 0.7
        if not was_rostered:
            retire_p = max(retire_p, 0.45)
        if rng.random() < retire_p:
            continue
        quality = p.quality + _age_delta(age) + rng.normal(0.0, 0.3)
        # style drifts a little from year to year
        players[pid] = replace(
            p,
            quality=float(quality),
            usage=float(np.clip(p.usage + rng.normal(0.0, 0.006), 0.11, 0.30)),
            three_rate=float(np.clip(p.three_rate + rng.normal(0.005, 0.02), 0.0, 0.85)),
        )
        stays = was_rostered and rng.random() < 0.72
        team_of[pid] = prev.team_of[pid] if stays else None
    used = set(prev.used_names)
    next_id = prev.next_id
    rrng = _rng(seed, season, _S_ROOKIES)
    for _ in range(ROOKIES_PER_SEASON):
        age = int(rrng.integers(19, 23))
        quality = float(rrng.normal(-0.9, 0.75))
        p = _new_player(rrng, next_id, _unique_name(rrng, used), season - age, quality)
        players[p.player_id] = p
        team_of[p.player_id] = None
        next_id += 1
    _fill_rosters(rng, players, team_of)
    return players, team_of, next_id, used


def opening_day(season: int) -> date:
    """Opening night: the Tuesday on or after October 18 of the start year."""
    d = date(season, 10, 18)
    return d + timedelta(days=(1 - d.weekday()) % 7)


def _trades(
    seed: int, season: int, team_of: dict[int, int | None], players: dict[int, Player]
) -> list[tuple[date, int, int, int]]:
    """One-for-one swaps between December 15 and the deadline (first Thursday of February)."""
    rng = _rng(seed, season, _S_TRADES)
    start = date(season, 12, 15)
    deadline = date(season + 1, 2, 1)
    deadline += timedelta(days=(3 - deadline.weekday()) % 7)
    roster: dict[int, list[int]] = {}
    for pid, t in sorted(team_of.items()):
        if t is not None:
            roster.setdefault(t, []).append(pid)
    out: list[tuple[date, int, int, int]] = []
    n = int(rng.poisson(14))
    days = sorted(
        start + timedelta(days=int(x)) for x in rng.integers(0, (deadline - start).days + 1, n)
    )

    def pick(team: int) -> int:
        # stars rarely move: pick among the team's 4th to 13th best
        ranked = sorted(roster[team], key=lambda pid: -players[pid].quality)
        return int(rng.choice(ranked[3:13]))

    for day in days:
        a, b = (int(x) for x in rng.choice(sorted(roster), 2, replace=False))
        pa, pb = pick(a), pick(b)
        roster[a].remove(pa)
        roster[b].remove(pb)
        roster[a].append(pb)
        roster[b].append(pa)
        out.append((day, pa, a, b))
        out.append((day, pb, b, a))
    return out


@lru_cache(maxsize=64)
def _state(seed: int, season: int) -> _State:
    """Careers at the end of `season` (after its trades)."""
    if season < ORIGIN_SEASON:
        raise ValueError(f"the synthetic league starts in {ORIGIN_SEASON}; asked for {season}")
    prev = _origin(seed) if season == ORIGIN_SEASON else _state(seed, season - 1)
    players, team_of, next_id, used = _offseason(seed, prev, season)
    end_team = dict(team_of)
    for _day, pid, _src, dst in _trades(seed, season, team_of, players):
        end_team[pid] = dst
    return _State(season, players, end_team, next_id, frozenset(used))


@lru_cache(maxsize=16)
def season_league(seed: int, season: int) -> SeasonLeague:
    """The league of one season: players, their stints with teams, trades, team pace/defense."""
    prev = _origin(seed) if season == ORIGIN_SEASON else _state(seed, season - 1)
    players, team_of, _next_id, _used = _offseason(seed, prev, season)
    trades = _trades(seed, season, team_of, players)
    first, last = date(season, 7, 1), date(season + 1, 6, 30)
    current = {pid: (t, first) for pid, t in team_of.items() if t is not None}
    stints: list[Stint] = []
    for day, pid, src, dst in trades:
        t, since = current[pid]
        assert t == src
        stints.append(Stint(pid, t, since, day - timedelta(days=1)))
        current[pid] = (dst, day)
    for pid, (t, since) in sorted(current.items()):
        stints.append(Stint(pid, t, since, last))
    rostered = {s.player_id for s in stints}
    rng = _rng(seed, season, _S_TEAMS)
    team_ids = teams()["team_id"].to_list()
    pace = {int(t): float(rng.normal(99.5, 2.3)) for t in team_ids}
    defense = {int(t): float(rng.normal(1.0, 0.025)) for t in team_ids}
    return SeasonLeague(
        season=season,
        players={pid: players[pid] for pid in sorted(rostered)},
        stints=tuple(sorted(stints, key=lambda s: (s.team_id, s.start, s.player_id))),
        trades=tuple(trades),
        team_pace=pace,
        team_defense=defense,
    )
