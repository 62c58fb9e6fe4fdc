"""Real sportsbook lines (../shared/data/nba/prop_lines): matching, calibration, backtests and
the comparison with the market on the same rows, through Dagster."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.automation.jobs import range_tags
from statmuse_pipelines.cli import main
from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import FilesGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import QUIET

pytestmark = pytest.mark.integration
SMALL = {"max_players": 3, "pooled_trials": 0, "player_trials": 0, "stacking_folds": 2}


@pytest.fixture(scope="module")
def real_pipeline(tmp_path_factory, real_data):
    home = tmp_path_factory.mktemp("real_lines")
    lines = real_data / "prop_lines"
    settings = Settings(home=home, source="files", files_dir=real_data, lines=str(lines))
    source = FilesGameLogSource(directory=str(real_data))
    start, end = date(2022, 7, 1), date(2024, 6, 30)
    games = normalize_player_logs(source.fetch("player", start, end))
    teams = normalize_team_logs(source.fetch("team", start, end))
    lake = LakeResource(root=str(settings.lake_dir))
    # the box scores the matcher reads (the stages before are tested elsewhere)
    first = date(2023, 9, 1)
    days = [first + timedelta(days=i) for i in range((end - first).days + 1)]
    lake.write_days(
        "player_game_stats", games.filter(pl.col("game_date") >= first), days, "game_date"
    )
    ds = build_dataset(build_features(games, teams, games), games, "PTS", "real", "t")
    lake.write_dataset("PTS", ds.splits(), ds.manifest)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    trained = defs.resolve_job_def("train_models_job").execute_in_process(
        instance=instance,
        partition_key="PTS",
        run_config={**QUIET, "ops": {"player_models": {"config": SMALL}}},
        raise_on_error=False,
    )
    assert trained.success
    meta = trained.asset_materializations_for_node("player_models")[0].metadata
    if meta["stage"].value != "production":  # not promoted: an operator's promotion lets the
        version = meta["version"]  # evaluation run
        assert main(["models", "promote", "--stat", "PTS", "--version", version.value,
                     "--home", str(home)]) == 0  # fmt: skip
    # a backfill stores every real line the source has: one run over its game dates
    matched = defs.resolve_job_def("match_lines_job").execute_in_process(
        instance=instance, run_config=QUIET, tags=range_tags("2023-10-24", "2024-05-25")
    )
    # walk-forward through 2023-24, refit twice (October, April) to keep the test short
    config = {"refit_months": 6, "warmup_dates": 20}
    walk = {"ops": {"walk_forward_predictions": {"config": config}}}
    evaluated = defs.resolve_job_def("evaluate_models_job").execute_in_process(
        instance=instance, partition_key="PTS", run_config={**QUIET, **walk}
    )
    assert matched.success and evaluated.success
    return settings, ds, matched


def test_real_lines_match_players(real_pipeline):
    settings, _, matched = real_pipeline
    meta = matched.asset_materializations_for_node("market_lines")[0].metadata
    assert meta["line_kind"].value == "real"
    assert meta["match_rate_on_covered_dates"].value >= 0.95
    wh = WarehouseResource(path=str(settings.warehouse_path))
    counts = wh.query("SELECT market, count(*) AS n FROM market_lines GROUP BY 1")
    assert set(counts["market"]) >= {"PTS", "REB", "AST", "FG3M", "PRA"}
    unmatched = wh.query("SELECT count(*) AS n FROM line_matches WHERE player_id IS NULL")["n"][0]
    assert unmatched > 0  # players who did not play, playoff dates: listed with a reason
    assert wh.query("SELECT count(*) AS n FROM line_matches WHERE reason = ''")["n"][0] > 0
    # one file per game date of the source's span, empty on days without games
    days = LakeResource(root=str(settings.lake_dir)).stored_days("market_lines")
    assert (days[0], days[-1]) == (date(2023, 10, 24), date(2024, 5, 25))
    assert len(days) == (days[-1] - days[0]).days + 1
    # PRA has two feeds (the morning snapshot and the closing one): a close after the opening
    later = wh.query(
        "SELECT market, count(*) AS n, avg(abs(close_line - consensus_line)) AS moved "
        "FROM market_lines WHERE close_is_later GROUP BY 1"
    )
    pra = later.filter(pl.col("market") == "PRA").row(0, named=True)
    assert pra["n"] > 500 and pra["moved"] > 0


def test_pts_against_the_market_on_the_same_rows(real_pipeline, capsys):
    settings, _, _ = real_pipeline
    wh = WarehouseResource(path=str(settings.warehouse_path))
    real = wh.query("SELECT * FROM market_comparison WHERE stat = 'PTS' AND line_kind = 'real'")
    row = real.row(0, named=True)
    assert row["rows"] > 500 and row["first_date"] >= "2024-03-01"
    # the market is good: its Brier score sits near 0.25 (the data README: 0.241-0.250)
    assert 0.22 < row["market_brier"] < 0.26 and 0.22 < row["ours_brier"] < 0.27
    assert 4.0 < row["line_mae"] < 6.5 and 4.0 < row["ours_mae"] < 7.0
    # never worse than the free market: the interval of the difference reaches zero or below it
    assert row["brier_diff_low"] <= 0 and row["log_loss_diff_low"] <= 0
    assert row["recommended_share"] < 0.2
    wf = wh.query(
        "SELECT min(game_date) AS first, max(game_date) AS last, "
        "bool_and(fit_end < game_date) AS honest FROM walk_forward_predictions WHERE stat = 'PTS'"
    ).row(0, named=True)
    assert wf["honest"] and wf["first"] == date(2023, 10, 24)
    bets = wh.query(
        "SELECT min(game_date) AS first, max(game_date) AS last FROM backtest_bets "
        "WHERE stat = 'PTS' AND line_kind = 'real'"
    ).row(0, named=True)
    if bets["first"] is not None:
        assert bets["first"] >= date(2024, 3, 1) and bets["last"] <= wf["last"]
    assert main(["report", "--home", str(settings.home)]) == 0
    out = capsys.readouterr().out
    assert "PTS     real" in out and "nan" not in out.lower()
    # what became of the quotes, and how much of the period real lines priced, in words
    assert "quotes from the lines source (line_quotes): 292,298 read" in out
    assert "daily_snapshot" in out and "closing" in out and "not_pregame 728" in out
    assert "PTS 2," in out and "LOW" not in out
    assert row["quoted_dates"] >= 30 and row["real_rows_on_quoted_dates"] > 500
    assert row["non_finite_rows"] == 0
    # decided rows, of the rows with a real line, of the rows on the dates quoted
    assert row["rows"] <= row["mae_rows"] == row["real_rows_on_quoted_dates"]
    assert row["mae_rows"] < row["rows_on_quoted_dates"]
