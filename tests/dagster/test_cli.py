"""The `statmuse` command as a user runs it."""

import re
from datetime import date

import dagster as dg
import pytest

from statmuse_pipelines.cli import main
from statmuse_pipelines.core.schemas import TABLES
from statmuse_pipelines.resources.warehouse import WarehouseResource
from tests.dagster.exports import edit_csv, write_exports

LATEST = "SELECT target, version FROM datasets WHERE is_latest ORDER BY target"


def step(out: str, text: str) -> bool:
    """Whether a numbered line of `out` ("[i/n] ...") says `text` after its number."""
    return re.search(rf"^\[\d+/\d+\] {re.escape(text)}", out, re.MULTILINE) is not None


def test_every_workspace_names_the_location_the_command_tags_its_runs_with(tmp_path):
    """The UI files a run under its job by "<repository>@<location>": the command's runs name
    the location of workspace.yaml, of pyproject's [tool.dagster] and of `statmuse ui`'s own
    workspace for an installed copy."""
    import tomllib

    import yaml

    from statmuse_pipelines.instance import (
        LOCATION_NAME,
        REPOSITORY_LABEL_TAG,
        cli_tags,
        ui_workspace,
    )
    from tests.conftest import REPO

    def location(path):
        return yaml.safe_load(path.read_text())["load_from"][0]["python_module"]["location_name"]

    assert location(REPO / "workspace.yaml") == LOCATION_NAME
    with (REPO / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["tool"]["dagster"]["code_location_name"] == LOCATION_NAME
    assert location(ui_workspace(tmp_path)) == LOCATION_NAME
    assert cli_tags({})[REPOSITORY_LABEL_TAG] == f"__repository__@{LOCATION_NAME}"


def test_demo_runs_the_synthetic_league_and_prints_a_summary(home, capsys):
    code = main(["demo", "--seasons", "1", "--today", "2025-10-26", "--home", str(home)])
    out = capsys.readouterr().out
    assert code == 0, out
    # history to a week before today; the last week is operated day by day
    assert step(out, "2025-07-01..2025-10-18 ") and step(out, "training datasets")
    # the season starts Oct 21: no game dates before the week, no datasets rows, no models
    assert step(out, "models PTS      skipped: no train or val or test rows (too few game")
    assert step(out, "evaluate PTS      skipped: no production model")
    assert "not trained (PTS, REB, AST" in out
    assert "daily operations, 2025-10-19..2025-10-26:" in out
    assert "2025-10-25 ingest" in out and "2025-10-26 predict" in out
    assert "2025-26" in out and "player-games" in out
    assert "predictions for 2025-10-26: 0 rows" in out and "1-800-GAMBLER" in out
    # too few dates for any split, which the WARN check says (each predict run matches its
    # day's lines too, one passing check each)
    passed, total = map(int, re.search(r"checks: (\d+)/(\d+) evaluations passed", out).groups())
    assert total - passed == 1 and total > 100
    # the synthetic league's own book quotes the games up to today
    assert "market lines 2025-10-21..2025-10-26 (the simulated book" in out
    assert "WARN training_datasets.every_split_has_rows" in out
    assert "player_features:" in out and "training datasets (12 targets" in out
    assert str(home / "warehouse.duckdb") in out
    wh = WarehouseResource(path=str(home / "warehouse.duckdb"))
    # every table an analyst may query exists from the first run, drift and alerts included
    # (empty here: no model was trained), with its documentation as comments
    for name in TABLES:
        assert wh.table_exists(name), name
    comment = wh.query("SELECT comment FROM duckdb_tables() WHERE table_name = 'feature_drift'")
    assert comment["comment"][0] == TABLES["feature_drift"].doc
    n = wh.query("SELECT count(*) AS n, max(game_date) AS last FROM player_game_stats")
    assert n["n"][0] > 500 and n["last"][0] == date(2025, 10, 25)
    # the days operated stored their lines, which say they are the simulated book's
    feeds = wh.query("SELECT feed, count(*) AS n FROM market_lines GROUP BY feed")
    assert feeds["feed"].to_list() == ["synthetic_book"] and feeds["n"][0] > 1000
    # the runs are in the instance that `statmuse ui` opens: the season, datasets, the lines,
    # and predict (the day's lines, then its slate), ingest and grade for each day of the week,
    # then today
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 3 + 7 * 3 + 1
    assert (home / "dagster_home" / "dagster.yaml").read_text().count("default_limit: 1") == 1

    # the week operated since added features, so a rebuild makes new versions; rebuilding again
    # from the same features gives the same versions
    before = wh.query(LATEST).rows()
    assert main(["datasets", "--home", str(home)]) == 0
    assert step(capsys.readouterr().out, "training datasets for 12 targets")
    versions = wh.query(LATEST).rows()
    assert versions != before
    assert main(["datasets", "--home", str(home)]) == 0
    assert wh.query(LATEST).rows() == versions


def test_backfill_from_files_and_a_failure_that_names_the_file(home, tmp_path, capsys):
    exports = write_exports(tmp_path / "exports", date(2024, 10, 22), date(2024, 10, 23))
    args = ["backfill", "--source", "files", "--files-dir", str(exports), "--home", str(home)]
    code = main([*args, "--start", "2024-10-22", "--end", "2024-10-23"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "files source, 2024-10-22..2024-10-23" in out
    wh = WarehouseResource(path=str(home / "warehouse.duckdb"))
    stored = wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0]
    assert stored > 0

    bad = exports / "team_game_logs" / "2024-10-23.csv"
    edit_csv(bad, 2, "FGA", "lots")
    code = main([*args, "--start", "2024-10-22", "--end", "2024-10-23"])
    captured = capsys.readouterr()
    assert code == 1
    assert str(bad) in captured.err and "column FGA, row 2" in captured.err
    # what the failed run did store (the raw player logs, before the team file failed), truly
    said = next(x for x in captured.err.splitlines() if x.startswith("The failed run stored"))
    assert "player_game_stats" not in said and "team_game_stats" not in said, said
    assert wh.query("SELECT count(*) AS n FROM player_game_stats")["n"][0] == stored


def test_configuration_errors_are_one_line(home, capsys):
    code = main(["backfill", "--source", "files", "--start", "2024-10-22", "--end", "2024-10-23"])
    assert code == 2
    assert "STATMUSE_SOURCE=files needs STATMUSE_FILES_DIR" in capsys.readouterr().err
    code = main(["train", "--stat", "PTS", "--stat", "DUNKS", "--home", str(home)])
    assert code == 2
    assert "unknown stat(s) DUNKS; one of PTS, REB" in capsys.readouterr().err
    # a bad date names its option; training with nothing to train on says so and fails
    with pytest.raises(SystemExit) as stopped:
        main(["backfill", "--start", "2024-13-01", "--end", "2024-12-01", "--home", str(home)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --start: '2024-13-01' is not a date YYYY-MM-DD (month must be in 1..12)" in err
    assert main(["train", "--stat", "PTS", "--home", str(home)]) == 1
    assert "nothing trained: no dataset with train, validation and test rows" in (
        capsys.readouterr().err
    )


def test_backfill_after_an_empty_answer_leaves_every_stored_day_as_it_was(home, tmp_path, capsys):
    exports = write_exports(tmp_path / "exports", date(2024, 10, 22), date(2024, 10, 24))
    args = ["backfill", "--source", "files", "--files-dir", str(exports), "--home", str(home),
            "--start", "2024-10-22", "--end", "2024-10-24", "--stat", "PTS"]  # fmt: skip
    assert main(args) == 0
    wh = WarehouseResource(path=str(home / "warehouse.duckdb"))
    query = "SELECT game_date, count(*) AS n FROM player_game_stats GROUP BY 1 ORDER BY 1"
    before = wh.query(query).rows()
    capsys.readouterr()
    # the source answers one stored day with a header and no rows
    for folder in ("player_game_logs", "team_game_logs"):
        path = exports / folder / "2024-10-23.csv"
        path.write_text(path.read_text().splitlines()[0] + "\n")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert wh.query(query).rows() == before
    assert "WARN raw_player_game_logs.empty_answers_keep_stored_days" in out


def test_help_and_a_bad_option_answer_without_importing_dagster():
    """`statmuse --help` and a mistyped option are answered before dagster is imported (which
    takes 2-4 s on this machine)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from statmuse_pipelines.cli import main\n"
        "for argv in (['--help'], ['backfill', '--start', '2024-13-01', '--end', '2024-01-02']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('dagster imported' if 'dagster' in sys.modules else 'dagster not imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("dagster not imported"), out.stdout + out.stderr
    assert "--start" in out.stderr and "YYYY-MM-DD" in out.stderr, out.stderr


def test_a_long_run_prints_what_it_is_doing_while_it_runs(monkeypatch):
    """The command prints a line at least every PROGRESS_SECONDS within a run, with the run's
    newest log message (here 0.2 s, for a run of about a second)."""
    import time

    from statmuse_pipelines import execution

    monkeypatch.setattr(execution, "PROGRESS_SECONDS", 0.2)

    @dg.op
    def slow(context):
        context.log.info("fitting the pooled model, 3 of 12 stats")
        time.sleep(1.2)

    @dg.job
    def long_job():
        slow()

    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        result = execution.execute(long_job, instance, "[5/29] models PTS", lines.append, {})
    assert result.success
    assert len(lines) >= 3, lines
    assert all(line.startswith("[5/29] models PTS  ... ") for line in lines), lines
    assert "fitting the pooled model, 3 of 12 stats" in lines[-1], lines


def test_a_market_lines_line_says_how_many_quotes_were_kept_even_none():
    from types import SimpleNamespace

    from statmuse_pipelines.reporting import matched

    def run(**metadata):
        values = {k: SimpleNamespace(value=v) for k, v in metadata.items()}
        return SimpleNamespace(asset_materializations_for_node=lambda node: [
            SimpleNamespace(metadata=values)
        ])  # fmt: skip

    keys = ("match_rate_on_covered_dates", "quotes_kept", "quotes")
    none_kept = run(**dict(zip(keys, (0.0, 0, 31010), strict=True)))
    assert matched(none_kept) == ", 0.0% of spellings matched, 0 of 31,010 quotes kept)"
    assert matched(run(match_rate_on_covered_dates=0.5)) == ", 50.0% of spellings matched)"
    assert matched(run()) == ")"
