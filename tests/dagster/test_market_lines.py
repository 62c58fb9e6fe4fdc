"""market_lines is daily-partitioned: a range of game dates in one run, a day at a time in the
daily path, and re-running a day replaces that day only, with the same result."""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from statmuse_pipelines.automation.jobs import range_tags
from statmuse_pipelines.core.lines import LINE_COLUMNS
from statmuse_pipelines.core.normalize import normalize_player_logs
from statmuse_pipelines.core.teams import teams
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import SyntheticGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import QUIET

DAYS = [date(2025, 11, 10) + timedelta(days=i) for i in range(3)]


def _quotes(games: pl.DataFrame) -> pl.DataFrame:
    """Two books' PTS quotes for every home player: a morning snapshot, and for one book a
    second quote before the tip with the line a point higher."""
    names = dict(zip(teams()["team_id"], teams()["team_name"], strict=True))
    rows = []
    for r in games.filter(pl.col("is_home")).iter_rows(named=True):
        day = r["game_date"]
        base = {
            "game_date": day, "feed": "snapshots", "is_pregame": True,
            "commence_time_utc": f"{day + timedelta(days=1)}T00:30:00Z",
            "event_id": r["game_id"], "home_team": names[r["team_id"]],
            "away_team": names[r["opponent_id"]], "player_name": r["player_name"],
            "market_code": "PTS", "line": float(r["pts"]) + 0.5,
        }  # fmt: skip
        for book in ("draftkings", "fanduel"):
            rows.append({**base, "bookmaker": book, "snapshot_time_utc": f"{day}T14:00:00Z",
                         "over_odds": -110.0, "under_odds": -110.0})  # fmt: skip
        later = {"bookmaker": "draftkings", "snapshot_time_utc": f"{day}T23:50:00Z"}
        rows.append({**base, **later, "line": base["line"] + 1.0, "over_odds": -110.0,
                     "under_odds": -110.0})  # fmt: skip
    return pl.DataFrame(rows, schema=LINE_COLUMNS)


def test_lines_are_stored_a_day_at_a_time_and_a_rerun_replaces_its_day(tmp_path):
    league = SyntheticGameLogSource(seasons=1, today="2025-11-20")
    games = normalize_player_logs(league.fetch("player", DAYS[0] - timedelta(days=30), DAYS[-1]))
    lines_file = tmp_path / "lines.parquet"
    _quotes(games.filter(pl.col("game_date").is_in(DAYS))).write_parquet(lines_file)
    settings = Settings(home=tmp_path / "home", source="synthetic", lines=str(lines_file))
    lake = LakeResource(root=str(settings.lake_dir))
    span = sorted(games["game_date"].unique().to_list())
    lake.write_days("player_game_stats", games, span, "game_date")
    defs = build_definitions(settings)
    job = defs.resolve_job_def("match_lines_job")
    instance = dg.DagsterInstance.ephemeral()
    ranged = job.execute_in_process(
        instance=instance,
        run_config=QUIET,
        tags=range_tags(DAYS[0].isoformat(), DAYS[-1].isoformat()),
    )
    assert ranged.success
    assert lake.stored_days("market_lines") == DAYS
    wh = WarehouseResource(path=str(settings.warehouse_path))
    before = wh.query("SELECT * FROM market_lines ORDER BY game_date, player_id")
    home_players = games.filter(pl.col("is_home") & pl.col("game_date").is_in(DAYS)).height
    assert before.height == home_players > 0
    # bets price the opening (the two books' morning quotes); the close is the later quote
    assert (before["close_line"] - before["consensus_line"]).to_list() == [1.0] * before.height
    assert before["close_is_later"].all() and before["books"].to_list() == [2] * before.height
    # every quote is accounted for: both morning quotes priced the opening, the later one the
    # close (the other book's morning quote is stale at the close: it counts where it was used)
    audit = wh.query("SELECT reason, sum(quotes)::BIGINT AS n FROM line_quotes GROUP BY 1")
    assert dict(audit.iter_rows()) == {"priced": 3 * home_players}
    meta = ranged.asset_materializations_for_node("market_lines")[0].metadata
    assert meta["quotes_by_reason"].value == {"priced": 3 * home_players}
    assert meta["quotes_kept"].value == meta["quotes"].value == 3 * home_players
    # the middle day again, alone: that day is replaced by the same rows, the others untouched
    mtimes = {d: lake.path("market_lines", d).stat().st_mtime_ns for d in DAYS}
    again = job.execute_in_process(
        instance=instance, run_config=QUIET, partition_key=DAYS[1].isoformat()
    )
    assert again.success
    after = wh.query("SELECT * FROM market_lines ORDER BY game_date, player_id")
    assert after.equals(before)
    assert wh.query("SELECT sum(quotes)::BIGINT AS n FROM line_quotes")["n"][0] == 3 * home_players
    assert lake.path("market_lines", DAYS[0]).stat().st_mtime_ns == mtimes[DAYS[0]]
    assert lake.path("market_lines", DAYS[1]).stat().st_mtime_ns != mtimes[DAYS[1]]
    # a day the source has no lines for is stored empty (a rerun of a range replaces it whole)
    empty = DAYS[-1] + timedelta(days=1)
    assert job.execute_in_process(
        instance=instance, run_config=QUIET, partition_key=empty.isoformat()
    ).success
    assert pl.read_parquet(lake.path("market_lines", empty)).height == 0
    # the daily path stores the day's lines before it predicts
    predict = defs.resolve_job_def("predict_slate_job")
    assert {k.to_user_string() for k in predict.asset_layer.executable_asset_keys} >= {
        "market_lines",
        "daily_predictions",
    }
