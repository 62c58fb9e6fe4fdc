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
from statmuse_pipelines.resources.warehouse import WarehouseBusyError, WarehouseResource

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
