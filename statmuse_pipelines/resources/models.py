"""The model store (files) and the model registry (warehouse tables).

Files, in native formats, under $STATMUSE_HOME/models:

    <STAT>/<version>/manifest.json                  settings, champions, metrics summary, fits
    <STAT>/<version>/<fit>/pooled.json              the pooled model (XGBoost JSON)
    <STAT>/<version>/<fit>/players_xgb/<id>.json     players whose champion is XGBoost
    <STAT>/<version>/<fit>/players.joblib            other per-player champions (scikit-learn)

<fit> is `evaluation` (training split only) or `production` (every row, same settings). A
combo's version built from its parts (`SumOfParts`) has a manifest and no files of its own: its
fits are its parts' fits, named in the manifest.
The registry (`model_registry`, `model_stage_history`, `model_metrics` in the warehouse) says
which version of each stat is production; promotion and rollback are registry operations.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import joblib
import polars as pl
import xgboost as xgb
from pydantic import Field

from statmuse_pipelines.core.models import POOLED
from statmuse_pipelines.core.registry import (
    ServingModel,
    SumOfParts,
    is_sum_of_parts,
    refit_production,
)
from statmuse_pipelines.core.schemas import MODEL_METRICS, MODEL_REGISTRY, MODEL_STAGE_HISTORY
from statmuse_pipelines.resources.warehouse import WarehouseResource

FITS = ("evaluation", "production")
# (stat, dataset version) -> its train, val and test frames (LakeResource.read_dataset)
SplitsReader = Callable[[str, str], dict[str, pl.DataFrame]]


def now_utc() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class RegistryError(ValueError):
    """A registry operation that cannot be done, and why."""


class ModelStoreResource(dg.ConfigurableResource):
    """Model files under `root` ($STATMUSE_HOME/models)."""

    root: str = Field(description="model folder, normally $STATMUSE_HOME/models")

    def version_dir(self, stat: str, version: str) -> Path:
        return Path(self.root) / stat / version

    def manifest(self, stat: str, version: str) -> dict[str, Any] | None:
        path = self.version_dir(stat, version) / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def has_fit(self, stat: str, version: str, fit: str) -> bool:
        manifest = self.manifest(stat, version)
        if is_sum_of_parts(manifest):
            return all(self.has_fit(p, m["version"], fit) for p, m in manifest["parts"].items())
        return (self.version_dir(stat, version) / fit / "pooled.json").exists()

    def save_manifest(self, stat: str, version: str, manifest: dict[str, Any]) -> None:
        folder = self.version_dir(stat, version)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".manifest.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
        os.replace(tmp, folder / "manifest.json")

    def save_fit(self, model: ServingModel) -> Path:
        """Write one fit of a version (atomically: a fit folder is complete or absent)."""
        final = self.version_dir(model.stat, model.version) / model.fit
        tmp = final.with_name(f".{model.fit}.{uuid.uuid4().hex}.tmp")
        (tmp / "players_xgb").mkdir(parents=True)
        try:
            model.pooled.save_model(tmp / "pooled.json")
            sklearn_models = {}
            for pid, m in model.player_models.items():
                if isinstance(m, xgb.XGBRegressor):
                    m.save_model(tmp / "players_xgb" / f"{pid}.json")
                else:
                    sklearn_models[pid] = m
            joblib.dump(sklearn_models, tmp / "players.joblib", compress=3)
            (tmp / "features.json").write_text(
                json.dumps({"pooled": model.features, "player": model.player_features})
            )
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def load(self, stat: str, version: str, fit: str = "production") -> ServingModel | SumOfParts:
        manifest = self.manifest(stat, version)
        if is_sum_of_parts(manifest):
            parts = {p: self.load(p, m["version"], fit) for p, m in manifest["parts"].items()}
            return SumOfParts(stat=stat, version=version, fit=fit, parts=parts)
        folder = self.version_dir(stat, version) / fit
        if not (folder / "pooled.json").exists():
            raise RegistryError(f"{stat} {version} has no {fit} fit in {folder.parent}")
        pooled = xgb.XGBRegressor()
        pooled.load_model(folder / "pooled.json")
        players: dict[int, Any] = dict(joblib.load(folder / "players.joblib"))
        for path in (folder / "players_xgb").glob("*.json"):
            m = xgb.XGBRegressor()
            m.load_model(path)
            players[int(path.stem)] = m
        features = json.loads((folder / "features.json").read_text())
        return ServingModel(
            stat=stat,
            version=version,
            fit=fit,
            pooled=pooled,
            features=features["pooled"],
            player_models=players,
            player_features=features["player"],
        )


class ModelRegistry(dg.ConfigurableResource):
    """The model registry, a resource: stage bookkeeping over the warehouse tables (one
    transaction per operation) and the fits in the model store. Assets, sensors and the
    command line take this one resource (`registry`) and call its operations: promotion
    (`ensure_production_fit` then `promote`), `rollback`, and the lookups."""

    warehouse: WarehouseResource
    store: ModelStoreResource

    # --- promotion -------------------------------------------------------------------------

    def ensure_production_fit(
        self, stat: str, version: str, read_splits: SplitsReader, n_jobs: int = 2
    ) -> tuple[dict[str, Any], float]:
        """`version` refit for production on every row of its dataset (`read_splits(stat,
        dataset_version)`) with the settings its evaluation fit chose, registered under the same
        version; nothing to do when that fit exists. A combo built from its parts has its parts'
        production fits made (each part a version of its own, refit on its own rows). Returns
        the manifest and the seconds the refit took (0 without one)."""
        manifest = self.store.manifest(stat, version)
        if manifest is None:
            raise RegistryError(f"no {stat} version {version}: see `statmuse models list`")
        if self.store.has_fit(stat, version, "production") and "production" in manifest["fits"]:
            return manifest, 0.0
        t0 = time.monotonic()
        if is_sum_of_parts(manifest):
            for part, m in manifest["parts"].items():
                self.ensure_production_fit(part, m["version"], read_splits, n_jobs)
        splits = read_splits(stat, manifest["dataset_version"])
        rows = pl.concat([splits["train"], splits["val"], splits["test"]])
        if not self.store.has_fit(stat, version, "production"):
            self.store.save_fit(refit_production(manifest, rows, n_jobs))
        manifest["fits"] = ["evaluation", "production"]
        manifest["production_rows"] = rows.height
        self.store.save_manifest(stat, version, manifest)
        self.register(manifest, "production", now_utc(), self.metrics(version))
        return manifest, time.monotonic() - t0

    # --- writing ---------------------------------------------------------------------------

    def register(
        self, manifest: dict[str, Any], fit: str, created_at: str, metrics: pl.DataFrame
    ) -> None:
        """Record a fit's models: the pooled model and each player's champion. A new version
        starts as a candidate; a version already registered keeps its stage."""
        stat, version = manifest["stat"], manifest["version"]
        existing = self.stage(stat, version)
        stage = existing or "candidate"
        folder = self.store.version_dir(stat, version) / fit
        champion_metrics = {
            (r["scope"], r["split"]): _short(r)
            for r in metrics.filter(pl.col("kind") == "champion").iter_rows(named=True)
        }
        pooled_metrics = {
            r["split"]: _short(r)
            for r in metrics.filter(
                (pl.col("scope") == "all") & (pl.col("kind") == "pooled")
            ).iter_rows(named=True)
        }
        base = {
            "stat": stat,
            "version": version,
            "dataset_version": manifest["dataset_version"],
            "fit": fit,
            "stage": stage,
            "created_at": created_at,
        }
        if is_sum_of_parts(manifest):
            self._register_rows(existing, _part_rows(manifest, base, self.store, fit), created_at)
            return
        pooled_params = {**manifest["pooled_params"], "n_estimators": manifest["pooled_rounds"]}
        rows = [
            {
                **base,
                "model_id": f"{version}/pooled",
                "scope": "pooled",
                "kind": "xgb_pooled",
                "params": json.dumps(pooled_params),
                "metrics": json.dumps(pooled_metrics),
                "path": str(folder / "pooled.json"),
            }
        ]
        for pid, kind in sorted(manifest["champions"].items(), key=lambda kv: int(kv[0])):
            path = (
                folder / "pooled.json"
                if kind == POOLED
                else folder / "players_xgb" / f"{pid}.json"
                if kind == "xgb"
                else folder / "players.joblib"
            )
            params = (
                {}
                if kind == POOLED
                else {
                    "kind": kind,
                    "members": manifest["player_params"],
                    "xgb_rounds": manifest["player_rounds"].get(pid),
                }
            )
            rows.append(
                {
                    **base,
                    "model_id": f"{version}/{pid}",
                    "scope": str(pid),
                    "kind": kind,
                    "params": json.dumps(params),
                    "metrics": json.dumps(
                        {
                            s: champion_metrics[(pid, s)]
                            for s in ("val", "test")
                            if (pid, s) in champion_metrics
                        }
                    ),
                    "path": str(path),
                }
            )
        self._register_rows(existing, rows, created_at)

    def _register_rows(self, existing: str | None, rows: list[dict], created_at: str) -> None:
        stat, version = rows[0]["stat"], rows[0]["version"]
        self.warehouse.upsert(MODEL_REGISTRY, pl.DataFrame(rows, schema=MODEL_REGISTRY.schema))
        history = (
            []
            if existing
            else [
                (
                    "INSERT INTO model_stage_history VALUES (?, ?, NULL, 'candidate', ?, ?)",
                    [stat, version, created_at, "trained"],
                )
            ]
        )
        self.warehouse.execute(history, tables=[MODEL_STAGE_HISTORY])

    def record_metrics(self, metrics: pl.DataFrame, created_at: str) -> None:
        self.warehouse.upsert(MODEL_METRICS, metrics.with_columns(created_at=pl.lit(created_at)))

    def metrics(self, version: str) -> pl.DataFrame:
        return self.warehouse.query("SELECT * FROM model_metrics WHERE version = ?", [version])

    # --- reading ---------------------------------------------------------------------------

    def _read(self, sql: str, params: list | None = None) -> pl.DataFrame | None:
        """A query of the registry's tables; None before the first registration made them (no
        warehouse, or no table yet). One connection, not a look for the table and then the
        query: serving and every gate ask often."""
        try:
            return self.warehouse.query(sql, params)
        except (FileNotFoundError, duckdb.CatalogException):
            return None

    def stage(self, stat: str, version: str) -> str | None:
        found = self._read(
            "SELECT stage FROM model_registry WHERE stat = ? AND version = ? LIMIT 1",
            [stat, version],
        )
        return found["stage"][0] if found is not None and found.height else None

    def production_version(self, stat: str) -> str | None:
        return self.production_versions().get(stat)

    def production_versions(self) -> dict[str, str]:
        """Each stat's production version, in one query (serving asks for all twelve)."""
        found = self._read(
            "SELECT stat, any_value(version) AS version FROM model_registry "
            "WHERE stage = 'production' GROUP BY stat"
        )
        if found is None:
            return {}
        return dict(zip(found["stat"].to_list(), found["version"].to_list(), strict=True))

    def versions(self, stat: str | None = None) -> pl.DataFrame:
        """One row per (stat, version): stage, dataset, when, test MAE of the champion set and
        of the best baseline, players with their own champion, fits on disk."""
        where = "WHERE r.stat = ?" if stat else ""
        frame = self._read(
            f"""
            SELECT r.stat, r.version, any_value(r.stage) AS stage,
                   any_value(r.dataset_version) AS dataset_version,
                   min(r.created_at) AS created_at,
                   count(DISTINCT CASE WHEN r.scope <> 'pooled' AND r.kind NOT IN ('pooled', 'part')
                                       THEN r.scope END) AS own_models,
                   bool_or(r.kind = 'part') AS from_parts,
                   string_agg(DISTINCT r.fit, ',' ORDER BY r.fit) AS fits
            FROM model_registry r {where}
            GROUP BY r.stat, r.version
            """,
            [stat] if stat else [],
        )
        if frame is None:
            return pl.DataFrame()
        metrics = self.warehouse.query(
            """
            SELECT version,
                   max(CASE WHEN kind = 'champion' THEN mae END) AS test_mae,
                   min(CASE WHEN kind LIKE 'baseline_%' THEN mae END) AS best_baseline_mae
            FROM model_metrics WHERE scope = 'all' AND split = 'test' GROUP BY version
            """
        )
        return frame.join(metrics, on="version", how="left").sort("stat", "created_at")

    def history(self, stat: str) -> pl.DataFrame:
        return self.warehouse.query(
            "SELECT * FROM model_stage_history WHERE stat = ? ORDER BY changed_at, rowid",
            [stat],
        )

    # --- stage changes ---------------------------------------------------------------------

    def _set_stage_sql(
        self, stat: str, version: str, old: str | None, new: str, reason: str, at: str
    ):
        return [
            (
                "UPDATE model_registry SET stage = ? WHERE stat = ? AND version = ?",
                [new, stat, version],
            ),
            (
                "INSERT INTO model_stage_history VALUES (?, ?, ?, ?, ?, ?)",
                [stat, version, old, new, at, reason],
            ),
        ]

    def promote(
        self, stat: str, version: str, reason: str, expected: str | object | None = ...
    ) -> str | None:
        """Make `version` production; the current production becomes archived. Returns the
        version that was production before (None if none). `expected`: the production version
        the caller's decision was made against (a gate run minutes earlier); if another
        promotion or a rollback changed it since, nothing changes and RegistryError says so
        (checked inside the promotion's transaction, so two promotions never interleave)."""
        stage = self.stage(stat, version)
        if stage is None:
            raise RegistryError(f"no {stat} version {version} in the registry")
        if not self.store.has_fit(stat, version, "production"):
            raise RegistryError(f"{stat} {version} has no production fit yet: refit it first")
        current = self.production_version(stat)
        if expected is not ... and current != expected:
            raise RegistryError(_changed(stat, expected, current))
        if current == version:
            return current
        at = now_utc()
        # inside the transaction: production is still `current`, or nothing is written
        statements = [
            (
                "SELECT CASE WHEN coalesce((SELECT any_value(version) FROM model_registry "
                "WHERE stat = ? AND stage = 'production'), '') = ? THEN 1 ELSE error(?) END",
                [stat, current or "", _changed(stat, current, "another version")],
            )
        ]
        if current:
            statements += self._set_stage_sql(
                stat, current, "production", "archived", f"replaced by {version}", at
            )
        statements += self._set_stage_sql(stat, version, stage, "production", reason, at)
        try:
            self.warehouse.execute(statements)
        except duckdb.Error as exc:
            if "production changed" not in str(exc):
                raise
            raise RegistryError(_changed(stat, current, self.production_version(stat))) from None
        return current

    def promote_with_fit(
        self, stat: str, version: str, read_splits: SplitsReader, reason: str
    ) -> tuple[str | None, float]:
        """The operator's promotion: `version` refit for production first when it has no such
        fit (`ensure_production_fit`), then made production. Returns the version that was
        production before and the refit's seconds (0 without one)."""
        if self.stage(stat, version) is None:
            raise RegistryError(f"no {stat} version {version}: see `statmuse models list`")
        _, seconds = self.ensure_production_fit(stat, version, read_splits)
        return self.promote(stat, version, reason), seconds

    def rollback(self, stat: str, reason: str = "rollback") -> tuple[str, str]:
        """Back to the previous production version; returns (from, to)."""
        current = self.production_version(stat)
        if current is None:
            raise RegistryError(f"{stat} has no production version to roll back")
        earlier = self.history(stat).filter(
            (pl.col("to_stage") == "production") & (pl.col("version") != current)
        )
        if earlier.height == 0:
            raise RegistryError(f"{stat}: no earlier production version than {current}")
        previous = earlier["version"][-1]
        if not self.store.has_fit(stat, previous, "production"):
            raise RegistryError(f"{stat} {previous} has no production fit on disk any more")
        at = now_utc()
        statements = self._set_stage_sql(stat, current, "production", "archived", reason, at)
        statements += self._set_stage_sql(
            stat, previous, self.stage(stat, previous), "production", f"{reason}: restored", at
        )
        self.warehouse.execute(statements)
        return current, previous


def _part_rows(manifest: dict, base: dict, store: ModelStoreResource, fit: str) -> list[dict]:
    """A combo built from its parts: a registry row per part, naming the part's version (whose
    own rows hold its pooled model and champions) and where its fit is."""
    return [
        {
            **base,
            "model_id": f"{manifest['version']}/{part}",
            "scope": part,
            "kind": "part",
            "params": json.dumps({"version": m["version"]}),
            "metrics": json.dumps({}),
            "path": str(store.version_dir(part, m["version"]) / fit),
        }
        for part, m in manifest["parts"].items()
    ]


def _changed(stat: str, expected, now) -> str:
    return (
        f"{stat}: production changed during this run (it was {expected or 'none'}, it is "
        f"{now or 'none'} now, after another promotion or a rollback): not promoted; run the "
        "gate again against the new production version"
    )


def _short(metrics: dict) -> dict:
    """The errors kept in the registry's JSON (a non-finite one as null: JSON has no NaN)."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v
        for k in ("rows", "mae", "rmse", "bias")
        if k in metrics
        for v in (metrics[k],)
    }
