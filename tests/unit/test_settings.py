from datetime import date
from pathlib import Path

import pytest

from statmuse_pipelines.settings import Settings, SettingsError


def test_defaults():
    s = Settings.from_env({})
    assert s.source == "synthetic" and s.seed == 7 and s.seasons == 3
    assert s.home == Path("data").resolve()
    assert s.warehouse_path == s.home / "warehouse.duckdb"


def test_values_from_the_environment(tmp_path):
    s = Settings.from_env(
        {
            "STATMUSE_HOME": str(tmp_path),
            "STATMUSE_SOURCE": "Files",
            "STATMUSE_FILES_DIR": str(tmp_path / "x"),
            "STATMUSE_TODAY": "2026-01-02",
        }
    )
    assert s.source == "files" and s.files_dir == tmp_path / "x"
    assert s.today == date(2026, 1, 2) and s.lake_dir == tmp_path / "lake"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"STATMUSE_SOURCE": "espn"}, "STATMUSE_SOURCE='espn' is not one of"),
        ({"STATMUSE_SOURCE": "files"}, "needs STATMUSE_FILES_DIR"),
        ({"STATMUSE_SEED": "seven"}, "STATMUSE_SEED='seven' is not a whole number"),
        ({"STATMUSE_TODAY": "22/11/2026"}, "STATMUSE_TODAY='22/11/2026' is not a date"),
        ({"STATMUSE_SEASONS": "0"}, "at least 1"),
        ({"STATMUSE_BOOK_ERROR": "big"}, "STATMUSE_BOOK_ERROR='big' is not a number"),
        ({"STATMUSE_BOOK_ERROR": "-1"}, "STATMUSE_BOOK_ERROR must be a number from 0"),
        ({"STATMUSE_RETRAIN_AFTER_DAYS": "two weeks"}, "STATMUSE_RETRAIN_AFTER_DAYS='two weeks'"),
        ({"STATMUSE_RETRAIN_AFTER_DAYS": "0"}, "STATMUSE_RETRAIN_AFTER_DAYS must be at least 1"),
        (
            {"STATMUSE_SOURCE": "nba_api", "STATMUSE_LINES": "synthetic"},
            "STATMUSE_LINES=synthetic is the synthetic league's book",
        ),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_lines_default_to_the_sources_own(tmp_path):
    from statmuse_pipelines.core.synthetic import BookSettings

    synthetic = Settings.from_env({"STATMUSE_HOME": str(tmp_path)})
    assert synthetic.lines == "synthetic" and Settings(home=tmp_path).lines == "synthetic"
    # one default for the book's error, wherever it is read
    assert synthetic.book_error == Settings(home=tmp_path).book_error == BookSettings().error
    live = Settings.from_env({"STATMUSE_HOME": str(tmp_path), "STATMUSE_SOURCE": "nba_api"})
    assert live.lines == "proxy"
    proxy = Settings.from_env({"STATMUSE_HOME": str(tmp_path), "STATMUSE_LINES": "PROXY"})
    assert proxy.lines == "proxy"
    sloppy = Settings.from_env({"STATMUSE_HOME": str(tmp_path), "STATMUSE_BOOK_ERROR": "0.6"})
    assert sloppy.book_error == 0.6


def test_nba_api_credentials_reach_the_resource_as_env_vars_not_values(tmp_path, monkeypatch):
    import dagster as dg

    from statmuse_pipelines.definitions import build_definitions

    monkeypatch.setenv("STATMUSE_NBA_API_PROXY", "http://user:secret@proxy:8080")
    monkeypatch.setenv("STATMUSE_NBA_API_HEADERS", '{"User-Agent": "x"}')
    monkeypatch.setenv("STATMUSE_HOME", str(tmp_path))
    monkeypatch.setenv("STATMUSE_SOURCE", "nba_api")
    settings = Settings.from_env()
    source = build_definitions(settings).resources["game_logs"]
    assert source.proxy == dg.EnvVar("STATMUSE_NBA_API_PROXY")
    assert source.headers_json == dg.EnvVar("STATMUSE_NBA_API_HEADERS")
    assert "secret" not in repr(source)
