"""A PostgreSQL-backed Dagster instance (deploy/dagster.yaml): runs, materializations and check
results land in Postgres and read back from it."""

import os
import shutil
import uuid
from datetime import date

import dagster as dg
import pytest

from statmuse_pipelines.settings import Settings
from tests.conftest import REPO, TODAY
from tests.dagster.helpers import run_range

pytestmark = pytest.mark.integration

PG = dict(host="127.0.0.1", port=5432, user="postgres")


@pytest.fixture
def postgres_url():
    """A fresh database for this test, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:
        reason = f"no PostgreSQL at {PG['host']}:{PG['port']} ({exc})"
        if os.environ.get("STATMUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + "; CI requires it")
        pytest.skip(reason)
    admin.autocommit = True
    name = f"statmuse_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}", name
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def test_runs_materializations_and_checks_live_in_postgres(postgres_url, home, monkeypatch):
    url, name = postgres_url
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_DIR", str(home / "compute_logs"))
    dagster_home = home / "pg_dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")

    settings = Settings(home=home, source="synthetic", seasons=1, today=TODAY)
    first, last = date(2025, 10, 21), date(2025, 10, 23)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        result = run_range(settings, first, last, instance=instance)
        assert result.success
        run_id = result.run_id

    # a new instance object, so everything below comes back from the database
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        record = instance.get_run_record_by_id(run_id)
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert record.dagster_run.tags["dagster/asset_partition_range_start"] == "2025-10-21"
        mats = instance.fetch_materializations(dg.AssetKey("player_game_stats"), limit=10).records
        assert {m.partition_key for m in mats} == {"2025-10-21", "2025-10-22", "2025-10-23"}
        rows = {
            m.partition_key: m.asset_materialization.metadata["dagster/row_count"].value
            for m in mats
        }
        assert rows["2025-10-21"] > 0
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("player_features"), "features_are_pregame")]
        )
        latest = check[dg.AssetCheckKey(dg.AssetKey("player_features"), "features_are_pregame")]
        assert latest.run_id == run_id
        assert latest.event.dagster_event.event_specific_data.passed

    # and straight from PostgreSQL, without Dagster
    import psycopg2

    with psycopg2.connect(dbname=name, **PG) as con, con.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", [run_id])
        assert cur.fetchone()[0] == "SUCCESS"
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
            "'ASSET_MATERIALIZATION'",
            [run_id],
        )
        # 3 days x (raw player, raw team, player stats, team stats, features)
        assert cur.fetchone()[0] == 15
        cur.execute(
            "SELECT DISTINCT asset_key || '.' || check_name, execution_status "
            "FROM asset_check_executions "
            "WHERE run_id = %s",
            [run_id],
        )
        statuses = dict(cur.fetchall())
        assert len(statuses) == 2 + 7 + 8 + 4  # raw, stats, team stats and features checks
        assert set(statuses.values()) == {"SUCCEEDED"}


def test_a_killed_run_does_not_block_the_next_on_postgres(postgres_url, home, tmp_path):
    from tests.dagster.test_crashed_runs import kill_and_rerun

    url, _ = postgres_url
    env = {"DAGSTER_POSTGRES_URL": url, "DAGSTER_COMPUTE_LOG_DIR": str(home / "compute_logs")}
    os.environ.update(env)  # for the test's own view of the instance
    try:
        (home / "dagster_home").mkdir(exist_ok=True)
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
        kill_and_rerun(home, tmp_path / "exports", env)
        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    finally:
        for name in env:
            os.environ.pop(name, None)
