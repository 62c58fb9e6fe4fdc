"""Storage: the lake overwrites whole partitions safely; the warehouse replaces days atomically."""

import subprocess
import sys
import textwrap
from contextlib import contextmanager
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from statmuse_pipelines.core.normalize import normalize_player_logs
from statmuse_pipelines.core.schemas import PLAYER_GAME_STATS
from statmuse_pipelines.core.synthetic.simulate import simulate_season
from statmuse_pipelines.resources.lake import (
    CorruptPartitionError,
    LakeResource,
    MissingPartitionError,
)
from statmuse_pipelines.resources.warehouse import (
    WarehouseBusyError,
    WarehouseResource,
    column_type,
)

DAYS = [date(2024, 10, 21) + timedelta(days=i) for i in range(4)]  # opening night is the 22nd


@contextmanager
def held(path):
    """Another process (an analyst's session) holds the DuckDB file `path` while inside."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(path)!r})
            print("holding", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="module")
def rows():
    players = normalize_player_logs(simulate_season(7, 2024).player_logs)
    return players.filter(pl.col("game_date").is_in(DAYS))


def test_one_file_per_day_and_empty_days_get_empty_files(tmp_path, rows):
    lake = LakeResource(root=str(tmp_path))
    counts = lake.write_days("t", rows, DAYS, "game_date")
    assert counts[date(2024, 10, 21)] == 0 and sum(counts.values()) == rows.height
    assert lake.stored_days("t") == DAYS
    empty = pl.read_parquet(lake.path("t", date(2024, 10, 21)))
    assert empty.height == 0 and empty.schema == rows.schema
    # every day without rows holds the same empty file (written once, copied)
    later = [DAYS[-1] + timedelta(days=n) for n in (1, 2, 3)]
    assert set(lake.write_days("t", rows.clear(), later, "game_date").values()) == {0}
    files = {lake.path("t", d).read_bytes() for d in [date(2024, 10, 21), *later]}
    assert len(files) == 1
    assert (
        lake.read_days("t", DAYS)
        .sort("game_id", "player_id")
        .equals(rows.sort("game_id", "player_id"))
    )


def test_rows_outside_the_partitions_are_refused(tmp_path, rows):
    lake = LakeResource(root=str(tmp_path))
    with pytest.raises(ValueError, match="dated outside the partitions"):
        lake.write_days("t", rows, DAYS[:2], "game_date")
    assert lake.stored_days("t") == []


def test_a_failed_write_leaves_existing_partitions_unchanged(tmp_path, rows, monkeypatch):
    lake = LakeResource(root=str(tmp_path))
    lake.write_days("t", rows, DAYS, "game_date")
    before = {d: lake.path("t", d).read_bytes() for d in DAYS}
    calls = {"n": 0}
    original = pl.DataFrame.write_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    changed = rows.with_columns(pl.col("pts") + 1)
    with pytest.raises(OSError, match="disk full"):
        lake.write_days("t", changed, DAYS, "game_date")
    assert {d: lake.path("t", d).read_bytes() for d in DAYS} == before
    assert not list((tmp_path / "t").glob(".*.tmp"))


def test_missing_partition_is_named(tmp_path):
    with pytest.raises(MissingPartitionError, match="t has no partition for 2024-10-21"):
        LakeResource(root=str(tmp_path)).read_days("t", DAYS)


def test_replacing_days_is_idempotent_and_documented(tmp_path, rows):
    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    wh.replace_days(PLAYER_GAME_STATS, rows, DAYS)
    wh.replace_days(PLAYER_GAME_STATS, rows, DAYS)
    assert wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0] == rows.height
    # replacing one day leaves the others alone
    one = rows.filter(pl.col("game_date") == DAYS[1])
    wh.replace_days(PLAYER_GAME_STATS, one.head(3), [DAYS[1]])
    counts = wh.query(
        "SELECT game_date, count(*) AS n FROM player_game_stats GROUP BY 1 ORDER BY 1"
    )
    expected = rows.group_by("game_date").len().sort("game_date")
    assert counts.filter(pl.col("game_date") == DAYS[1])["n"][0] == 3
    assert (
        counts.filter(pl.col("game_date") == DAYS[2])["n"][0]
        == (expected.filter(pl.col("game_date") == DAYS[2])["len"][0])
    )
    comments = wh.query(
        "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'player_game_stats'"
    )
    assert comments.filter(pl.col("column_name") == "pts")["comment"][0].startswith("points")


def test_a_failed_insert_rolls_back(tmp_path, rows):
    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    wh.replace_days(PLAYER_GAME_STATS, rows, DAYS)
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        wh.replace_days(PLAYER_GAME_STATS, rows.drop("pts"), DAYS)
    assert wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0] == rows.height


def test_readers_can_open_the_file_between_writes(tmp_path, rows):
    path = tmp_path / "w.duckdb"
    WarehouseResource(path=str(path)).replace_days(PLAYER_GAME_STATS, rows, DAYS)
    code = (
        f"import duckdb; con = duckdb.connect({str(path)!r}, read_only=True); "
        "print(con.execute('select count(*) from player_game_stats').fetchone()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == rows.height


def test_a_writer_blocked_by_another_process_says_so(tmp_path, rows):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    with held(path):
        wh = WarehouseResource(path=str(path), lock_timeout_seconds=1.0)
        with pytest.raises(WarehouseBusyError, match="Another process"):
            wh.replace_days(PLAYER_GAME_STATS, rows, DAYS)


def test_a_damaged_lake_file_is_named_with_what_to_do(tmp_path):
    lake = LakeResource(root=str(tmp_path))
    days = [date(2024, 1, 1), date(2024, 1, 2)]
    frame = pl.DataFrame({"game_date": days, "x": [1, 2]})
    lake.write_days("t", frame, days, "game_date")
    lake.path("t", days[1]).write_bytes(b"PAR1 not really parquet")
    with pytest.raises(CorruptPartitionError) as err:
        lake.read_days("t", days)
    text = str(err.value)
    assert str(lake.path("t", days[1])) in text and "materialize t for 2024-01-02" in text


def test_a_warehouse_that_cannot_be_written_leaves_the_lake_as_it_was(tmp_path, rows):
    from statmuse_pipelines.assets._common import store_days

    lake = LakeResource(root=str(tmp_path / "lake"))
    path = tmp_path / "w.duckdb"
    wh = WarehouseResource(path=str(path), lock_timeout_seconds=1.0)
    store_days(lake, wh, PLAYER_GAME_STATS, rows, DAYS)
    before = {d: lake.path("player_game_stats", d).read_bytes() for d in DAYS}
    changed = rows.with_columns(plus_minus=pl.col("plus_minus") + 18)
    with held(path), pytest.raises(WarehouseBusyError):
        store_days(lake, wh, PLAYER_GAME_STATS, changed, DAYS)
    # both stores still agree on the old rows, and no staged file is left behind
    assert {d: lake.path("player_game_stats", d).read_bytes() for d in DAYS} == before
    assert not list((tmp_path / "lake" / "player_game_stats").glob(".*.tmp"))
    in_wh = wh.query("SELECT sum(plus_minus) AS s FROM player_game_stats")["s"][0]
    assert in_wh == rows["plus_minus"].sum()
    # once the file is free, both take the new rows
    store_days(lake, wh, PLAYER_GAME_STATS, changed, DAYS)
    assert lake.read_days("player_game_stats", DAYS)["plus_minus"].sum() == in_wh + 18 * rows.height
    assert (
        wh.query("SELECT sum(plus_minus) AS s FROM player_game_stats")["s"][0]
        == in_wh + 18 * rows.height
    )


def test_every_table_is_created_once_and_a_held_file_is_never_waited_for(tmp_path):
    import time

    from statmuse_pipelines.core.schemas import TABLES

    path = tmp_path / "w.duckdb"
    wh = WarehouseResource(path=str(path))
    assert sorted(wh.ensure_tables(list(TABLES.values()))) == sorted(TABLES)
    assert wh.ensure_tables(list(TABLES.values())) == []  # all there: nothing written
    other = WarehouseResource(path=str(tmp_path / "other.duckdb"))
    duckdb.connect(str(tmp_path / "other.duckdb")).close()
    with held(tmp_path / "other.duckdb"):
        started = time.monotonic()
        assert other.ensure_tables(list(TABLES.values())) == []
        assert time.monotonic() - started < 5  # skipped, not the 30 s lock wait


def test_timestamps_and_json_are_typed_and_keys_on_them_still_replace(tmp_path):
    from statmuse_pipelines.core.schemas import MODEL_REGISTRY, MODEL_STAGE_HISTORY

    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    change = pl.DataFrame(
        {"stat": ["PTS"], "version": ["pts-1"], "from_stage": [None], "to_stage": ["candidate"],
         "changed_at": ["2026-12-03T14:26:34.123456+00:00"], "reason": ["trained"]}
    )  # fmt: skip
    wh.upsert(MODEL_STAGE_HISTORY, change)
    wh.upsert(MODEL_STAGE_HISTORY, change.with_columns(reason=pl.lit("again")))  # same key
    stored = wh.query("SELECT * FROM model_stage_history")
    assert stored.height == 1 and stored["reason"][0] == "again"
    assert stored.schema["changed_at"] == pl.Datetime("us", "UTC")
    assert stored["changed_at"][0].isoformat() == "2026-12-03T14:26:34.123456+00:00"
    registry = {c.name: None for c in MODEL_REGISTRY.columns} | {
        "model_id": "pts-1/pooled", "fit": "evaluation", "created_at": "2026-12-03T14:26:34",
        "params": '{"max_depth": 6}', "metrics": '{"test": {"mae": 4.5}}',
    }  # fmt: skip
    wh.upsert(MODEL_REGISTRY, pl.DataFrame([registry], schema=MODEL_REGISTRY.schema))
    types = dict(
        wh.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'model_registry'"
        ).iter_rows()
    )
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE" and types["params"] == "JSON"
    mae = wh.query("SELECT metrics->>'$.test.mae' AS mae, created_at FROM model_registry")
    assert mae["mae"][0] == "4.5"
    assert str(mae["created_at"][0]) == "2026-12-03 14:26:34+00:00"  # naive text is UTC


def test_a_warehouse_with_text_timestamps_and_json_is_converted_by_its_next_write(tmp_path):
    """Warehouses written before the types: the next write converts the columns in place,
    every value kept (text that is not JSON becomes a JSON string, not a null)."""
    from statmuse_pipelines.core.schemas import ALERTS, MODEL_REGISTRY

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    cols = ", ".join(f'"{c.name}" VARCHAR' if c.sql else f'"{c.name}" {c.dtype}'.replace(
        "String", "VARCHAR") for c in MODEL_REGISTRY.columns)  # fmt: skip
    con.execute(f"CREATE TABLE model_registry ({cols})")
    con.execute(
        "INSERT INTO model_registry (model_id, fit, created_at, params, metrics) VALUES "
        "('a/pooled', 'evaluation', '2025-01-02T03:04:05+00:00', '{\"eta\": 0.1}', "
        "'mae 4.5, rows 10')"
    )
    con.close()
    wh = WarehouseResource(path=str(path))
    alert = {c.name: None for c in ALERTS.columns} | {
        "alert_id": "x", "created_at": "2026-01-01T00:00:00+00:00"
    }  # fmt: skip
    wh.upsert(ALERTS, pl.DataFrame([alert], schema=ALERTS.schema))  # any write
    row = wh.query(
        "SELECT created_at, params->>'$.eta' AS eta, metrics::VARCHAR AS metrics, "
        "typeof(created_at) AS t, typeof(metrics) AS m FROM model_registry"
    ).row(0, named=True)
    assert (row["t"], row["m"]) == ("TIMESTAMP WITH TIME ZONE", "JSON")
    assert row["created_at"].isoformat() == "2025-01-02T03:04:05+00:00" and row["eta"] == "0.1"
    assert row["metrics"] == '"mae 4.5, rows 10"'  # kept verbatim, as a JSON string


def _rows(table, rows: list[dict]) -> pl.DataFrame:
    """Hand-made rows of `table`, the columns not given null."""
    return table.conform_stored(pl.DataFrame(rows, infer_schema_length=None))


def test_each_views_columns_are_the_documented_ones(tmp_path):
    from statmuse_pipelines.core.schemas import TABLES, VIEWS

    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    wh.ensure_tables(list(TABLES.values()))
    for view in VIEWS.values():  # the documented columns are the view's, in order
        described = wh.query(f'DESCRIBE "{view.name}"')["column_name"].to_list()
        assert described == [name for name, _ in view.columns], view.name


def test_drift_flags_are_the_newest_checks_flags_with_what_the_flag_uses(tmp_path):
    """Features past the PSI, KS-statistic and shift limits, and calibration past the ECE
    margin (no PSI or KS: last), of each stat's newest check only."""
    from polars.testing import assert_frame_equal

    from statmuse_pipelines.core.schemas import FEATURE_DRIFT

    def measured(at, name, psi, ks, shift, drifted, kind="feature"):
        return {
            "stat": "PTS", "model_version": "pts-1", "checked_at": at, "kind": kind,
            "name": name, "psi": psi, "ks_stat": ks, "ks_pvalue": ks and ks / 100,
            "shift": shift, "drifted": drifted,
        }  # fmt: skip

    old, new = "2026-12-01T09:00:00+00:00", "2026-12-02T09:00:00+00:00"
    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    wh.upsert(FEATURE_DRIFT, _rows(FEATURE_DRIFT, [measured(old, "a", 0.9, 0.3, 1.0, True)]))
    newest = [
        measured(new, "b", 0.4, 0.15, 0.6, True),
        measured(new, "c", 0.6, 0.05, 0.7, False),
        measured(new, "d", 0.5, 0.2, 0.8, True),
        measured(new, "ece", None, None, None, True, kind="calibration"),
    ]
    wh.upsert(FEATURE_DRIFT, _rows(FEATURE_DRIFT, newest))
    flags = wh.query("SELECT name, kind, psi, ks_stat, ks_pvalue, shift FROM drift_flags")
    expected = pl.DataFrame(
        {"name": ["d", "b", "ece"], "kind": ["feature", "feature", "calibration"],
         "psi": [0.5, 0.4, None], "ks_stat": [0.2, 0.15, None],
         "ks_pvalue": [0.002, 0.0015, None], "shift": [0.8, 0.6, None]}
    )  # fmt: skip
    assert_frame_equal(flags, expected, check_exact=False, abs_tol=1e-12)


def test_todays_bets_are_the_newest_slates_bets_with_ps_comparable_with_the_markets(tmp_path):
    """An older slate's bet and a PASS are left out; on the whole-number line (P(push) 0.1) our
    P of the side given no push is what compares with the de-vigged market's."""
    from polars.testing import assert_frame_equal

    from statmuse_pipelines.core.schemas import PREDICTIONS

    def row(day, pid, rec, line, p_over, p_push, market, ev_over, ev_under, stake):
        p_under = 1 - p_over - p_push
        side = {"OVER": p_over, "UNDER": p_under}.get(rec, max(p_over, p_under))
        return {
            "prediction_date": day, "player_id": pid, "player_name": f"P{pid}", "stat": "PTS",
            "recommendation": rec, "line": line, "line_kind": "real", "book": "b",
            "over_odds": -110.0, "under_odds": 105.0, "market_p_over": market,
            "p_over": p_over, "p_under": p_under, "p_push": p_push, "confidence": side,
            "ev_over": ev_over, "ev_under": ev_under, "kelly_stake": stake,
            "model_version": "pts-2", "created_at": "2026-12-03T10:00:00+00:00",
        }  # fmt: skip

    yesterday, today = date(2026, 12, 2), date(2026, 12, 3)
    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    older = row(yesterday, 9, "OVER", 20.5, 0.70, 0.0, 0.50, 0.34, -0.40, 0.02)  # best EV
    wh.upsert(PREDICTIONS, _rows(PREDICTIONS, [older]))
    wh.upsert(
        PREDICTIONS,
        _rows(
            PREDICTIONS,
            [
                row(today, 1, "OVER", 24.5, 0.60, 0.0, 0.52, 0.145, -0.18, 0.02),
                row(today, 2, "UNDER", 8.0, 0.30, 0.10, 0.44, -0.43, 0.23, 0.015),
                row(today, 3, "PASS", 5.5, 0.50, 0.0, 0.49, -0.05, -0.03, 0.0),
            ],
        ),
    )
    bets = wh.query(
        "SELECT prediction_date, player_id, side, line, odds, p_side, p_side_no_push, "
        "market_p_side, ev, kelly_stake FROM todays_bets"
    )
    expected = pl.DataFrame(
        {"prediction_date": [today, today], "player_id": [2, 1], "side": ["UNDER", "OVER"],
         "line": [8.0, 24.5], "odds": [105.0, -110.0], "p_side": [0.60, 0.60],
         "p_side_no_push": [0.60 / 0.90, 0.60], "market_p_side": [0.56, 0.52],
         "ev": [0.23, 0.145], "kelly_stake": [0.015, 0.02]}
    )  # fmt: skip
    assert_frame_equal(bets, expected, check_exact=False, abs_tol=1e-12)


def test_production_models_are_one_row_per_stat_from_the_registry(tmp_path):
    """The production version only (an archived one and its metrics left out), trained when
    first fit, promoted when last made production, the champion set's test MAE against the best
    baseline on the test split (validation and per-player rows left out), and the players with
    a model of their own (one served by the pooled model is not)."""
    from datetime import UTC, datetime

    from polars.testing import assert_frame_equal

    from statmuse_pipelines.core.schemas import (
        MODEL_METRICS,
        MODEL_REGISTRY,
        MODEL_STAGE_HISTORY,
    )

    def model(version, scope, kind, fit, stage, at):
        return {
            "model_id": f"{version}/{scope}", "stat": version.split("-")[0].upper(),
            "scope": scope, "kind": kind, "version": version, "dataset_version": f"ds-{version}",
            "fit": fit, "stage": stage, "created_at": f"2026-{at}:00Z",
        }  # fmt: skip

    def change(version, to_stage, at):
        return {"stat": version.split("-")[0].upper(), "version": version, "to_stage": to_stage,
                "changed_at": f"2026-{at}:00Z", "reason": "test"}  # fmt: skip

    def mae(version, scope, kind, split, value):
        return {"version": version, "scope": scope, "kind": kind, "split": split, "mae": value}

    def utc(month, day, hour=0):
        return datetime(2026, month, day, hour, tzinfo=UTC)

    wh = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    wh.upsert(
        MODEL_REGISTRY,
        _rows(
            MODEL_REGISTRY,
            [
                model("pts-2", "pooled", "xgb_pooled", "evaluation", "production", "11-01T08:00"),
                model("pts-2", "pooled", "xgb_pooled", "production", "production", "11-01T09:00"),
                model("pts-2", "101", "rf", "evaluation", "production", "11-01T08:30"),
                model("pts-2", "102", "pooled", "evaluation", "production", "11-01T08:30"),
                model("pts-2", "103", "xgb", "evaluation", "production", "11-01T08:30"),
                model("pts-2", "103", "xgb", "production", "production", "11-01T09:00"),
                model("pts-1", "pooled", "xgb_pooled", "evaluation", "archived", "10-01T08:00"),
                model("reb-1", "pooled", "xgb_pooled", "evaluation", "production", "10-15T08:00"),
                model("reb-1", "104", "elasticnet", "evaluation", "production", "10-15T08:30"),
                # a combo built from its parts: its own players are its parts' (101, 103, 104)
                {**model("pr-1", "PTS", "part", "evaluation", "production", "11-02T08:00"),
                 "params": '{"version": "pts-2"}'},
                {**model("pr-1", "REB", "part", "evaluation", "production", "11-02T08:00"),
                 "params": '{"version": "reb-1"}'},
            ],
        ),
    )  # fmt: skip
    wh.upsert(
        MODEL_STAGE_HISTORY,
        _rows(
            MODEL_STAGE_HISTORY,
            [
                change("pts-1", "production", "10-02T00:00"),
                change("pts-2", "candidate", "11-01T09:05"),
                change("pts-2", "production", "11-01T10:00"),
                change("pts-2", "archived", "11-10T00:00"),
                change("pts-2", "production", "11-12T07:00"),  # rolled forward again
                change("reb-1", "production", "10-16T00:00"),
                change("pr-1", "production", "11-02T09:00"),
            ],
        ),
    )
    wh.upsert(
        MODEL_METRICS,
        _rows(
            MODEL_METRICS,
            [
                mae("pts-2", "all", "champion", "test", 4.0),
                mae("pts-2", "all", "baseline_last10", "test", 5.0),
                mae("pts-2", "all", "baseline_ewm", "test", 4.8),
                mae("pts-2", "all", "baseline_ewm", "val", 1.0),
                mae("pts-2", "all", "champion", "val", 3.5),
                mae("pts-2", "101", "champion", "test", 2.0),
                mae("pts-1", "all", "champion", "test", 9.9),
                mae("reb-1", "all", "champion", "test", 2.0),
                mae("reb-1", "all", "baseline_season", "test", 2.5),
                mae("pr-1", "all", "champion", "test", 6.0),
                mae("pr-1", "all", "baseline_last10", "test", 6.5),
            ],
        ),
    )
    models = wh.query("SELECT * FROM production_models")
    expected = pl.DataFrame(
        {"stat": ["PR", "PTS", "REB"], "version": ["pr-1", "pts-2", "reb-1"],
         "dataset_version": ["ds-pr-1", "ds-pts-2", "ds-reb-1"],
         "trained_at": [utc(11, 2, 8), utc(11, 1, 8), utc(10, 15, 8)],
         "promoted_at": [utc(11, 2, 9), utc(11, 12, 7), utc(10, 16)],
         "test_mae": [6.0, 4.0, 2.0], "best_baseline_mae": [6.5, 4.8, 2.5],
         "vs_best_baseline": [6.0 / 6.5 - 1, 4.0 / 4.8 - 1, 2.0 / 2.5 - 1],
         "own_models": [3, 2, 1]},
        schema_overrides={"trained_at": pl.Datetime("us", "UTC"),
                          "promoted_at": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    assert_frame_equal(models, expected, check_exact=False, abs_tol=1e-12)


def test_a_view_defined_otherwise_is_replaced_and_a_current_one_left_alone(tmp_path):
    from statmuse_pipelines.core.schemas import TABLES

    path = tmp_path / "w.duckdb"
    wh = WarehouseResource(path=str(path))
    wh.ensure_tables(list(TABLES.values()))
    con = duckdb.connect(str(path))
    con.execute("CREATE OR REPLACE VIEW todays_bets AS SELECT 1 AS old")
    con.execute("DROP VIEW drift_flags")
    con.close()
    assert wh.ensure_tables(list(TABLES.values())) == []  # no table was missing
    assert "side" in wh.query("SELECT * FROM todays_bets").columns
    assert wh.table_exists("drift_flags")
    before = path.stat().st_mtime_ns
    assert wh.ensure_tables(list(TABLES.values())) == []
    assert path.stat().st_mtime_ns == before  # all current: nothing written


def test_a_stored_type_other_than_text_is_left_as_it_is(tmp_path):
    """Only text timestamps and JSON are converted; any other stored type stays (the insert
    casts to it) rather than failing every write to the table."""
    from statmuse_pipelines.core.schemas import MODEL_PERFORMANCE

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE model_performance (stat VARCHAR, as_of DATE, window_days DOUBLE)")
    con.close()
    row = {c.name: None for c in MODEL_PERFORMANCE.columns} | {
        "stat": "PTS", "as_of": date(2026, 12, 2), "window_days": 7
    }  # fmt: skip
    wh = WarehouseResource(path=str(path))
    wh.upsert(MODEL_PERFORMANCE, pl.DataFrame([row], schema=MODEL_PERFORMANCE.schema))
    stored = wh.query("SELECT window_days, typeof(window_days) AS t FROM model_performance")
    assert stored.row(0) == (7.0, "DOUBLE")


def test_a_view_that_cannot_bind_costs_the_view_not_the_write(tmp_path, caplog):
    """A stored column a view cannot read (predictions.market_p_over kept as text): an unrelated
    write still lands, the other views are made, and a warning names the view left out."""
    from statmuse_pipelines.core.schemas import MODEL_PERFORMANCE, PREDICTIONS

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    cols = ", ".join(
        f'"{c.name}" {"VARCHAR" if c.name == "market_p_over" else column_type(c)}'
        for c in PREDICTIONS.columns
    )
    con.execute(f"CREATE TABLE predictions ({cols})")
    con.close()
    wh = WarehouseResource(path=str(path))
    with caplog.at_level("WARNING", logger="statmuse_pipelines.resources.warehouse"):
        for window in (1, 7):  # the next write too
            row = {c.name: None for c in MODEL_PERFORMANCE.columns} | {
                "stat": "PTS", "as_of": date(2026, 12, 2), "window_days": window
            }  # fmt: skip
            wh.upsert(MODEL_PERFORMANCE, pl.DataFrame([row], schema=MODEL_PERFORMANCE.schema))
    stored = wh.query("SELECT window_days FROM model_performance ORDER BY 1")
    assert stored["window_days"].to_list() == [1, 7]
    assert wh.table_exists("production_models") and wh.table_exists("drift_flags")
    assert not wh.table_exists("todays_bets")
    assert "todays_bets" in caplog.text


def test_an_older_warehouse_is_converted_whole_by_its_next_write(tmp_path):
    """Every declared table of a text warehouse is typed by its next write, not only the table
    written and those the views read (alerts and datasets are neither here)."""
    from statmuse_pipelines.core.schemas import ALERTS, DATASETS, MODEL_PERFORMANCE

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for table in (ALERTS, DATASETS):
        cols = ", ".join(
            f'"{c.name}" {"VARCHAR" if c.sql else column_type(c)}' for c in table.columns
        )
        con.execute(f'CREATE TABLE "{table.name}" ({cols})')
    con.execute("INSERT INTO alerts (alert_id, created_at) VALUES ('x', '2026-01-01T00:00:00Z')")
    con.execute("INSERT INTO datasets (target, manifest) VALUES ('PTS', '{\"rows\": 3}')")
    con.close()
    row = {c.name: None for c in MODEL_PERFORMANCE.columns} | {
        "stat": "PTS", "as_of": date(2026, 12, 2), "window_days": 7
    }  # fmt: skip
    wh = WarehouseResource(path=str(path))
    wh.upsert(MODEL_PERFORMANCE, pl.DataFrame([row], schema=MODEL_PERFORMANCE.schema))
    types = wh.query(
        "SELECT table_name || '.' || column_name AS c, data_type FROM information_schema.columns "
        "WHERE table_name IN ('alerts', 'datasets') AND column_name IN ('created_at', 'manifest')"
    )
    assert dict(types.iter_rows()) == {
        "alerts.created_at": "TIMESTAMP WITH TIME ZONE",
        "datasets.created_at": "TIMESTAMP WITH TIME ZONE",
        "datasets.manifest": "JSON",
    }
    assert wh.query("SELECT manifest->>'$.rows' AS n FROM datasets")["n"][0] == "3"
