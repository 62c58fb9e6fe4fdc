"""The live nba_api source against a fake stats.nba.com: no test touches the network."""

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import requests
from nba_api.stats.library.http import NBAStatsHTTP

from statmuse_pipelines.core.gamelog import GameLogError
from statmuse_pipelines.resources import sources
from statmuse_pipelines.resources.sources import (
    NbaApiGameLogSource,
    NbaApiSettingsError,
    NbaApiUnavailable,
    NbaApiUnreachable,
)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "leaguegamelog_player_2024-10-22.json"


class FakeResponse:
    def __init__(
        self, text: str, status: int = 200, url: str = "https://stats.nba.com/fake", headers=None
    ):
        self.text, self.status_code, self.url = text, status, url
        self.headers = headers or {}


class FakeSession:
    """Answers with a queue of responses (or exceptions), recording every request."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def get(self, url, params=None, headers=None, proxies=None, timeout=None):
        self.calls.append(
            {"url": url, "params": dict(params), "timeout": timeout, "headers": headers}
        )
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer()
        return answer


@pytest.fixture
def fake(monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(sources, "_sleep", sleeps.append)
    monkeypatch.setattr(sources, "_last_call", [0.0])
    original = NBAStatsHTTP._session

    def install(answers):
        session = FakeSession(answers)
        NBAStatsHTTP.set_session(session)
        return session, sleeps

    yield install
    NBAStatsHTTP.set_session(original)


def recorded() -> FakeResponse:
    return FakeResponse(FIXTURE.read_text())


def test_a_day_is_one_call_and_rows_come_back_typed(fake):
    session, _ = fake([recorded()])
    source = NbaApiGameLogSource(timeout_seconds=12)
    frame = source.fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert len(session.calls) == 1
    params = session.calls[0]["params"]
    assert params["Season"] == "2024-25" and params["SeasonType"] == "Regular Season"
    assert params["PlayerOrTeam"] == "P"
    assert params["DateFrom"] == "10/22/2024" and params["DateTo"] == "10/22/2024"
    assert session.calls[0]["timeout"] == 12
    assert "leaguegamelog" in session.calls[0]["url"]
    assert frame.height == 4
    assert frame["GAME_DATE"].unique().to_list() == [date(2024, 10, 22)]
    assert frame["SEASON_ID"].dtype == pl.Int64 and frame["SEASON_ID"][0] == 22024
    assert "VIDEO_AVAILABLE" not in frame.columns and "FANTASY_PTS" not in frame.columns
    assert frame.filter(pl.col("PLAYER_ID") == 2000202)["FG_PCT"][0] is None


def test_timeouts_are_retried_with_exponential_backoff(fake):
    session, sleeps = fake(
        [requests.Timeout("read timed out"), requests.Timeout("again"), recorded()]
    )
    source = NbaApiGameLogSource(backoff_seconds=2.0, min_interval_seconds=0.0)
    frame = source.fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert frame.height == 4
    assert len(session.calls) == 3
    assert [s for s in sleeps if s >= 1] == [2.0, 4.0]


def test_html_instead_of_json_is_retried_then_reported(fake):
    session, _ = fake([FakeResponse("<html>Access Denied</html>", status=403)])
    source = NbaApiGameLogSource(max_attempts=3, min_interval_seconds=0.0)
    with pytest.raises(NbaApiUnavailable) as err:
        source.fetch("team", date(2024, 1, 5), date(2024, 1, 5))
    assert len(session.calls) == 3
    message = str(err.value)
    assert "LeagueGameLog team 2023-24 Regular Season 2024-01-05..2024-01-05" in message
    assert "3 attempts" in message and "proxy" in message


def test_calls_are_spaced(fake, monkeypatch):
    _, sleeps = fake([recorded()])
    clock = iter([100.0, 100.0, 100.1, 100.1, 100.2, 100.2])
    monkeypatch.setattr(sources.time, "monotonic", lambda: next(clock))
    source = NbaApiGameLogSource(min_interval_seconds=0.6)
    source._wait_for_slot()
    source._wait_for_slot()
    assert sleeps and sleeps[-1] == pytest.approx(0.5)


def test_bad_values_in_a_response_name_the_request(fake):
    payload = json.loads(FIXTURE.read_text())
    payload["resultSets"][0]["rowSet"][1][28] = "DNP"  # PTS
    fake([FakeResponse(json.dumps(payload))])
    with pytest.raises(GameLogError) as err:
        NbaApiGameLogSource().fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert err.value.column == "PTS" and err.value.row == 2
    assert "nba_api LeagueGameLog player 2024-25" in err.value.origin


def test_requests_cover_only_the_season_types_a_range_can_hold():
    source = NbaApiGameLogSource()
    assert source.requests_for(date(2024, 1, 5), date(2024, 1, 5)) == [
        (2023, "Regular Season", date(2024, 1, 5), date(2024, 1, 5))
    ]
    april = source.requests_for(date(2024, 4, 10), date(2024, 4, 20))
    assert [r[1] for r in april] == ["Regular Season", "PlayIn", "Playoffs"]
    assert source.requests_for(date(2024, 8, 1), date(2024, 8, 31)) == []
    two_seasons = source.requests_for(date(2023, 3, 1), date(2023, 11, 1))
    assert {r[0] for r in two_seasons} == {2022, 2023}


def test_headers_can_be_replaced_when_stats_nba_com_changes_them(fake):
    session, _ = fake([recorded()])
    NbaApiGameLogSource(
        headers_json='{"User-Agent": "x", "Referer": "https://www.nba.com/"}'
    ).fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert session.calls[0]["headers"] == {"User-Agent": "x", "Referer": "https://www.nba.com/"}


def test_a_trickled_answer_meets_the_deadline_of_the_whole_call(fake):
    import time

    def trickle():
        time.sleep(2.0)  # each read within the timeout, the whole answer never done in time
        return recorded()

    session, _ = fake([trickle])
    source = NbaApiGameLogSource(deadline_seconds=0.2, max_attempts=2, min_interval_seconds=0.0)
    started = time.monotonic()
    with pytest.raises(NbaApiUnavailable, match=r"no complete answer within 0\.2s"):
        source.fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert len(session.calls) == 2 and time.monotonic() - started < 1.5


def test_retry_after_is_honoured_and_the_status_reaches_the_message(fake):
    throttled = FakeResponse("", status=429, headers={"Retry-After": "7"})
    session, sleeps = fake([throttled, recorded()])
    assert len(session.answers) == 2
    source = NbaApiGameLogSource(backoff_seconds=2.0, min_interval_seconds=0.0)
    assert source.fetch("player", date(2024, 10, 22), date(2024, 10, 22)).height == 4
    assert [s for s in sleeps if s >= 1] == [7.0]
    fake([FakeResponse("<html>Forbidden</html>", status=403)])
    with pytest.raises(NbaApiUnavailable, match="HTTP 403"):
        NbaApiGameLogSource(max_attempts=2, min_interval_seconds=0.0).fetch(
            "team", date(2024, 1, 5), date(2024, 1, 5)
        )


def test_a_typo_in_headers_json_is_a_settings_error_not_retried(fake):
    session, sleeps = fake([recorded()])
    source = NbaApiGameLogSource(headers_json='{"User-Agent": "x",}')
    with pytest.raises(NbaApiSettingsError, match="headers_json is not valid JSON"):
        source.fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert session.calls == [] and not [s for s in sleeps if s >= 1]


def test_a_first_call_that_cannot_connect_fails_at_once(fake):
    session, sleeps = fake([requests.ConnectionError("[Errno 111] Connection refused")])
    source = NbaApiGameLogSource(min_interval_seconds=0.0)
    with pytest.raises(NbaApiUnreachable, match=r"cannot connect to stats\.nba\.com"):
        source.fetch("player", date(2024, 10, 22), date(2024, 10, 22))
    assert len(session.calls) == 1 and not [s for s in sleeps if s >= 1]
    # a read timeout is not "cannot connect": it is retried as before
    session, _ = fake([requests.ReadTimeout("read timed out"), recorded()])
    assert source.fetch("player", date(2024, 10, 22), date(2024, 10, 22)).height == 4
