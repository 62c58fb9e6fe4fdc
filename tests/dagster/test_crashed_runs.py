"""A crashed run never blocks the next: a `statmuse` process killed while its run holds the
`duckdb` pool slot leaves the run STARTED and the slot claimed; the next command fails that run,
frees the slot and proceeds."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb

from statmuse_pipelines.instance import HOST_TAG, PID_TAG, fail_dead_runs
from tests.conftest import REPO
from tests.dagster.exports import write_exports

FIRST, LAST = date(2024, 10, 22), date(2024, 10, 24)


def _backfill(home, exports) -> list[str]:
    return [sys.executable, "-m", "statmuse_pipelines.cli", "backfill", "--source", "files",
            "--files-dir", str(exports), "--start", FIRST.isoformat(), "--end", LAST.isoformat(),
            "--stat", "PTS", "--home", str(home)]  # fmt: skip


@contextmanager
def _instance(home):
    """The instance at home/dagster_home (the project's SQLite event log reads DAGSTER_HOME)."""
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        if before is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = before


def _run_storage_ready(home) -> bool:
    """Whether the command has created the instance's storage and started its run (a run's own
    event log file exists): opening the instance before that would create the same SQLite
    files from two processes at once."""
    config = home / "dagster_home" / "dagster.yaml"
    if not config.exists():
        return False
    if "postgres" in config.read_text():  # a server creates its tables once, in one place
        return True
    runs = home / "dagster_home" / "history" / "runs"
    return any(p.name != "index.db" for p in runs.glob("*.db"))


def _claimed(home) -> int:
    with _instance(home) as instance:
        return len(instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots)


def test_a_killed_run_is_failed_and_its_pool_slot_freed_by_the_next_command(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    kill_and_rerun(home, tmp_path / "exports", {})


def kill_and_rerun(home, exports, extra_env: dict[str, str]) -> None:
    """Kill a backfill while its run holds the duckdb slot; the next backfill proceeds. The
    instance is the one at home/dagster_home (the CLI's SQLite one unless a dagster.yaml of
    another's making is there)."""
    exports = write_exports(exports, FIRST, LAST)
    # an analyst's session holds the warehouse: the first write waits for it, holding the slot
    analyst = duckdb.connect(str(home / "warehouse.duckdb"))
    env = {**os.environ, **extra_env, "STATMUSE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    first = subprocess.Popen(
        _backfill(home, exports), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and first.poll() is None:
        if _run_storage_ready(home) and _claimed(home) > 0:
            break
        time.sleep(0.3)
    assert first.poll() is None and _claimed(home) == 1, "the run never took the duckdb slot"
    first.send_signal(signal.SIGKILL)
    first.wait()
    analyst.close()
    assert _claimed(home) == 1  # the dead run still holds it: what blocked every later run
    # the next command notices, fails the dead run, frees the slot and gets on with its work
    second = subprocess.run(
        _backfill(home, exports), cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"(pid {first.pid}): marked failed and its pool slots freed" in second.stderr
    with _instance(home) as instance:
        dead = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(first.pid)}))
        assert dead and {r.status for r in dead} == {dg.DagsterRunStatus.FAILURE}
    assert _claimed(home) == 0


def test_only_runs_of_dead_processes_on_this_machine_are_failed():
    instance = dg.DagsterInstance.ephemeral()

    @dg.op
    def noop():
        return None

    @dg.job
    def job():
        noop()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    runs = {}
    for name, tags in {
        "dead": {PID_TAG: str(dead.pid), HOST_TAG: here},
        "this process": {PID_TAG: str(os.getpid()), HOST_TAG: here},
        "another machine": {PID_TAG: str(dead.pid), HOST_TAG: "elsewhere"},
        "the UI's (no tags)": {},
    }.items():
        run = instance.create_run_for_job(job, tags=tags, status=dg.DagsterRunStatus.STARTED)
        runs[name] = run.run_id
    assert fail_dead_runs(instance, echo=lambda _: None) == [runs["dead"]]
    status = {n: instance.get_run_by_id(r).status for n, r in runs.items()}
    assert status == {
        "dead": dg.DagsterRunStatus.FAILURE,
        "this process": dg.DagsterRunStatus.STARTED,
        "another machine": dg.DagsterRunStatus.STARTED,
        "the UI's (no tags)": dg.DagsterRunStatus.STARTED,
    }
