"""Play a season of the synthetic league: box scores for every player and team.

Each game: both teams' available players (injuries and rest days removed) get minutes by their
place in the rotation; possessions come from both teams' pace; each player uses a share of the
team's plays set by usage, and each play ends in a turnover, a trip to the line or a shot whose
make probability depends on the shooter, the opponent's defense, home court and fatigue.
Rebounds, assists, steals, blocks and fouls are team totals drawn from the shots and turnovers,
then shared out among the players on the floor. Team box scores are the sums of the players', so
every identity a box score obeys (PTS = 2*FGM + FG3M + FTM, REB = OREB + DREB, team = sum of
players) holds exactly.

Known ground truth (for tests that models learn what was put in): home teams shoot ~1.2% better
and road teams ~1.2% worse, the second night of a back-to-back costs ~2% shooting and ~6% of
starters' minutes, a team's defense multiplies its opponents' make probabilities, and every
player has a latent in-season trend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from statmuse_pipelines.core.gamelog import PLAYER_LOG_SCHEMA, TEAM_LOG_SCHEMA
from statmuse_pipelines.core.synthetic.league import Player, season_league
from statmuse_pipelines.core.synthetic.schedule import season_schedule
from statmuse_pipelines.core.teams import ABBREVIATION_BY_ID, TEAM_NAME_BY_ID

# Planned minutes by rank in the healthy rotation (the best player first)
MINUTES_BY_RANK = np.array(
    [35.5, 34.0, 32.5, 30.5, 28.0, 24.0, 20.5, 17.0, 14.0, 11.0, 8.0, 5.0, 4.0, 3.5, 3.0]
)
# Probability of getting on the floor at all, by rank (deep bench: garbage time only)
APPEARS_BY_RANK = np.array([1, 1, 1, 1, 1, 1, 1, 0.99, 0.93, 0.75, 0.45, 0.28, 0.18, 0.12, 0.08])
HOME_EDGE = 1.012
BACK_TO_BACK_SHOOTING = 0.98
BACK_TO_BACK_STAR_MINUTES = 0.94
PLAYS_PER_POSSESSION = 1.12  # offensive rebounds give extra plays
OT_PROBABILITY = 0.06
INJURY_HAZARD = 0.009  # per game played, times the player's proneness


BOX_COLUMNS = (
    "MIN", "FGM", "FGA", "FG3M", "FG3A", "FTM", "FTA", "OREB", "DREB", "REB", "AST", "STL", "BLK",
    "TOV", "PF", "PTS",
)  # fmt: skip


@dataclass(frozen=True)
class SidePlan:
    """One team's side of a game as it stands before tip-off: who is available (injured players
    and rested veterans left out), best first, their planned minutes and their rates on the day
    (skill plus in-season form, home court, the opponent's defense, a back-to-back)."""

    team: int
    opp: int
    home: bool
    b2b: bool
    ids: tuple[int, ...]
    planned: np.ndarray  # planned minutes by rank in the healthy rotation
    usage: np.ndarray
    three_rate: np.ndarray
    p2: np.ndarray
    p3: np.ndarray
    ft_pct: np.ndarray
    trip_rate: np.ndarray
    tov_rate: np.ndarray
    weights: dict[str, np.ndarray]  # OREB, DREB, AST, STL, BLK, PF: shares of the team's totals
    shooting: float  # multiplier on make probabilities: opponent's defense, home, back-to-back


@dataclass(frozen=True)
class GamePlan:
    """Everything known about a game before tip-off; `play_game` draws its box scores."""

    game_id: str
    day: date
    sides: tuple[SidePlan, SidePlan]  # home, away
    possessions: float  # expected possessions in 48 minutes (both paces, any regime change)


@dataclass(frozen=True)
class SeasonBoxScores:
    player_logs: pl.DataFrame  # LeagueGameLog player mode, every game of the season
    team_logs: pl.DataFrame  # LeagueGameLog team mode
    plans: tuple[GamePlan, ...]  # every game as known before tip-off, in schedule order


def _injury_days(rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.55:
        return int(rng.integers(1, 5))
    if u < 0.88:
        return int(rng.integers(5, 22))
    return int(rng.integers(22, 75))


def _allocate_minutes(raw: np.ndarray, total: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Scale each row of raw minutes to sum to its `total` with nobody above its `cap`;
    integers, by largest remainder."""
    m = raw.astype(float)
    total = np.asarray(total, dtype=float)
    cap = np.asarray(cap, dtype=float)[:, None]
    for _ in range(10):
        m = m * (total / m.sum(axis=1))[:, None]
        over = m > cap
        if not over.any():
            break
        m = np.where(over, cap, m)
        free_sum = np.where(over, 0.0, m).sum(axis=1)
        rest = total - np.where(over, m, 0.0).sum(axis=1)
        scale = np.divide(rest, free_sum, out=np.ones_like(rest), where=free_sum > 0)
        m = np.where(over, m, m * scale[:, None])
    floor = np.floor(m)
    short = np.rint(total - floor.sum(axis=1)).astype(int)
    order = np.argsort(-(m - floor), axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")
    return (floor + (rank < short[:, None])).astype(int)


def _share(rng: np.random.Generator, n: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row's `n` shared out among its columns in proportion to `weights` (multinomial)."""
    w = np.clip(weights, 0.0, None)
    return rng.multinomial(
        np.maximum(np.asarray(n), 0).astype(np.int64), w / w.sum(axis=1)[:, None]
    )


def play_game(
    rng: np.random.Generator, plan: GamePlan, reps: int = 1
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`reps` independent playings of a game from its plan: per side, BOX_COLUMNS as arrays of
    shape (reps, available players); a player who did not get on the floor has MIN 0 and a
    zero line. The season plays each game once; the simulated sportsbook plays it many times
    to know each player's true distribution for that night."""
    overtime = rng.random(reps) < OT_PROBABILITY
    double = rng.random(reps) < 0.15
    total = 240 + np.where(overtime, 25 * (1 + double), 0)
    cap = np.where(overtime, 50.0, 44.0)
    boxes: list[dict[str, np.ndarray]] = []
    for s in plan.sides:
        n = len(s.ids)
        appear = rng.random((reps, n)) < APPEARS_BY_RANK[:n]
        appear[:, :5] = True
        raw = s.planned * rng.lognormal(0.0, 0.2, (reps, n)) * appear
        boxes.append({"MIN": _allocate_minutes(raw, total, cap)})
    possessions = plan.possessions * total / 240.0 * rng.normal(1.0, 0.03, reps)
    fg2 = []
    for s, box in zip(plan.sides, boxes, strict=True):
        eff = s.shooting * rng.normal(1.0, 0.025, reps)[:, None]  # the team's shooting night
        plays_total = np.rint(possessions * PLAYS_PER_POSSESSION * rng.normal(1.0, 0.02, reps))
        plays = _share(rng, plays_total, box["MIN"] * s.usage)
        tov = rng.binomial(plays, s.tov_rate)
        rest = plays - tov
        trips = rng.binomial(rest, s.trip_rate)
        fga = rest - trips
        fg3a = rng.binomial(fga, s.three_rate)
        fg2a = fga - fg3a
        fg2m = rng.binomial(fg2a, np.clip(s.p2 * eff, 0.2, 0.8))
        fg3m = rng.binomial(fg3a, np.clip(s.p3 * eff, 0.1, 0.6))
        fgm = fg2m + fg3m
        fta = 2 * trips + rng.binomial(fgm, 0.03)  # and-ones
        ftm = rng.binomial(fta, s.ft_pct)
        box.update(FGM=fgm, FGA=fga, FG3M=fg3m, FG3A=fg3a, FTM=ftm, FTA=fta, TOV=tov)
        fg2.append((fg2a, fg2m))
    misses = [b["FGA"].sum(axis=1) - b["FGM"].sum(axis=1) for b in boxes]
    oreb_team = [rng.binomial(m, 0.245) for m in misses]
    for k, (s, box) in enumerate(zip(plan.sides, boxes, strict=True)):
        other, mins, w = boxes[1 - k], box["MIN"], s.weights
        dreb_team = rng.binomial(np.maximum(misses[1 - k] - oreb_team[1 - k], 0), 0.93)
        box["OREB"] = _share(rng, oreb_team[k], mins * w["OREB"])
        box["DREB"] = _share(rng, dreb_team, mins * w["DREB"])
        box["AST"] = _share(rng, rng.binomial(box["FGM"].sum(axis=1), 0.62), mins * w["AST"])
        box["STL"] = _share(rng, rng.binomial(other["TOV"].sum(axis=1), 0.6), mins * w["STL"])
        blocked = fg2[1 - k][0].sum(axis=1) - fg2[1 - k][1].sum(axis=1)
        box["BLK"] = _share(rng, rng.binomial(blocked, 0.2), mins * w["BLK"])
        fouls = rng.poisson(19.5 * total / 240.0)
        box["PF"] = np.minimum(_share(rng, fouls, mins * w["PF"]), 6)
    scores = [(2 * b["FGM"] + b["FG3M"] + b["FTM"]).sum(axis=1) for b in boxes]
    tie = scores[0] == scores[1]
    if tie.any():
        # no ties in basketball: a late free throw decides it
        pick = rng.integers(0, 2, reps)
        for k, box in enumerate(boxes):
            rows = np.flatnonzero(tie & (pick == k))
            i = np.argmax(box["MIN"][rows], axis=1)
            box["FTA"][rows, i] += 1
            box["FTM"][rows, i] += 1
    for box in boxes:
        box["PTS"] = 2 * box["FGM"] + box["FG3M"] + box["FTM"]
        box["REB"] = box["OREB"] + box["DREB"]
    return boxes[0], boxes[1]


def _side_plan(
    league, players: dict[int, Player], team: int, opp: int, home: bool, b2b: bool,
    available: list[int], form: dict[int, float],
) -> SidePlan:  # fmt: skip
    ps = [players[pid] for pid in available]
    planned = MINUTES_BY_RANK[: len(ps)].copy()
    if b2b:
        planned[:3] *= BACK_TO_BACK_STAR_MINUTES
    quality = np.array([p.quality + form[p.player_id] for p in ps])

    def attr(name: str) -> np.ndarray:
        return np.array([getattr(p, name) for p in ps])

    shooting = league.team_defense[opp] * (HOME_EDGE if home else 1.0 / HOME_EDGE)
    if b2b:
        shooting *= BACK_TO_BACK_SHOOTING
    return SidePlan(
        team=team,
        opp=opp,
        home=home,
        b2b=b2b,
        ids=tuple(available),
        planned=planned,
        usage=np.clip(attr("usage") + 0.045 * quality, 0.08, 0.40),
        three_rate=attr("three_rate"),
        p2=attr("p2") + 0.012 * quality,
        p3=attr("p3") + 0.008 * quality,
        ft_pct=attr("ft_pct"),
        trip_rate=np.clip(attr("ft_trip_rate") * (1.05 if home else 0.95), 0, 0.5),
        tov_rate=attr("tov_rate"),
        weights={
            "OREB": attr("oreb_w"),
            "DREB": attr("dreb_w"),
            "AST": attr("ast_w"),
            "STL": attr("stl_w"),
            "BLK": attr("blk_w"),
            "PF": attr("pf_w"),
        },
        shooting=float(shooting),
    )


@lru_cache(maxsize=8)
def simulate_season(
    seed: int, season: int, pace_change: tuple[date, float] | None = None
) -> SeasonBoxScores:
    """Every regular-season box score of `season` (played or not: callers hide the future), and
    every game's plan as known before tip-off.

    pace_change: (from_date, factor): a regime change for tests of drift detection; every game
    from that date is played at `factor` times the usual pace.
    """
    league = season_league(seed, season)
    schedule = season_schedule(seed, season)
    rng = np.random.default_rng([seed, season, 20])
    players = league.players
    # in-season trend and nightly form: young players tend to improve during the season
    trend = {
        pid: float(rng.normal(0.12 if season - p.birth_year <= 23 else -0.02, 0.15))
        for pid, p in players.items()
    }
    injured_until: dict[int, date] = {}
    last_played: dict[int, date] = {}
    opening = schedule["game_date"].min()
    span = max((schedule["game_date"].max() - opening).days, 1)

    prow: dict[str, list] = {k: [] for k in PLAYER_LOG_SCHEMA}
    trow: dict[str, list] = {k: [] for k in TEAM_LOG_SCHEMA}
    season_id = 20000 + season
    plans = []

    for game_id, day, home, away in schedule.iter_rows():
        progress = (day - opening).days / span
        form = {pid: t * (progress - 0.5) for pid, t in trend.items()}
        sides = []
        for team, opp, is_home in ((home, away, True), (away, home, False)):
            b2b = last_played.get(team) == day - timedelta(days=1)
            roster = sorted(league.roster_on(team, day), key=lambda pid: -players[pid].quality)
            available = []
            for rank, pid in enumerate(roster):
                if injured_until.get(pid, date.min) >= day:
                    continue
                age = season - players[pid].birth_year
                if b2b and rank < 3 and age >= 31 and rng.random() < 0.25:
                    continue  # a rest night for a veteran star
                available.append(pid)
            sides.append(_side_plan(league, players, team, opp, is_home, b2b, available, form))
            last_played[team] = day
        possessions = 0.5 * (league.team_pace[home] + league.team_pace[away])
        if pace_change is not None and day >= pace_change[0]:
            possessions *= pace_change[1]
        plan = GamePlan(
            game_id=game_id, day=day, sides=(sides[0], sides[1]), possessions=possessions
        )
        plans.append(plan)
        boxes = [{col: values[0] for col, values in box.items()} for box in play_game(rng, plan)]
        score = [int(box["PTS"].sum()) for box in boxes]

        for k, (side, full) in enumerate(zip(plan.sides, boxes, strict=True)):
            team, opp = side.team, side.opp
            on = full["MIN"] > 0
            ids = [pid for pid, keep in zip(side.ids, on, strict=True) if keep]
            box = {col: full[col][on] for col in BOX_COLUMNS}
            box["MIN"] = box["MIN"].astype(float)
            margin = score[k] - score[1 - k]
            abbr, opp_abbr = ABBREVIATION_BY_ID[team], ABBREVIATION_BY_ID[opp]
            matchup = f"{abbr} vs. {opp_abbr}" if side.home else f"{abbr} @ {opp_abbr}"
            wl = "W" if margin > 0 else "L"
            pm = np.rint(margin * box["MIN"] / 48.0 + rng.normal(0.0, 4.0, len(ids))).astype(int)
            for i, pid in enumerate(ids):
                prow["SEASON_ID"].append(season_id)
                prow["PLAYER_ID"].append(pid)
                prow["PLAYER_NAME"].append(players[pid].name)
                prow["TEAM_ID"].append(team)
                prow["TEAM_ABBREVIATION"].append(abbr)
                prow["TEAM_NAME"].append(TEAM_NAME_BY_ID[team])
                prow["GAME_ID"].append(game_id)
                prow["GAME_DATE"].append(day)
                prow["MATCHUP"].append(matchup)
                prow["WL"].append(wl)
                for col, values in box.items():
                    prow[col].append(values[i])
                prow["FG_PCT"].append(_pct(box["FGM"][i], box["FGA"][i]))
                prow["FG3_PCT"].append(_pct(box["FG3M"][i], box["FG3A"][i]))
                prow["FT_PCT"].append(_pct(box["FTM"][i], box["FTA"][i]))
                prow["PLUS_MINUS"].append(float(pm[i]))
            trow["SEASON_ID"].append(season_id)
            trow["TEAM_ID"].append(team)
            trow["TEAM_ABBREVIATION"].append(abbr)
            trow["TEAM_NAME"].append(TEAM_NAME_BY_ID[team])
            trow["GAME_ID"].append(game_id)
            trow["GAME_DATE"].append(day)
            trow["MATCHUP"].append(matchup)
            trow["WL"].append(wl)
            sums = {col: int(np.sum(values)) for col, values in box.items()}
            for col, value in sums.items():
                trow[col].append(value)
            trow["FG_PCT"].append(_pct(sums["FGM"], sums["FGA"]))
            trow["FG3_PCT"].append(_pct(sums["FG3M"], sums["FG3A"]))
            trow["FT_PCT"].append(_pct(sums["FTM"], sums["FTA"]))
            trow["PLUS_MINUS"].append(float(margin))

            # injuries strike during games played
            for i, pid in enumerate(ids):
                hazard = INJURY_HAZARD * players[pid].injury_prone * box["MIN"][i] / 30.0
                if rng.random() < hazard:
                    injured_until[pid] = day + timedelta(days=_injury_days(rng))

    player_logs = pl.DataFrame(prow, schema=PLAYER_LOG_SCHEMA)
    team_logs = pl.DataFrame(trow, schema=TEAM_LOG_SCHEMA)
    return SeasonBoxScores(player_logs=player_logs, team_logs=team_logs, plans=tuple(plans))


def _pct(made: int, attempts: int) -> float | None:
    return round(float(made) / float(attempts), 3) if attempts else None
