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


@dataclass(frozen=True)
class SeasonBoxScores:
    player_logs: pl.DataFrame  # LeagueGameLog player mode, every game of the season
    team_logs: pl.DataFrame  # LeagueGameLog team mode


def _injury_days(rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.55:
        return int(rng.integers(1, 5))
    if u < 0.88:
        return int(rng.integers(5, 22))
    return int(rng.integers(22, 75))


def _allocate_minutes(raw: np.ndarray, total: int, cap: float) -> np.ndarray:
    """Scale raw minutes to sum to `total` with nobody above `cap`; integers, largest remainder."""
    m = raw.astype(float).copy()
    for _ in range(10):
        m *= total / m.sum()
        over = m > cap
        if not over.any():
            break
        m[over] = cap
        free = ~over
        if not free.any():
            break
        rest = total - m[over].sum()
        m[free] *= rest / m[free].sum()
    floor = np.floor(m)
    short = int(total - floor.sum())
    if short > 0:
        order = np.argsort(-(m - floor), kind="stable")
        floor[order[:short]] += 1
    return floor.astype(int)


def _share(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    w = np.clip(weights, 1e-9, None)
    return rng.multinomial(max(int(n), 0), w / w.sum())


@lru_cache(maxsize=8)
def simulate_season(
    seed: int, season: int, pace_change: tuple[date, float] | None = None
) -> SeasonBoxScores:
    """Every regular-season box score of `season` (played or not: callers hide the future).

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

    for game_id, day, home, away in schedule.iter_rows():
        progress = (day - opening).days / span
        overtime = rng.random() < OT_PROBABILITY
        total_minutes = 240 + (25 * (1 + (rng.random() < 0.15)) if overtime else 0)
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
            n = len(available)
            planned = MINUTES_BY_RANK[:n].copy()
            appear = rng.random(n) < APPEARS_BY_RANK[:n]
            appear[:5] = True
            if b2b:
                planned[:3] *= BACK_TO_BACK_STAR_MINUTES
            raw = planned * rng.lognormal(0.0, 0.2, n) * appear
            minutes = _allocate_minutes(raw, total_minutes, 44.0 if not overtime else 50.0)
            on = minutes > 0
            ids = [pid for pid, keep in zip(available, on, strict=True) if keep]
            sides.append(
                {
                    "team": team,
                    "opp": opp,
                    "home": is_home,
                    "b2b": b2b,
                    "ids": ids,
                    "min": minutes[on].astype(float),
                }
            )
            last_played[team] = day

        pace = 0.5 * (league.team_pace[home] + league.team_pace[away])
        possessions = pace * total_minutes / 240.0 * rng.normal(1.0, 0.03)
        if pace_change is not None and day >= pace_change[0]:
            possessions *= pace_change[1]
        for side in sides:
            ps: list[Player] = [players[pid] for pid in side["ids"]]
            form = np.array([trend[p.player_id] * (progress - 0.5) for p in ps])
            quality = np.array([p.quality for p in ps]) + form
            usage = np.clip(np.array([p.usage for p in ps]) + 0.045 * quality, 0.08, 0.40)
            mins = side["min"]
            eff = league.team_defense[side["opp"]]
            eff *= HOME_EDGE if side["home"] else 1.0 / HOME_EDGE
            if side["b2b"]:
                eff *= BACK_TO_BACK_SHOOTING
            eff *= rng.normal(1.0, 0.025)  # the team's shooting night
            plays_total = round(possessions * PLAYS_PER_POSSESSION * rng.normal(1.0, 0.02))
            plays = _share(rng, plays_total, mins * usage)
            tov_rate = np.array([p.tov_rate for p in ps])
            tov = rng.binomial(plays, tov_rate)
            rest = plays - tov
            trip_rate = np.array([p.ft_trip_rate for p in ps]) * (1.05 if side["home"] else 0.95)
            trips = rng.binomial(rest, np.clip(trip_rate, 0, 0.5))
            fga = rest - trips
            fg3a = rng.binomial(fga, np.array([p.three_rate for p in ps]))
            fg2a = fga - fg3a
            p2 = np.clip((np.array([p.p2 for p in ps]) + 0.012 * quality) * eff, 0.2, 0.8)
            p3 = np.clip((np.array([p.p3 for p in ps]) + 0.008 * quality) * eff, 0.1, 0.6)
            fg2m = rng.binomial(fg2a, p2)
            fg3m = rng.binomial(fg3a, p3)
            fgm = fg2m + fg3m
            and_ones = rng.binomial(fgm, 0.03)
            fta = 2 * trips + and_ones
            ftm = rng.binomial(fta, np.array([p.ft_pct for p in ps]))
            side.update(
                ps=ps, fga=fga, fg3a=fg3a, fgm=fgm, fg3m=fg3m, fg2a=fg2a, fg2m=fg2m, fta=fta,
                ftm=ftm, tov=tov,
            )  # fmt: skip

        for side, other in ((sides[0], sides[1]), (sides[1], sides[0])):
            ps = side["ps"]
            mins = side["min"]
            own_misses = int(side["fga"].sum() - side["fgm"].sum())
            opp_misses = int(other["fga"].sum() - other["fgm"].sum())
            side["oreb_team"] = int(rng.binomial(own_misses, 0.245))
            side["opp_misses"] = opp_misses
        for side, other in ((sides[0], sides[1]), (sides[1], sides[0])):
            ps = side["ps"]
            mins = side["min"]
            dreb_team = rng.binomial(max(side["opp_misses"] - other["oreb_team"], 0), 0.93)
            side["oreb"] = _share(rng, side["oreb_team"], mins * [p.oreb_w for p in ps])
            side["dreb"] = _share(rng, dreb_team, mins * [p.dreb_w for p in ps])
            assists = rng.binomial(int(side["fgm"].sum()), 0.62)
            side["ast"] = _share(rng, assists, mins * [p.ast_w for p in ps])
            steals = rng.binomial(int(other["tov"].sum()), 0.6)
            side["stl"] = _share(rng, steals, mins * [p.stl_w for p in ps])
            blocks = rng.binomial(int(other["fg2a"].sum() - other["fg2m"].sum()), 0.2)
            side["blk"] = _share(rng, blocks, mins * [p.blk_w for p in ps])
            fouls = rng.poisson(19.5 * total_minutes / 240.0)
            side["pf"] = np.minimum(_share(rng, fouls, mins * [p.pf_w for p in ps]), 6)

        def points(side: dict) -> int:
            return int(2 * side["fgm"].sum() + side["fg3m"].sum() + side["ftm"].sum())

        if points(sides[0]) == points(sides[1]):
            # no ties in basketball: a late free throw decides it
            side = sides[int(rng.integers(0, 2))]
            i = int(np.argmax(side["min"]))
            side["fta"][i] += 1
            side["ftm"][i] += 1
        score = [points(sides[0]), points(sides[1])]

        for k, side in enumerate(sides):
            team, opp = side["team"], side["opp"]
            margin = score[k] - score[1 - k]
            abbr, opp_abbr = ABBREVIATION_BY_ID[team], ABBREVIATION_BY_ID[opp]
            matchup = f"{abbr} vs. {opp_abbr}" if side["home"] else f"{abbr} @ {opp_abbr}"
            wl = "W" if margin > 0 else "L"
            ps = side["ps"]
            pts = 2 * side["fgm"] + side["fg3m"] + side["ftm"]
            reb = side["oreb"] + side["dreb"]
            pm = np.rint(margin * side["min"] / 48.0 + rng.normal(0.0, 4.0, len(ps))).astype(int)
            box = {
                "MIN": side["min"],
                "FGM": side["fgm"],
                "FGA": side["fga"],
                "FG3M": side["fg3m"],
                "FG3A": side["fg3a"],
                "FTM": side["ftm"],
                "FTA": side["fta"],
                "OREB": side["oreb"],
                "DREB": side["dreb"],
                "REB": reb,
                "AST": side["ast"],
                "STL": side["stl"],
                "BLK": side["blk"],
                "TOV": side["tov"],
                "PF": side["pf"],
                "PTS": pts,
            }
            for i, p in enumerate(ps):
                prow["SEASON_ID"].append(season_id)
                prow["PLAYER_ID"].append(p.player_id)
                prow["PLAYER_NAME"].append(p.name)
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
            for i, p in enumerate(ps):
                hazard = INJURY_HAZARD * p.injury_prone * side["min"][i] / 30.0
                if rng.random() < hazard:
                    injured_until[p.player_id] = day + timedelta(days=_injury_days(rng))

    player_logs = pl.DataFrame(prow, schema=PLAYER_LOG_SCHEMA)
    team_logs = pl.DataFrame(trow, schema=TEAM_LOG_SCHEMA)
    return SeasonBoxScores(player_logs=player_logs, team_logs=team_logs)


def _pct(made: int, attempts: int) -> float | None:
    return round(float(made) / float(attempts), 3) if attempts else None
