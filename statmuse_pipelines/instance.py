"""The Dagster instance the `statmuse` command runs against: its dagster.yaml under
DAGSTER_HOME, the tags that name the command's process and code location on every run, the
failing of runs whose process died, and the workspace `statmuse ui` opens.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from statmuse_pipelines.settings import Settings, apply_dagster_environment, export_environment

Echo = Callable[[str], None]

INSTANCE_HEADER = "# Written by `statmuse` for local runs"
INSTANCE_YAML = """\
# Written by `statmuse` for local runs: SQLite storage under this folder.
# For a PostgreSQL-backed deployment see deploy/dagster.yaml.
# The event log writes a range run's per-partition events in one transaction
# (statmuse_pipelines/event_log.py); runs and schedules use Dagster's SQLite defaults.
event_log_storage:
  module: statmuse_pipelines.event_log
  class: BatchedSqliteEventLogStorage
telemetry:
  enabled: false
concurrency:
  pools:
    # both pools of this project (nba_api, duckdb) allow one step at a time
    default_limit: 1
"""

# every run the command makes in its own process says which process: a run left STARTED by a
# process that is gone (killed, or its machine rebooted) is failed by the next command, and the
# pool slots it held are freed, so one crashed run never blocks the next
PID_TAG, HOST_TAG = "statmuse/pid", "statmuse/host"
# The code location every workspace of this project names (workspace.yaml, [tool.dagster] in
# pyproject.toml, the one `statmuse ui` writes). The UI lists a job's runs, and draws them on
# the Overview timeline, by the hidden tag a run launched from the UI carries,
# "<repository>@<location>" (the repository of a Definitions object is "__repository__"). The
# command's in-process runs carry the same tag, so they are listed beside the UI's own runs.
LOCATION_NAME = "statmuse_pipelines"
REPOSITORY_LABEL_TAG = ".dagster/repository"
REPOSITORY_LABEL = f"__repository__@{LOCATION_NAME}"


def cli_tags(tags: dict[str, str]) -> dict[str, str]:
    return {
        **tags,
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
        REPOSITORY_LABEL_TAG: REPOSITORY_LABEL,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def fail_dead_runs(instance, echo: Echo = print) -> list[str]:
    """Fail the runs this machine's `statmuse` processes left STARTED when they died, and free
    the pool slots they held (Dagster's run monitoring does this for runs the daemon launched;
    in-process runs have no monitor). Returns the run ids."""
    import dagster as dg

    alive = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    host, freed = socket.gethostname(), []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=alive)):
        pid = run.tags.get(PID_TAG)
        if not pid or run.tags.get(HOST_TAG) != host or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        instance.report_run_failed(
            run, message=f"the process that ran it (pid {pid}) is gone: failed by statmuse"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        freed.append(run.run_id)
        echo(f"note: run {run.run_id} ({run.job_name}) died with its process (pid {pid}): "
             "marked failed and its pool slots freed")  # fmt: skip
    return freed


@contextmanager
def open_instance(settings: Settings) -> Iterator:
    """The instance at DAGSTER_HOME, after failing the runs of dead `statmuse` processes; every
    warehouse table exists (empty until its asset runs) before the first run."""
    import dagster as dg

    from statmuse_pipelines.core.schemas import TABLES
    from statmuse_pipelines.resources.factory import warehouse_of

    settings.home.mkdir(parents=True, exist_ok=True)
    warehouse_of(settings).ensure_tables(list(TABLES.values()))
    with dg.DagsterInstance.get() as instance:
        fail_dead_runs(instance, lambda line: print(line, file=sys.stderr))
        yield instance


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at a folder with a dagster.yaml (created on first use; one that
    `statmuse` wrote earlier is brought up to date, one written by anybody else is left alone)."""
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    written = config.read_text() if config.exists() else None
    if written is None or (written.startswith(INSTANCE_HEADER) and written != INSTANCE_YAML):
        config.write_text(INSTANCE_YAML)
    export_environment({"DAGSTER_HOME": str(home)})
    apply_dagster_environment()
    return home


def ui_workspace(dagster_home: Path) -> Path:
    """A workspace file for an installed project: the code location is named as in the
    checkout's workspace.yaml, which the command's runs are tagged with (LOCATION_NAME)."""
    path = dagster_home / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: statmuse_pipelines.definitions\n"
        f"      location_name: {LOCATION_NAME}\n"
    )
    return path


def start_ui(settings: Settings, host: str, port: int) -> None:
    """Replace this process with the Dagster UI (`dagster dev`) on this project's instance and
    code location: the checkout's workspace.yaml, or for an installed copy one named the same."""
    ensure_dagster_home(settings)
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    if not workspace.exists():  # installed, not a checkout: the same location name
        workspace = ui_workspace(settings.dagster_home)
    # the dagster of this interpreter, whether or not its virtualenv is activated
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port)]
    cmd += ["-w", str(workspace)]
    print(f"DAGSTER_HOME={settings.dagster_home} dagster dev {' '.join(cmd[4:])}")
    os.chdir(workspace.parent)
    os.execvp(cmd[0], cmd)
