"""Stage `monitoring`: graded predictions, performance over time, drift, automatic rollback."""

import base64
from datetime import date, timedelta

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.assets._common import (
    add_partition_metadata,
    check_result,
    check_specs,
    production_manifest,
    range_metadata,
    store_days,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.calibration import read_scored
from statmuse_pipelines.assets.datasets import target_partitions
from statmuse_pipelines.assets.normalize import player_game_stats
from statmuse_pipelines.assets.serving import daily_predictions
from statmuse_pipelines.core.alerts import Alert
from statmuse_pipelines.core.drift import (
    DRIFT_CHECKS,
    DRIFT_DAYS,
    ECE_MARGIN,
    KS_LIMIT,
    PSI_LIMIT,
    SHIFT_LIMIT,
    compare,
)
from statmuse_pipelines.core.drift import feature_drift as drift_of
from statmuse_pipelines.core.features import feature_names
from statmuse_pipelines.core.grading import (
    BRIER_RISE,
    HIT_RATE_DROP,
    ROLLBACK_WINDOW,
    grade,
    judge_replacement,
    performance,
    window_metrics,
)
from statmuse_pipelines.core.schemas import (
    FEATURE_DRIFT,
    MODEL_PERFORMANCE,
    PLAYER_GAME_STATS,
    PREDICTION_OUTCOMES,
    PREDICTIONS,
)
from statmuse_pipelines.partitions import (
    DAYS_IN_ONE_RUN,
    ONE_STAT_PER_RUN,
    daily_partitions,
    partition_days,
)
from statmuse_pipelines.resources.alerts import AlertsResource
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource, now_utc
from statmuse_pipelines.resources.warehouse import WarehouseResource


def _stored(lake: LakeResource, table: str, first: date, last: date) -> list[date]:
    return [d for d in lake.stored_days(table) if first <= d <= last]


@dg.asset(
    metadata=warehouse_table_metadata(PREDICTION_OUTCOMES),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="monitoring",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[daily_predictions, player_game_stats],
)
def prediction_outcomes(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Each prediction of the day graded with the box score: actual, error, result, bet profit."""
    days = partition_days(context)
    predicted = _stored(lake, "predictions", days[0], days[-1])
    predictions = lake.read_days("predictions", predicted, PREDICTIONS.schema)
    games = lake.read_days(
        "player_game_stats", _stored(lake, "player_game_stats", days[0], days[-1]),
        PLAYER_GAME_STATS.schema,
    )  # fmt: skip
    graded = PREDICTION_OUTCOMES.conform(grade(predictions, games))
    counts = store_days(lake, warehouse, PREDICTION_OUTCOMES, graded, days, "prediction_date")
    add_partition_metadata(context, graded, days, "prediction_date", "game_id")
    results = dict(graded.group_by("result").len().sort("result").iter_rows())
    bets = graded.filter(pl.col("bet_placed"))
    return dg.MaterializeResult(
        metadata={
            **range_metadata(days, counts),
            "results": dg.MetadataValue.json(results),
            "bets": bets.height,
            "bet_profit": round(float(bets["bet_profit"].sum()), 3) if bets.height else 0.0,
            "mae": round(float(graded["error"].abs().mean()), 3) if graded.height else None,
            "warehouse_table": "prediction_outcomes",
        }
    )


class RollbackConfig(dg.Config):
    """The runbook's rollback rule: after a promotion, the new version's first `window_days` of
    graded predictions against the previous version's last `window_days`."""

    window_days: int = Field(
        ROLLBACK_WINDOW, description="graded days of each version compared (new first, old last)"
    )
    hit_rate_drop: float = Field(
        HIT_RATE_DROP, description="roll back if the hit rate falls by more than this"
    )
    brier_rise: float = Field(
        BRIER_RISE, description="or if the Brier score rises by more than this"
    )


@dg.asset(
    metadata=warehouse_table_metadata(MODEL_PERFORMANCE),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="monitoring",
    kinds={"polars", "duckdb", "matplotlib"},
    pool="duckdb",
    deps=[prediction_outcomes],
)
def model_performance(
    context: dg.AssetExecutionContext,
    config: RollbackConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    registry: ModelRegistry,
    alerts: AlertsResource,
) -> dg.MaterializeResult:
    """Per stat: MAE, Brier, ECE, hit rate, ROI and volume over 1, 7 and 30 days; rollbacks."""
    days = partition_days(context)
    outcomes = lake.read_days(
        "prediction_outcomes",
        _stored(lake, "prediction_outcomes", days[0] - timedelta(days=60), days[-1]),
        PREDICTION_OUTCOMES.schema,
    )
    rows = pl.concat([performance(outcomes, d) for d in days])
    warehouse.replace_days(MODEL_PERFORMANCE, rows, days, date_column="as_of")
    rollbacks = check_rollbacks(outcomes, days[-1], registry, context.log.info, config, alerts)
    history = warehouse.query(
        "SELECT * FROM model_performance WHERE window_days = 7 AND as_of <= ? ORDER BY as_of",
        [days[-1]],
    )
    png = performance_plot(history, lake, days[-1])
    latest = rows.filter((pl.col("as_of") == days[-1]) & (pl.col("window_days") == 7))
    return dg.MaterializeResult(
        metadata={
            **range_metadata(days, {d: rows.filter(pl.col("as_of") == d).height for d in days}),
            "last_7_days": table_value(
                latest.drop("as_of", "window_days").with_columns(pl.col(pl.Float64).round(3))
            ),
            "rollbacks": dg.MetadataValue.json(rollbacks),
            "performance": dg.MetadataValue.md(
                f"![performance](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})"
            ),
            "performance_png": dg.MetadataValue.path(str(png)),
        }
    )


def check_rollbacks(
    outcomes: pl.DataFrame,
    day: date,
    registry: ModelRegistry,
    log,
    rule: RollbackConfig | None = None,
    alerts: AlertsResource | None = None,
) -> dict[str, str]:
    """The runbook's rule for each stat whose production version replaced another one: once the
    new version has `window_days` of graded predictions, compare them with the previous version's
    last `window_days`; roll back (and raise an alert) if it did worse by more than the margins."""
    rule = rule or RollbackConfig()
    alerts = alerts or AlertsResource()
    warehouse = registry.warehouse
    graded = outcomes.filter((pl.col("result") != "void") & (pl.col("prediction_date") <= day))
    decisions = {}
    for stat in sorted(graded["stat"].unique().to_list()):
        current = registry.production_version(stat)
        if current is None:
            continue
        history = registry.history(stat).filter(pl.col("to_stage") == "production")
        earlier = history.filter(pl.col("version") != current)
        if earlier.height == 0 or history["reason"][-1].endswith(": restored"):
            continue  # never replaced one, or restored by a rollback: nothing to judge
        previous = earlier["version"][-1]
        decision = judge_replacement(
            graded.filter(pl.col("stat") == stat),
            current,
            previous,
            rule.window_days,
            rule.hit_rate_drop,
            rule.brier_rise,
        )
        if decision is None:
            continue
        decisions[stat] = decision.reason
        if decision.roll_back:
            _, restored = registry.rollback(stat, f"automatic rollback: {decision.reason}")
            log(f"{stat}: rolled back {current} -> {restored}: {decision.reason}")
            alerts.record(
                warehouse,
                Alert(
                    alert_id=f"rollback-{stat}-{current}",
                    created_at=now_utc(),
                    kind="rollback",
                    severity="ERROR",
                    subject=stat,
                    message=f"{stat} rolled back from {current} to {restored}: {decision.reason}",
                ),
            )
    return decisions


def performance_plot(history: pl.DataFrame, lake: LakeResource, day: date):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    tab20 = plt.get_cmap("tab20").colors  # twelve stats: the default cycle repeats after ten
    for ax in axes:
        ax.set_prop_cycle(color=tab20[::2] + tab20[1::2])  # the ten dark shades, then the light
    for (stat,), part in sorted(history.partition_by("stat", as_dict=True).items()):
        axes[0].plot(part["as_of"], part["mae"] / part["mae"].mean(), label=stat)
        axes[1].plot(part["as_of"], part["roi"], label=stat)
    axes[0].set_title("7-day MAE (relative to each stat's mean)", fontsize=9)
    # ROI rather than hit rate: break-even is 0 at any price (real books and the naive proxy
    # book quote far from -110), where a hit-rate line is right at -110 only
    axes[1].set_title(
        "7-day ROI of recommended bets (real lines only; per unit, quoted odds)", fontsize=9
    )
    axes[1].axhline(0.0, color="grey", linestyle="--", linewidth=0.8, label="break-even")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    if history.height:
        axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = lake.reports_dir() / "performance" / f"performance_{day}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@dg.asset(
    metadata=warehouse_table_metadata(FEATURE_DRIFT),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="monitoring",
    kinds={"scipy", "duckdb"},
    pool="duckdb",
    deps=[
        dg.AssetDep("player_features", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(daily_predictions, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(prediction_outcomes, partition_mapping=dg.AllPartitionMapping()),
        "calibrators",
    ],
    check_specs=check_specs("feature_drift", partitions_def=target_partitions),
)
def feature_drift(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
) -> dg.MaterializeResult:
    """Recent features, predictions and calibration against what the production model learned."""
    stat = context.partition_key
    version, manifest = production_manifest(registry, stat, "no drift to check")
    # the most recent rows the production model learned from (it is refit on every split)
    reference = lake.read_dataset(stat, manifest["dataset_version"])["test"]
    stored = lake.stored_days("player_features")
    end = stored[-1]
    start = end - timedelta(days=DRIFT_DAYS - 1)
    recent = lake.read_days("player_features", [d for d in stored if d >= start])
    features = drift_of(reference, recent, feature_names()).with_columns(kind=pl.lit("feature"))
    drifted = features.filter(pl.col("drifted"))

    predictions = lake.read_days(
        "predictions",
        [d for d in lake.stored_days("predictions") if d >= start],
        PREDICTIONS.schema,
    ).filter(pl.col("stat") == stat)
    _, scored = read_scored(lake, stat)
    pred = compare(
        scored.select(pl.col("mu").alias("prediction")),
        predictions.select("prediction"),
        ["prediction"],
    ).with_columns(kind=pl.lit("prediction"))

    outcomes = lake.read_days(
        "prediction_outcomes",
        [d for d in lake.stored_days("prediction_outcomes") if d >= end - timedelta(days=29)],
        PREDICTION_OUTCOMES.schema,
    ).filter((pl.col("stat") == stat) & (pl.col("result") != "void"))
    recent_ece = window_metrics(outcomes)["ece"] if outcomes.height >= 200 else None
    test_ece = warehouse.query(
        "SELECT ece FROM calibration_metrics WHERE stat = ? AND model_version = ? "
        "AND split = 'test' AND line_kind = 'all' AND stage = 'calibrated'",
        [stat, version],
    )
    test_ece = float(test_ece["ece"][0]) if test_ece.height else None
    calibration_drifted = (
        recent_ece is not None and test_ece is not None and recent_ece > test_ece + ECE_MARGIN
    )
    checked = now_utc()
    history = pl.concat(
        [
            features,
            pred,
            pl.DataFrame(
                [{"name": "ece", "kind": "calibration", "reference_mean": test_ece,
                  "recent_mean": recent_ece, "drifted": calibration_drifted}]
            ),
        ],
        how="diagonal_relaxed",
    ).with_columns(
        stat=pl.lit(stat), model_version=pl.lit(version), checked_at=pl.lit(checked),
        window_start=pl.lit(start), window_end=pl.lit(end),
    )  # fmt: skip
    warehouse.upsert(FEATURE_DRIFT, history)
    top = features.head(10).with_columns(pl.col(pl.Float64).round(3))
    drift_meta = {r["name"]: {"psi": round(r["psi"], 3), "ks": round(r["ks_stat"], 3),
                              "shift_sd": round(r["shift"], 2)}
                  for r in drifted.iter_rows(named=True)}  # fmt: skip
    pred_drifted = bool(pred["drifted"].any()) if pred.height else False
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "window": f"{start}..{end}",
            "recent_rows": recent.height,
            "features_checked": features.height,
            "features_drifted": drifted.height,
            "largest_shifts": table_value(top.drop("kind"), max_rows=10),
        },
        check_results=[
            check_result(
                DRIFT_CHECKS["features"],
                passed=drifted.height == 0,
                description=f"{drifted.height} of {features.height} features drifted "
                f"(PSI >= {PSI_LIMIT}, KS >= {KS_LIMIT} and a shift >= {SHIFT_LIMIT} SD) "
                f"in {start}..{end}",
                metadata={"drifted": dg.MetadataValue.json(drift_meta)},
            ),
            check_result(
                DRIFT_CHECKS["predictions"],
                passed=not pred_drifted,
                description="recent predictions against the test split's"
                + (
                    f": PSI {pred['psi'][0]:.3f}" if pred.height else ": too few recent predictions"
                ),
            ),
            check_result(
                DRIFT_CHECKS["calibration"],
                passed=not calibration_drifted,
                description=f"ECE of the last 30 days {_round(recent_ece)} against "
                f"{_round(test_ece)} on test (margin {ECE_MARGIN})",
            ),
        ],
    )


def _round(value: float | None) -> str:
    return "n/a (too few graded rows)" if value is None else f"{value:.4f}"
