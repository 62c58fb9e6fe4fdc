"""The code location loads, in every source configuration, with the graph the design describes."""

import dagster as dg
import pytest

from statmuse_pipelines.definitions import build_definitions, defs
from statmuse_pipelines.resources.sources import (
    FilesGameLogSource,
    NbaApiGameLogSource,
    SyntheticGameLogSource,
)
from statmuse_pipelines.settings import Settings


def test_definitions_load_from_the_environment(home):
    d = defs()
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "raw_player_game_logs",
        "raw_team_game_logs",
        "daily_slate",
        "player_game_stats",
        "team_game_stats",
        "player_features",
        "training_datasets",
        "player_models",
        "market_lines",
        "calibrators",
        "walk_forward_predictions",
        "backtest_reports",
        "daily_predictions",
        "prediction_outcomes",
        "model_performance",
        "feature_drift",
    }
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["raw_player_game_logs"] == "ingest" and groups["team_game_stats"] == "normalize"
    assert groups["player_features"] == "features" and groups["training_datasets"] == "datasets"
    assert d.resolve_job_def("build_training_datasets_job") is not None
    assert d.resolve_job_def("train_models_job") is not None
    assert groups["player_models"] == "models" and groups["market_lines"] == "lines"
    assert groups["walk_forward_predictions"] == "evaluation"
    for job in ("predict_slate_job", "grade_predictions_job", "check_drift_job", "retrain_job"):
        assert d.resolve_job_def(job) is not None
    for schedule in ("weekly_retrain_schedule", "prune_old_runs_schedule"):
        assert d.resolve_schedule_def(schedule) is not None
    for sensor in ("retrain_on_drift_sensor", "new_data_sensor", "alert_sensor"):
        assert d.resolve_sensor_def(sensor) is not None
    assert d.resolve_job_def("refresh_game_days_job") is not None
    assert d.resolve_schedule_def("daily_ingest_schedule") is not None
    assert isinstance(d.resources["game_logs"], SyntheticGameLogSource)


@pytest.mark.parametrize(
    "source, cls", [("files", FilesGameLogSource), ("nba_api", NbaApiGameLogSource)]
)
def test_each_source_is_chosen_by_configuration(tmp_path, source, cls):
    settings = Settings(home=tmp_path, source=source, files_dir=tmp_path)
    d = build_definitions(settings)
    assert isinstance(d.resources["game_logs"], cls)
    dg.Definitions.validate_loadable(d)


def test_assets_carry_pools_kinds_docs_and_blocking_checks(home):
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.kinds, key
        # every asset is partitioned: by game date, or by stat target
        assert node.partitions_def is not None, key
    specs = {c.name: c for c in defs().resolve_asset_graph().asset_check_keys}
    assert "no_duplicate_player_games" in specs and "player_totals_match_team_totals" in specs
    assets = {a.key.to_user_string(): a for a in defs().assets}
    assert assets["raw_player_game_logs"].op.pool == "nba_api"
    assert assets["player_game_stats"].op.pool == "duckdb"
    blocking = {s.name: s.blocking for s in assets["team_game_stats"].check_specs}
    assert blocking["every_game_has_two_teams"] and not blocking["pace_is_plausible"]
    # a late morning shows in the UI: ingest by 09:00, today's slate by 10:00 (league time)
    fresh = {k.to_user_string(): graph.get(k).freshness_policy for k in graph.get_all_asset_keys()}
    assert fresh["raw_player_game_logs"].deadline_cron == "0 9 * * *"
    assert fresh["daily_predictions"].deadline_cron == "0 10 * * *"
    assert fresh["daily_predictions"].timezone == "America/New_York"


def test_every_warehouse_table_is_declared_by_the_asset_that_writes_it(home):
    """The Columns section of each asset's page is core/schemas' table, types and meanings
    included; every table but `alerts` (the alert sensor's) belongs to one asset."""
    from statmuse_pipelines.core.schemas import TABLES
    from statmuse_pipelines.resources.warehouse import column_type

    graph = defs().resolve_asset_graph()
    claimed: dict[str, str] = {}
    for key in graph.get_all_asset_keys():
        node, name = graph.get(key), key.to_user_string()
        assert node.owners == ["team:statmuse-pipelines"], name
        assert "dagster/code_references" in node.metadata, name
        if "dagster/table_name" not in node.metadata:
            # the source's answers, kept as files (their step holds the nba_api pool, not duckdb)
            assert node.tags["stored"] == "files" and node.group_name == "ingest", name
            continue
        assert node.tags["stored"] == "warehouse", name
        table = TABLES[node.metadata["dagster/table_name"].removeprefix("warehouse.main.")]
        columns = node.metadata["dagster/column_schema"].columns
        assert [(c.name, c.type, c.description) for c in columns] == [
            (c.name, column_type(c), c.doc) for c in table.columns
        ], name
        for written in node.metadata["warehouse_tables"].split(", "):
            assert written not in claimed, (written, claimed.get(written), name)
            claimed[written] = name
    assert set(TABLES) - set(claimed) == {"alerts"}


def test_every_launchpad_config_field_says_what_it_does(home):
    """The launchpad shows each op's config fields with their descriptions: none is bare."""
    fields = {}
    for job in defs().resolve_all_job_defs():
        for node in job.all_node_defs:
            schema = node.config_schema
            config_fields = getattr(schema.as_field().config_type, "fields", None) if schema else {}
            for name, field in (config_fields or {}).items():
                fields[f"{node.name}.{name}"] = field.description
    # the configurable steps are all there (training, walk-forward, ingest, rollback, retention)
    for expected in ("player_models.seed", "walk_forward_predictions.margin",
                     "raw_player_game_logs.replace_empty_days", "model_performance.window_days",
                     "prune_old_runs.keep_days"):  # fmt: skip
        assert expected in fields, sorted(fields)
    bare = sorted(name for name, description in fields.items() if not description)
    assert not bare, bare


def test_every_job_resolves_without_a_warning(home):
    """Every job's assets share one backfill policy: Dagster warns at load when a job mixes them
    (retrain_job chained the one-run-for-all datasets with one-run-per-stat models)."""
    import warnings

    d = defs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for job in d.jobs:
            d.resolve_job_def(job.name)


def test_every_check_is_declared_once_in_the_catalog(home):
    """Each asset's check specs are core.checks.ASSET_CHECKS' (name, description, blocking for
    ERROR), and every catalogued check is on its asset: names, severities and descriptions live
    in one place."""
    from statmuse_pipelines.core.checks import ASSET_CHECKS, severity_of

    graph = defs().resolve_asset_graph()
    declared = {
        (key.asset_key.to_user_string(), key.name): graph.get_check_spec(key)
        for key in graph.asset_check_keys
    }
    catalog = {(c.asset, c.name): c for c in ASSET_CHECKS}
    assert set(declared) == set(catalog)
    for where, spec in declared.items():
        assert spec.description == catalog[where].description, where
        assert spec.blocking == (catalog[where].severity == "ERROR"), where
        assert severity_of(where[1]) == catalog[where].severity, where
