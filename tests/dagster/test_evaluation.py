"""Lines, calibrators and backtests through Dagster, on proxy lines; and the leak tests."""

import json
import math
from datetime import date

import dagster as dg
import polars as pl
import pytest

from statmuse_pipelines.cli import main
from statmuse_pipelines.core.backtest import STRATEGIES
from statmuse_pipelines.core.datasets import build_dataset
from statmuse_pipelines.core.features import build_features
from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
from statmuse_pipelines.definitions import build_definitions
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.sources import SyntheticGameLogSource
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.dagster.helpers import QUIET

# a shorter warm-up keeps the test quick; the period and the monthly refits are the defaults
WALK = {"ops": {"walk_forward_predictions": {"config": {"warmup_dates": 20}}}}
SMALL = {
    "min_games": 40,
    "max_players": 3,
    "pooled_trials": 0,
    "player_trials": 0,
    "stacking_folds": 2,
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    home = tmp_path_factory.mktemp("eval_home")
    settings = Settings(
        home=home, source="synthetic", seasons=2, today=date(2025, 12, 15), lines="proxy"
    )
    league = SyntheticGameLogSource(seasons=2, today="2025-12-15")
    start, end = date(2024, 7, 1), date(2025, 12, 14)
    games = normalize_player_logs(league.fetch("player", start, end))
    teams = normalize_team_logs(league.fetch("team", start, end))
    ds = build_dataset(build_features(games, teams, games), games, "PTS", "synthetic", "t")
    lake = LakeResource(root=str(settings.lake_dir))
    lake.write_dataset("PTS", ds.splits(), ds.manifest)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    trained = defs.resolve_job_def("train_models_job").execute_in_process(
        instance=instance,
        partition_key="PTS",
        run_config={**QUIET, "ops": {"player_models": {"config": SMALL}}},
    )
    assert trained.success
    result = defs.resolve_job_def("evaluate_models_job").execute_in_process(
        instance=instance, partition_key="PTS", run_config={**QUIET, **WALK}
    )
    assert result.success
    return settings, defs, instance, ds, result


def test_calibrators_fit_on_validation_and_report_on_test(evaluated):
    settings, _, _, ds, result = evaluated
    meta = result.asset_materializations_for_node("calibrators")[0].metadata
    assert meta["distribution"].value["family"] in ("poisson", "negbin", "negbin_grouped", "normal")
    families = meta["families_on_validation"]
    assert [c.name for c in families.schema.columns] == ["family", "log_loss"]
    # the headline figures are floats the Plots tab charts: Brier and ECE before and after
    assert meta["figures_on"].value == "test split, proxy lines"
    proxy = {
        (r["stage"], k): r[k]
        for r in WarehouseResource(path=str(settings.warehouse_path))
        .query("SELECT * FROM calibration_metrics WHERE split = 'test' AND line_kind = 'proxy'")
        .iter_rows(named=True)
        for k in ("brier", "ece")
    }
    assert isinstance(meta["test_brier_after"], dg.FloatMetadataValue)
    assert meta["test_brier_before"].value == round(proxy[("raw", "brier")], 5)
    assert meta["test_ece_after"].value == round(proxy[("calibrated", "ece")], 5)
    assert "data:image/png;base64," in meta["reliability"].value
    assert meta["line_kinds_on_test"].value == "proxy"
    wh = WarehouseResource(path=str(settings.warehouse_path))
    m = wh.query("SELECT * FROM calibration_metrics WHERE stat = 'PTS'")
    assert set(m["split"]) == {"val", "test"} and set(m["stage"]) == {"raw", "calibrated"}
    assert set(m["line_kind"]) == {"proxy", "all"}
    test_rows = m.filter((pl.col("split") == "test") & (pl.col("line_kind") == "all"))[
        "rows"
    ].unique()
    assert test_rows.to_list() == [ds.test.height]  # proxy lines end in .5: no pushes


def test_walk_forward_rows_come_from_fits_of_earlier_games(evaluated):
    settings, _, _, _ds, result = evaluated
    wh = WarehouseResource(path=str(settings.warehouse_path))
    rows = wh.query("SELECT * FROM walk_forward_predictions WHERE stat = 'PTS'")
    assert rows.height > 1000 and set(rows["line_kind"]) == {"proxy"}
    # every row was predicted by a fit (and a blend) that ended before its date
    assert (rows["fit_end"] < rows["game_date"]).all()
    assert (rows["fit_end"] < rows["fold_start"]).all()
    # the default period: the latest season, refit monthly, well past the 70/15/15 train split
    assert rows["game_date"].min() >= date(2025, 10, 1)
    # refit monthly from the season's first game: Nov 1 is under half a month in, Dec 1 is next
    folds = rows["fold_start"].unique().sort().to_list()
    assert folds == [rows["game_date"].min(), date(2025, 12, 1)]
    # proxy lines are no market: nothing is bet on them and the final P is our own
    assert (rows["recommendation"] == "PASS").all()
    assert (rows["p_over_cond"] == rows["p_over_raw"]).all()
    meta = result.asset_materializations_for_node("walk_forward_predictions")[0].metadata
    assert "proxy" in meta["comparison_with_market"].value
    assert meta["serving_blend"].value["active"] is False


def test_backtests_are_written_and_labelled_proxy(evaluated):
    settings, _, _, _ds, result = evaluated
    wh = WarehouseResource(path=str(settings.warehouse_path))
    res = wh.query("SELECT * FROM backtest_results WHERE stat = 'PTS'")
    # proxy lines have one price: the reference rows only (a "best" row would repeat each)
    assert res.height == len(STRATEGIES) * 2 and set(res["line_kind"]) == {"proxy"}
    assert set(res["price_rule"]) == {"reference"}
    headline = res.filter(pl.col("headline"))
    assert set(headline["strategy"]) == {"served"} and set(headline["price_rule"]) == {"reference"}
    assert headline["bets"].sum() == 0  # the served rule never bets a proxy line
    bets = wh.query("SELECT * FROM backtest_bets WHERE stat = 'PTS'")
    assert bets.height == int(res["bets"].sum())
    # the backtest bets only on walk-forward rows
    wf = wh.query("SELECT min(game_date) AS a, max(game_date) AS b FROM walk_forward_predictions")
    assert bets["game_date"].min() >= wf["a"][0] and bets["game_date"].max() <= wf["b"][0]
    comparison = wh.query("SELECT * FROM market_comparison WHERE stat = 'PTS'")
    assert comparison["line_kind"].to_list() == ["proxy"]
    # the proxy market is a naive book pricing from the last ten games: better than a coin flip
    assert comparison["market_brier"][0] < 0.25
    assert comparison["recommended_share"][0] == 0.0
    meta = result.asset_materializations_for_node("backtest_reports")[0].metadata
    assert "data:image/png;base64," in meta["bankroll"].value
    assert "proxy" in meta["line_kinds"].value
    served = meta["headline_served_rule"]
    assert {r.data["strategy"] for r in served.records} <= {"served"} and served.records
    # proxy lines only: no real-line figures to chart, and the served rule never bets a proxy
    assert math.isnan(meta["real_brier_ours"].value) and meta["served_rule_bets"].value == 0
    assert math.isnan(meta["served_rule_roi"].value)
    # proxies only, said in words; every reported figure a number
    assert "no real lines given" in meta["lines"].value
    assert meta["rows_left_out_non_finite"].value == 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["reported_metrics_are_finite"].passed
    assert checks["real_lines_cover_the_period"].passed


def test_the_calibrator_never_sees_the_test_split(evaluated, tmp_path):
    """Scramble the test split's outcomes on disk: the fitted distribution and calibrator do
    not move (they only read validation rows); only the test metrics do."""
    settings, defs, instance, ds, _ = evaluated
    lake = LakeResource(root=str(settings.lake_dir))
    folder = lake.dataset_dir("PTS", ds.version)
    version_dir = next((settings.models_dir / "PTS").iterdir())
    before = json.loads((version_dir / "probability.json").read_text())
    test = pl.read_parquet(folder / "test.parquet")
    original = folder / "test.original.parquet"
    test.write_parquet(original)
    try:
        test.with_columns(pl.col("target") * 3 + 7).write_parquet(folder / "test.parquet")
        assert (
            defs.resolve_job_def("evaluate_models_job")
            .execute_in_process(
                instance=instance, partition_key="PTS", run_config={**QUIET, **WALK}
            )
            .success
        )
        after = json.loads((version_dir / "probability.json").read_text())
        assert after == before
    finally:
        original.replace(folder / "test.parquet")


def test_statmuse_report_prints_the_table(evaluated, capsys):
    settings, *_ = evaluated
    assert main(["report", "--home", str(settings.home)]) == 0
    out = capsys.readouterr().out
    assert "PTS     proxy" in out and "bets real sportsbook lines only" in out
    assert "pts-" in out  # the production version, named
