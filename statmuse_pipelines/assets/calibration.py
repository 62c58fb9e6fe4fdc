"""Stage `calibration`: per stat, the predictive distribution and the P(over) calibrator."""

import json
import math

import dagster as dg
import joblib
import polars as pl

from statmuse_pipelines.assets._common import (
    image_markdown,
    production_manifest,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.datasets import target_partitions
from statmuse_pipelines.assets.lines import market_lines, read_market_lines
from statmuse_pipelines.assets.models import player_models
from statmuse_pipelines.core.probabilities import (
    calibration_metrics,
    fit_probability_model,
    reliability_plot,
    score,
    with_lines,
)
from statmuse_pipelines.core.schemas import CALIBRATION_METRICS
from statmuse_pipelines.partitions import ONE_STAT_PER_RUN
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource
from statmuse_pipelines.resources.warehouse import WarehouseResource

SCORED_COLUMNS = (
    "game_date", "game_id", "player_id", "player_name", "team", "opponent", "target", "mu",
    "line", "line_kind", "ref_over_odds", "ref_under_odds", "best_over_odds", "best_under_odds",
    "market_p_over", "p_over_raw", "p_over", "p_under", "p_push", "p_over_cond", "went_over",
    "target_season_mean", "season_games",
)  # fmt: skip


def _before_after(metrics: pl.DataFrame) -> dict[str, float]:
    """Brier score and ECE on the test split before (the distribution's raw P) and after
    calibration, as floats the Plots tab charts across versions: on real lines when the test
    split has them, else on proxy lines (`figures_on` says which)."""
    test = metrics.filter(pl.col("split") == "test")
    kinds = set(test["line_kind"].to_list())
    kind = "real" if "real" in kinds else "proxy" if "proxy" in kinds else "all"
    out: dict[str, float | str] = {"figures_on": f"test split, {kind} lines"}
    for stage, word in (("raw", "before"), ("calibrated", "after")):
        row = test.filter((pl.col("line_kind") == kind) & (pl.col("stage") == stage))
        for metric in ("brier", "ece"):
            value = row[metric][0] if row.height else None
            out[f"test_{metric}_{word}"] = round(float(value), 5) if value is not None else math.nan
    return out


def read_scored(lake: LakeResource, stat: str) -> tuple[str, pl.DataFrame]:
    """The test rows the calibrators scored for a stat's production version."""
    pointer = lake.table_dir("scored") / stat / "latest.json"
    if not pointer.exists():
        raise dg.Failure(f"no calibrated probabilities for {stat}: materialize calibrators first")
    version = json.loads(pointer.read_text())["model_version"]
    return version, pl.read_parquet(lake.table_dir("scored") / stat / f"{version}.parquet")


@dg.asset(
    metadata=warehouse_table_metadata(CALIBRATION_METRICS),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="calibration",
    kinds={"scipy", "scikit-learn", "duckdb", "matplotlib"},
    pool="duckdb",
    deps=[player_models, dg.AssetDep(market_lines, partition_mapping=dg.AllPartitionMapping())],
)
def calibrators(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
) -> dg.MaterializeResult:
    """The production model's predictive distribution and P(over) calibrator, fit on validation."""
    stat = context.partition_key
    version, manifest = production_manifest(registry, stat, "nothing to calibrate yet")
    splits = lake.read_dataset(stat, manifest["dataset_version"])
    # the evaluation fit never saw validation or test rows
    model = model_store.load(stat, version, "evaluation")
    lines = read_market_lines(lake)
    val, test = (
        with_lines(splits[s].with_columns(mu=pl.Series(model.predict(splits[s]))), lines, stat)
        for s in ("val", "test")
    )
    probability = fit_probability_model(stat, version, val)
    scored_val, scored_test = score(probability, val), score(probability, test)
    rows = calibration_metrics(scored_val, "val") + calibration_metrics(scored_test, "test")
    metrics = pl.DataFrame(rows).with_columns(
        stat=pl.lit(stat),
        model_version=pl.lit(version),
        family=pl.lit(probability.distribution.family),
        method=pl.lit(probability.calibrator.method),
    )
    warehouse.replace_where(
        CALIBRATION_METRICS, metrics, "stat = ? AND model_version = ?", [stat, version]
    )

    folder = model_store.version_dir(stat, version)
    joblib.dump(probability, folder / "probability.joblib")
    (folder / "probability.json").write_text(json.dumps(probability.describe(), indent=2))
    scored_dir = lake.table_dir("scored") / stat
    scored_dir.mkdir(parents=True, exist_ok=True)
    scored_test.select(SCORED_COLUMNS).write_parquet(scored_dir / f"{version}.parquet")
    (scored_dir / "latest.json").write_text(json.dumps({"model_version": version}))
    png = lake.reports_dir() / stat / f"reliability_{version}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    kinds = sorted(scored_test["line_kind"].unique().to_list())
    reliability_plot(scored_test, f"{stat} {version}: test split, {' + '.join(kinds)} lines", png)

    test_table = (
        metrics.filter(pl.col("split") == "test")
        .select("line_kind", "stage", "rows", "brier", "log_loss", "ece")
        .with_columns(pl.col(pl.Float64).round(4))
    )
    families = (
        pl.DataFrame(
            {
                "family": list(probability.family_scores),
                "log_loss": list(probability.family_scores.values()),
            }
        )
        .sort("log_loss")
        .with_columns(pl.col("log_loss").round(4))
    )
    return dg.MaterializeResult(
        metadata={
            **_before_after(metrics),
            "model_version": version,
            "distribution": dg.MetadataValue.json(probability.distribution.describe()),
            "families_on_validation": table_value(families),
            "calibrator": probability.calibrator.method,
            "calibrator_cv_log_loss": dg.MetadataValue.json(
                {k: round(v, 5) for k, v in probability.calibrator_scores.items()}
            ),
            "test_before_after": table_value(test_table),
            "line_kinds_on_test": ", ".join(kinds),
            "reliability": image_markdown(png, f"{stat} reliability"),
            "reliability_png": dg.MetadataValue.path(str(png)),
            "dagster/row_count": scored_test.height,
        }
    )
