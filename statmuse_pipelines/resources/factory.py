"""Resources for a run, from Settings: which source, where the lake and warehouse live."""

from __future__ import annotations

import dagster as dg

from statmuse_pipelines.resources.alerts import AlertsResource
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.lines import LinesResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource
from statmuse_pipelines.resources.policies import RetrainPolicy
from statmuse_pipelines.resources.sources import (
    FilesGameLogSource,
    GameLogSource,
    NbaApiGameLogSource,
    SyntheticGameLogSource,
)
from statmuse_pipelines.resources.warehouse import WarehouseResource
from statmuse_pipelines.settings import Settings


def warehouse_of(settings: Settings) -> WarehouseResource:
    """The warehouse of these settings, publishing the analysts' copy after each write."""
    return WarehouseResource(
        path=str(settings.warehouse_path), published_path=str(settings.analyst_path)
    )


def game_log_source(settings: Settings) -> GameLogSource:
    if settings.source == "files":
        # an EnvVar keeps the folder visible as configuration in the UI
        directory = (
            dg.EnvVar("STATMUSE_FILES_DIR")
            if settings.files_dir_from_env
            else str(settings.files_dir)
        )
        return FilesGameLogSource(directory=directory)
    if settings.source == "nba_api":
        # EnvVars: the UI shows the variables' names, not a proxy's credentials
        return NbaApiGameLogSource(
            proxy=dg.EnvVar("STATMUSE_NBA_API_PROXY") if settings.nba_api_proxy else None,
            headers_json=dg.EnvVar("STATMUSE_NBA_API_HEADERS")
            if settings.nba_api_headers
            else None,
        )
    return SyntheticGameLogSource(
        seed=settings.seed,
        seasons=settings.seasons,
        today=settings.today.isoformat() if settings.today else None,
        pace_change_from=settings.pace_change[0].isoformat() if settings.pace_change else None,
        pace_change=settings.pace_change[1] if settings.pace_change else 1.0,
    )


def lines_resource(settings: Settings) -> LinesResource:
    source = game_log_source(settings)
    return LinesResource(
        source=settings.lines,
        league=source if isinstance(source, SyntheticGameLogSource) else None,
        book_error=settings.book_error,
    )


def registry_of(settings: Settings) -> ModelRegistry:
    """The model registry of these settings: their warehouse and model store."""
    return ModelRegistry(
        warehouse=warehouse_of(settings), store=ModelStoreResource(root=str(settings.models_dir))
    )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    registry = registry_of(settings)
    return {
        "game_logs": game_log_source(settings),
        "lake": LakeResource(root=str(settings.lake_dir)),
        "warehouse": registry.warehouse,
        "model_store": registry.store,
        "registry": registry,
        "lines": lines_resource(settings),
        "retrain_policy": RetrainPolicy(after_days=settings.retrain_after_days),
        "alerts": AlertsResource(
            webhook_url=dg.EnvVar("STATMUSE_ALERT_WEBHOOK") if settings.alert_webhook else None,
            secret=dg.EnvVar("STATMUSE_ALERT_SECRET") if settings.alert_secret else None,
        ),
    }
