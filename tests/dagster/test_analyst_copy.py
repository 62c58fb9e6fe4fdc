"""An analyst can hold the warehouse open: the published copy is replaced after each write, so a
session on it never makes the pipeline wait, and the next session sees the new rows."""

from datetime import date

import duckdb

from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings
from tests.conftest import TODAY
from tests.dagster.helpers import run_range


def _rows(con) -> int:
    return con.execute("SELECT count(*) FROM player_game_stats").fetchone()[0]


def test_a_session_held_on_the_published_copy_costs_the_pipeline_nothing(home):
    settings = Settings(home=home, source="synthetic", seasons=1, today=TODAY)
    assert run_range(settings, date(2025, 10, 21), date(2025, 10, 21)).success
    analyst = duckdb.connect(str(settings.analyst_path), read_only=True)
    try:
        before = _rows(analyst)
        assert before > 0
        # a day more while the session is open: the run would wait 30 s and fail on the
        # warehouse itself (DuckDB's lock); here it does not wait at all
        config = {"path": str(settings.warehouse_path), "lock_timeout_seconds": 0.0,
                  "published_path": str(settings.analyst_path)}  # fmt: skip
        resources = {"warehouse": {"config": config}}
        result = run_range(
            settings, date(2025, 10, 22), date(2025, 10, 22), run_config={"resources": resources}
        )
        assert result.success
        assert _rows(analyst) == before  # the open session keeps the copy it opened
    finally:
        analyst.close()
    with duckdb.connect(str(settings.analyst_path), read_only=True) as fresh:
        after = _rows(fresh)
    assert after > before
    warehouse = WarehouseResource(path=str(settings.warehouse_path))
    assert warehouse.query("SELECT count(*) AS n FROM player_game_stats")["n"][0] == after
    # nothing is left beside it
    assert sorted(p.name for p in home.iterdir() if p.suffix in (".duckdb", ".tmp")) == [
        "analyst.duckdb",
        "warehouse.duckdb",
    ]
