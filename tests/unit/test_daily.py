"""The daily path in pure functions: candidates, grading, performance, rollback, drift, alerts."""

import hashlib
import hmac
import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import requests

from statmuse_pipelines.core.alerts import SIGNATURE_HEADER, Alert, deliver, sign
from statmuse_pipelines.core.drift import UNMONITORED, compare, feature_drift, psi
from statmuse_pipelines.core.features import feature_names
from statmuse_pipelines.core.grading import (
    grade,
    judge_replacement,
    performance,
    rollback_decision,
    window_metrics,
)
from statmuse_pipelines.core.schemas import COUNT_STATS, PLAYER_GAME_STATS
from statmuse_pipelines.core.serving import slate_candidates

DEN, LAL = 1610612743, 1610612747
D = date(2026, 1, 20)


def box(player, team, day, pts=10, **over):
    row = {c.name: None for c in PLAYER_GAME_STATS.columns}
    row.update(
        game_id=f"g{day:%m%d}{team}",
        game_date=day,
        season="2025-26",
        player_id=player,
        player_name=f"P{player}",
        team_id=team,
        team="X",
        opponent="Y",
        is_home=True,
        won=True,
        opponent_id=LAL if team == DEN else DEN,
        minutes=20.0,
        plus_minus=0,
    )
    for c in COUNT_STATS:
        row[c] = 0
    row.update({"pts": pts, "reb": 5, "ast": 3, **over})
    return row


def test_candidates_are_the_recent_rotation():
    days = [D - timedelta(days=k) for k in (1, 3, 5, 7, 9, 11, 30)]
    rows = [box(1, DEN, d) for d in days[:5]]  # plays every game
    rows += [box(2, DEN, days[4])]  # played in the team's 5th-last game: still in the rotation
    rows += [box(3, DEN, days[5])]  # only in the 6th-last game: out of the rotation
    rows += [box(4, DEN, days[6])]  # a month ago
    rows += [box(5, LAL, d) for d in days[:3]] + [box(5, DEN, days[0])]  # traded to DEN
    rows += [box(6, LAL, days[0])]
    history = PLAYER_GAME_STATS.conform(pl.DataFrame(rows, schema=PLAYER_GAME_STATS.schema))
    slate = pl.DataFrame({"game_id": ["0022500700"], "game_date": [D], "season": ["2025-26"],
                          "home_team_id": [DEN], "away_team_id": [LAL]})  # fmt: skip
    out = slate_candidates(history, slate, D)
    assert dict(zip(out["player_id"], out["team"], strict=True)) == {
        1: "DEN",
        2: "DEN",
        5: "DEN",
        6: "LAL",
    }
    row = out.filter(pl.col("player_id") == 6).row(0, named=True)
    assert row["opponent"] == "DEN" and row["is_home"] is False and row["game_date"] == D


def predictions(**over):
    base = {
        "prediction_date": D, "game_id": "g", "player_id": 1, "player_name": "P1", "team": "DEN",
        "opponent": "LAL", "is_home": True, "stat": "PTS", "model_version": "pts-1",
        "prediction": 12.0, "line": 10.5, "line_kind": "proxy", "book": "proxy",
        "over_odds": -110.0, "under_odds": -110.0, "p_over": 0.6, "p_under": 0.4, "p_push": 0.0,
        "ev_over": 0.1, "ev_under": -0.2, "recommendation": "OVER", "confidence": 0.6,
        "kelly_stake": 0.02, "distribution": "negbin", "calibrator": "platt",
        "market_p_over": 0.5,
    }  # fmt: skip
    rows = over.pop("rows")
    return pl.DataFrame([{**base, **r} for r in rows])


def test_grading_results_bets_and_void():
    preds = predictions(
        rows=[
            {"player_id": 1, "stat": "PTS", "line_kind": "real"},  # 14 > 10.5: over, bet won
            {"player_id": 1, "stat": "PRA", "line": 22.0, "recommendation": "UNDER"},  # push
            {"player_id": 2, "stat": "PTS", "recommendation": "UNDER", "line_kind": "real"},  # won
            # a bet on a proxy line (stored by older versions): graded, never counted as a bet
            {"player_id": 2, "stat": "AST", "line": 2.5},
            {"player_id": 3, "stat": "PTS"},  # did not play: void
            {"player_id": 2, "stat": "REB", "line": 4.5, "recommendation": "PASS"},
        ]
    )
    games = PLAYER_GAME_STATS.conform(
        pl.DataFrame(
            [box(1, DEN, D, pts=14, reb=5, ast=3), box(2, DEN, D, pts=8)],
            schema=PLAYER_GAME_STATS.schema,
        )
    )
    g = grade(preds, games).sort("player_id", "stat")
    by = {(r["player_id"], r["stat"]): r for r in g.iter_rows(named=True)}
    assert by[(1, "PTS")]["result"] == "over" and by[(1, "PTS")]["bet_profit"] == pytest.approx(
        100 / 110
    )
    assert by[(1, "PRA")]["actual"] == 22 and by[(1, "PRA")]["result"] == "push"
    assert by[(1, "PRA")]["bet_profit"] == 0.0 and by[(1, "PRA")]["bet_placed"]
    assert by[(2, "PTS")]["bet_won"] and by[(2, "PTS")]["error"] == pytest.approx(4.0)
    assert by[(3, "PTS")]["result"] == "void" and not by[(3, "PTS")]["bet_placed"]
    assert not by[(2, "REB")]["bet_placed"] and by[(2, "REB")]["result"] == "over"
    perf = performance(g, D).filter(pl.col("window_days") == 1)
    pts = perf.filter(pl.col("stat") == "PTS").row(0, named=True)
    assert pts["predictions"] == 2 and pts["bets"] == 2 and pts["hit_rate"] == 1.0
    assert pts["roi"] == pytest.approx(100 / 110)
    # real lines apart: over at P(over) 0.6 (0.16), under at P(over) 0.6 (0.36); market 0.5
    assert pts["real_predictions"] == 2
    assert pts["real_brier"] == pytest.approx(0.26) and pts["real_market_brier"] == 0.25
    ast = perf.filter(pl.col("stat") == "AST").row(0, named=True)
    assert ast["predictions"] == 1 and ast["bets"] == 0


def test_rollback_rule():
    old = {"hit_rate": 0.56, "brier": 0.240}
    assert not rollback_decision({"hit_rate": 0.54, "brier": 0.25}, old).roll_back
    decision = rollback_decision({"hit_rate": 0.52, "brier": 0.245}, old)
    assert decision.roll_back and "hit rate 0.560 -> 0.520" in decision.reason
    decision = rollback_decision({"hit_rate": 0.56, "brier": 0.265}, old)
    assert decision.roll_back and "Brier" in decision.reason
    assert not rollback_decision({"hit_rate": float("nan"), "brier": 0.24}, old).roll_back
    empty = grade(predictions(rows=[{}]), PLAYER_GAME_STATS.empty()).head(0)
    assert np.isnan(window_metrics(empty)["mae"]) and window_metrics(empty)["bets"] == 0


def graded_days(version, first, days, won):
    """Graded predictions, four a day, one bet a day that wins when `won(day index)`."""
    rows = []
    for i in range(days):
        for k in range(4):
            rows.append(
                {
                    "stat": "PTS",
                    "model_version": version,
                    "prediction_date": first + timedelta(days=i),
                    "result": "over" if k % 2 else "under",
                    "p_over": 0.6 if k % 2 else 0.4,
                    "p_under": 0.4 if k % 2 else 0.6,
                    "bet_placed": k == 0,
                    "bet_won": k == 0 and won(i),
                    "bet_profit": (100 / 110 if won(i) else -1.0) if k == 0 else 0.0,
                    "error": 1.0,
                }
            )
    return pl.DataFrame(rows)


def test_a_replacement_is_judged_on_its_first_window_against_the_last_of_the_one_before():
    start = D - timedelta(days=40)
    # the old version wins its first 20 days and loses its last 7; the new one loses its first 7
    # and wins afterwards. Only the first 7 new days against the last 7 old days count: both lose
    # every bet, so no rollback (the whole periods, or the old version's first week, would roll
    # back)
    old = graded_days("v1", start, 27, lambda i: i < 20)
    new = graded_days("v2", start + timedelta(days=27), 12, lambda i: i >= 7)
    decision = judge_replacement(pl.concat([old, new]), "v2", "v1", window_days=7)
    assert decision is not None and not decision.roll_back
    # against an old version that won its last week, losing the first week is rolled back, even
    # when the new version has won every day since
    old = graded_days("v1", start, 27, lambda i: i >= 20)
    worse = graded_days("v2", start + timedelta(days=27), 14, lambda i: i >= 7)
    decision = judge_replacement(pl.concat([old, worse]), "v2", "v1", window_days=7)
    assert decision.roll_back and "hit rate 1.000 -> 0.000" in decision.reason
    # too early: six graded days, or nothing of the previous version
    early = graded_days("v2", start + timedelta(days=27), 6, lambda i: False)
    assert judge_replacement(pl.concat([old, early]), "v2", "v1", window_days=7) is None
    assert judge_replacement(worse, "v2", "v1", window_days=7) is None


def test_psi_and_drift_flags():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 5000)
    assert psi(a, rng.normal(0, 1, 5000)) < 0.02
    assert psi(a, rng.normal(1.0, 1, 5000)) > 0.25
    frame = lambda x: pl.DataFrame({"f": x, "g": rng.normal(0, 1, len(x))})  # noqa: E731
    out = compare(frame(a), frame(rng.normal(1.0, 1, 3000)), ["f", "g"])
    flags = dict(zip(out["name"], out["drifted"], strict=True))
    assert flags == {"f": True, "g": False}
    assert out.filter(pl.col("name") == "f")["shift"][0] == pytest.approx(1.0, abs=0.1)
    # values bunched toward the middle: PSI and KS cross their limits on 5000 rows, yet values
    # moved by 0.4 standard deviations on average: not drift
    small = compare(frame(a), frame(rng.normal(0, 0.5, 5000)), ["f"]).row(0, named=True)
    assert small["psi"] >= 0.25 and small["ks_stat"] >= 0.1, small
    assert small["shift"] < 0.5 and not small["drifted"]
    wide = compare(frame(a), frame(rng.normal(0, 2.5, 3000)), ["f"]).row(0, named=True)
    assert wide["drifted"], "a change of spread alone is drift too"


def test_feature_drift_counts_team_features_once_per_team_game():
    rng = np.random.default_rng(1)

    def rows(n_games, pace, season_day):
        # 30 team sides per day, 13 player rows each: the team value is repeated on every row
        games = np.repeat(np.arange(n_games), 2 * 13)
        teams = np.tile(np.repeat([1, 2], 13), n_games)
        team_value = rng.normal(pace, 2.0, (n_games, 2))[games, teams - 1]
        return pl.DataFrame(
            {
                "game_id": games, "team_id": teams, "team_pace": team_value,
                "pts_mean_5": rng.normal(10, 4, len(games)),
                "season_day": np.full(len(games), season_day),
                "season_games": rng.integers(0, season_day // 2 + 1, len(games)),
            }
        )  # fmt: skip

    reference, recent = rows(400, 99.0, 30), rows(100, 99.0, 120)
    names = ["team_pace", "pts_mean_5", "season_day", "season_games"]
    out = feature_drift(reference, recent, names)
    assert set(out["name"]) == {"team_pace", "pts_mean_5"}  # calendar and counts: unmonitored
    assert not out["drifted"].any()
    faster = feature_drift(reference, rows(100, 99.0 * 1.3, 120), names)
    assert faster.filter(pl.col("drifted"))["name"].to_list() == ["team_pace"]
    assert faster["name"][0] == "team_pace"  # largest shift first
    assert set(feature_names()) >= UNMONITORED

    # another stat's reference: the same rows and features beside another target; answered from
    # memory with the same result, while a changed value is compared again
    again = feature_drift(reference.with_columns(target=pl.lit(3)), recent, names)
    assert again.equals(out)
    moved = reference.with_columns(team_pace=pl.col("team_pace") * 1.3)
    assert feature_drift(moved, recent, names)["drifted"].any()


class Response:
    def __init__(self, status):
        self.status_code = status


def test_alert_webhook_is_signed_retried_and_never_raises():
    alert = Alert("a1", "2026-01-20T06:00:00+00:00", "check_failed", "ERROR", "x.y", "failed")
    sent, slept = [], []

    def ok(url, data, headers, timeout):
        sent.append((url, data, headers, timeout))
        return Response(204)

    assert (
        deliver(alert, "https://hooks.example/x", "s3cret", post=ok, sleep=slept.append)
        == "delivered (204)"
    )
    _, body, headers, timeout = sent[0]
    assert json.loads(body)["alert_id"] == "a1" and timeout == 5.0
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected == sign(body, "s3cret")

    def down(url, data, headers, timeout):
        raise requests.ConnectionError("refused")

    status = deliver(alert, "https://hooks.example/x", None, post=down, sleep=slept.append)
    assert status.startswith("failed after 3 attempt(s) (ConnectionError)") and slept == [1.0, 2.0]
    assert status.endswith("unsigned: STATMUSE_ALERT_SECRET is not set")  # said, not silent
    assert deliver(alert, None, None) == "not configured"


def test_a_hanging_webhook_costs_the_deadline_not_minutes():
    import time

    alert = Alert("a2", "2026-01-20T06:00:00+00:00", "run_failed", "ERROR", "job", "failed")

    def hangs(url, data, headers, timeout):
        time.sleep(5)  # a webhook that accepts and never answers (or trickles)
        return Response(200)

    started = time.monotonic()
    status = deliver(alert, "https://hooks.example/x", "k", post=hangs, deadline_seconds=0.5)
    assert time.monotonic() - started < 2.0
    assert status.startswith("failed after") and "DeadlineExceeded" in status


def test_the_slate_bets_real_lines_only_and_only_where_the_blend_measured_an_edge():
    from statmuse_pipelines.core.distributions import CountDistribution
    from statmuse_pipelines.core.market_blend import MarketBlend
    from statmuse_pipelines.core.serving import predict_stat
    from statmuse_pipelines.core.walkforward import WalkForwardSettings

    keys = {"game_id": ["g1", "g1"], "game_date": [D, D], "season": ["2025-26"] * 2,
            "player_id": [1, 2], "player_name": ["A", "B"], "team_id": [DEN, LAL],
            "team": ["DEN", "LAL"], "opponent_id": [LAL, DEN], "opponent": ["LAL", "DEN"],
            "is_home": [True, False]}  # fmt: skip
    feats = pl.DataFrame(keys).with_columns([pl.lit(20.0).alias(f) for f in feature_names()])

    class Model:
        version = "pts-test"

        def predict(self, frame):
            return np.full(frame.height, 26.0)

    lines = pl.DataFrame(
        {"game_date": [D], "player_id": [1], "market": ["PTS"], "consensus_line": [20.5],
         "reference_book": ["draftkings"], "ref_over_odds": [-110.0], "ref_under_odds": [-110.0],
         "best_over_odds": [-105.0], "best_under_odds": [-105.0], "market_p_over": [0.5],
         "line_kind": ["real"]}
    )  # fmt: skip
    settings = WalkForwardSettings()
    # a blend that trusts our model fully, and one that measured no edge (the market's P)
    trusting = MarketBlend(True, (0.0, 0.0, 1.0))
    for blend, expected in ((trusting, "OVER"), (MarketBlend(False), "PASS")):
        walk = {"distribution": CountDistribution("poisson"), "blend": blend, "settings": settings}
        rows = predict_stat(feats, "PTS", Model(), walk, lines).sort("player_id")
        assert rows["line_kind"].to_list() == ["real", "proxy"]
        assert rows["recommendation"].to_list() == [expected, "PASS"]  # a proxy is never bet
        assert rows["kelly_stake"][1] == 0.0
        if blend.active:
            assert rows["p_over"][0] > 0.85 and 0 < rows["kelly_stake"][0] <= 0.02
            assert rows["calibrator"].to_list() == ["market_blend", "none (proxy line)"]
        else:
            assert rows["p_over"][0] == pytest.approx(0.5)  # the market's own P
            assert rows["calibrator"][0] == "market"
