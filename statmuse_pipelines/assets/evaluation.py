"""Stage `evaluation`: walk-forward predictions at the pregame lines, and backtests of them."""

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.assets._common import (
    check_results,
    check_specs,
    image_markdown,
    production_manifest,
    stop_if_blocked,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.datasets import WITH_PARTS, target_partitions, training_datasets
from statmuse_pipelines.assets.lines import market_lines, quoted_dates, read_market_lines
from statmuse_pipelines.assets.models import player_models
from statmuse_pipelines.core.backtest import HEADLINE, run_backtest
from statmuse_pipelines.core.checks import (
    CheckOutcome,
    real_lines_cover_the_period,
    reported_metrics_are_finite,
)
from statmuse_pipelines.core.market_blend import BettingRule, BlendSettings
from statmuse_pipelines.core.probabilities import (
    MIN_REAL_LINE_SHARE,
    coverage_sentence,
    line_coverage,
    market_comparison,
)
from statmuse_pipelines.core.registry import is_sum_of_parts
from statmuse_pipelines.core.schemas import (
    BACKTEST_BETS,
    BACKTEST_RESULTS,
    MARKET_BLEND,
    MARKET_COMPARISON,
    WALK_FORWARD_PREDICTIONS,
)
from statmuse_pipelines.core.walkforward import (
    WalkForwardSettings,
    default_period,
    latest_blend,
    latest_distribution,
    walk_forward_fit,
    walk_forward_means,
    walk_forward_probabilities,
)
from statmuse_pipelines.partitions import ONE_STAT_PER_RUN
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.models import ModelRegistry, ModelStoreResource
from statmuse_pipelines.resources.warehouse import WarehouseResource

# bump when the refit code changes what the walk-forward means are, so cached means are not reused
MEANS_FORMAT = 2  # 2: no refit less than half an interval after the period's start


class WalkForwardConfig(dg.Config):
    """The walk-forward period and the rule it scores; every value is fixed before the period."""

    refit_months: int = Field(
        WalkForwardSettings.refit_months,
        description="months between refits of the model and its distribution through the "
        "period (each refit sees only games before its first date)",
    )
    warmup_dates: int = Field(
        WalkForwardSettings.warmup_dates,
        description="game dates before the period that are predicted (not scored) to fit the "
        "first spread",
    )
    start: str = Field(
        "",
        description="first date of the period, YYYY-MM-DD; empty: the start of the latest season "
        "that has real lines",
    )
    end: str = Field(
        "", description="last date of the period, YYYY-MM-DD; empty: the last date with results"
    )
    margin: float = Field(
        BettingRule.margin,
        description="the served rule bets a side when our P(side | no push) beats the de-vigged "
        "market's by this much",
    )
    min_blend_rows: int = Field(
        BlendSettings.min_rows,
        description="decided real-line rows a stat needs before its market blend may be used "
        "(until then: the market's P)",
    )

    def settings(self) -> WalkForwardSettings:
        return WalkForwardSettings(
            refit_months=self.refit_months,
            warmup_dates=self.warmup_dates,
            start=date.fromisoformat(self.start) if self.start else None,
            end=date.fromisoformat(self.end) if self.end else None,
            blend=BlendSettings(min_rows=self.min_blend_rows),
            rule=BettingRule(margin=self.margin),
        )


def read_walk_forward(lake: LakeResource, stat: str) -> tuple[str, pl.DataFrame]:
    """The walk-forward rows of a stat's production version."""
    pointer = lake.table_dir("walk_forward") / stat / "latest.json"
    if not pointer.exists():
        raise dg.Failure(f"no walk-forward predictions for {stat}: materialize them first")
    version = json.loads(pointer.read_text())["model_version"]
    return version, pl.read_parquet(lake.table_dir("walk_forward") / stat / f"{version}.parquet")


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def _means(
    lake: LakeResource,
    store: ModelStoreResource,
    stat: str,
    version: str,
    manifest: dict,
    rows: pl.DataFrame,
    start: date,
    end: date,
    settings,
) -> tuple[pl.DataFrame, str]:
    """The walk-forward means of `rows` (game_id, player_id, mu, fit_end, fold_start, warmup)
    and how they were had. The refits are the expensive part and depend only on the version,
    its dataset, the period and the refit interval: stored per version and reused when those are
    unchanged (another blend or betting setting re-scores the same means). A combo built from
    its parts sums its parts' means, each from the same folds of the same rows (a part's are
    reused from its own evaluation when it ran on the same period, else made and kept)."""
    columns = ["game_id", "player_id", "mu", "fit_end", "fold_start", "warmup"]
    if is_sum_of_parts(manifest):
        sums, hows = None, []
        for part, m in manifest["parts"].items():
            splits = lake.read_dataset(part, m["dataset_version"])
            part_rows = pl.concat([splits[s] for s in ("train", "val", "test")])
            part_manifest = store.manifest(part, m["version"])
            means, how = _means(lake, store, part, m["version"], part_manifest, part_rows, start,
                                end, settings)  # fmt: skip
            hows.append(f"{part} {how}")
            sums = means if sums is None else sums.join(
                means.select("game_id", "player_id", pl.col("mu").alias("part_mu")),
                on=["game_id", "player_id"], how="inner",
            ).with_columns(mu=pl.col("mu") + pl.col("part_mu")).drop("part_mu")  # fmt: skip
        return sums.select(columns), "; ".join(hows)
    key = {"format": MEANS_FORMAT, "version": version, "dataset": manifest["dataset_version"],
           "start": str(start), "end": str(end), "refit_months": settings.refit_months,
           "warmup_dates": settings.warmup_dates}  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    folder = lake.table_dir("walk_forward") / stat
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / f"means_{digest}.parquet"
    if cache.exists():
        return pl.read_parquet(cache).select(
            columns
        ), "reused (same version, dataset, period and refit interval)"
    means = walk_forward_means(rows, walk_forward_fit(manifest), start, end, settings)
    means = means.select(columns)
    means.write_parquet(cache)
    return means, f"refit {means['fold_start'].n_unique()} times"


@dg.asset(
    metadata=warehouse_table_metadata(WALK_FORWARD_PREDICTIONS, MARKET_BLEND),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="evaluation",
    kinds={"xgboost", "scikit-learn", "polars", "duckdb"},
    pool="duckdb",
    deps=[
        player_models,
        dg.AssetDep(market_lines, partition_mapping=dg.AllPartitionMapping()),
        # a combo built from its parts: its means are its parts' refits, on their datasets
        dg.AssetDep(training_datasets, partition_mapping=WITH_PARTS),
    ],
)
def walk_forward_predictions(
    context: dg.AssetExecutionContext,
    config: WalkForwardConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    registry: ModelRegistry,
) -> dg.MaterializeResult:
    """Predictions made walk-forward (refit monthly on the past only) at each pregame line,
    with the market-aware P(over), the served rule's bets and the result."""
    stat = context.partition_key
    settings = config.settings()
    version, manifest = production_manifest(registry, stat, "nothing to evaluate walk-forward yet")
    # the production version's own dataset: the walk-forward (and what it leaves for serving)
    # ends where that version's data ends, which is what serving's hindsight guard checks
    dataset = lake.read_manifest(stat, manifest["dataset_version"])
    splits = lake.read_dataset(stat, manifest["dataset_version"])
    rows = pl.concat([splits[s] for s in ("train", "val", "test")], how="vertical_relaxed")
    lines = read_market_lines(lake)
    real_dates = None
    if lines is not None and lines.height:
        real_dates = lines.filter(
            (pl.col("market") == stat) & (pl.col("game_date") <= rows["game_date"].max())
        )["game_date"]
    start, end = default_period(rows["game_date"], real_dates, settings.warmup_dates)
    start, end = settings.start or start, settings.end or end
    context.log.info(
        f"{stat}: walk-forward {start}..{end}, refit every {settings.refit_months} month(s)"
    )
    means, how = _means(lake, model_store, stat, version, manifest, rows, start, end, settings)
    predicted = rows.join(means, on=["game_id", "player_id"], how="inner").sort(
        "game_date", "player_id"
    )  # the refits' order (by date, then player), whether the means were made or reused
    scored, blends, folds = walk_forward_probabilities(predicted, lines, stat, settings)
    scored = scored.with_columns(
        stat=pl.lit(stat),
        model_version=pl.lit(version),
        mean=pl.col("mu"),
        outcome=pl.col("target").cast(pl.Float64),
        went_over=pl.col("went_over").cast(pl.Int64),
    )
    table = WALK_FORWARD_PREDICTIONS.conform(scored)
    # the version's settings (rounds, parameters, champions) were chosen on its validation split
    val_end = date.fromisoformat(dataset["cutoffs"]["val_end"])
    first_scored, warm_start = scored["game_date"].min(), predicted["game_date"].min()
    settings_note = (
        f"validation through {val_end}, before the first scored row ({first_scored}; "
        f"warm-up from {warm_start})"
        if val_end < first_scored
        else f"validation through {val_end}: OVERLAPS the scored rows from {first_scored} "
        "(the settings have seen some of the dates they are scored on)"
    )
    if val_end >= first_scored:
        context.log.warning(f"{stat}: {settings_note}")
    keep = [*table.columns, "mu", "target", "target_season_mean", "season_games"]
    folder = lake.table_dir("walk_forward") / stat
    folder.mkdir(parents=True, exist_ok=True)
    scored.select(list(dict.fromkeys(keep))).write_parquet(folder / f"{version}.parquet")
    (folder / "latest.json").write_text(json.dumps({"model_version": version}))
    # what serves the next day: the spread and the blend fit on every row scored so far
    serving = {"distribution": latest_distribution(scored), "blend": latest_blend(scored, settings)}
    import joblib

    joblib.dump(
        {**serving, "settings": settings},
        model_store.version_dir(stat, version) / "walk_forward.joblib",
    )
    blend_rows = pl.DataFrame(blends, infer_schema_length=None).with_columns(
        stat=pl.lit(stat), model_version=pl.lit(version),
        game_date=pl.col("game_date").str.to_date(),
        fit_end=pl.col("fit_end").cast(pl.String).str.to_date(),
        intercept=pl.col("intercept").cast(pl.Float64),
        market_weight=pl.col("market_weight").cast(pl.Float64),
        ours_weight=pl.col("ours_weight").cast(pl.Float64),
        track_log_loss_blend=pl.col("track_log_loss_blend").cast(pl.Float64),
        track_log_loss_market=pl.col("track_log_loss_market").cast(pl.Float64),
    )  # fmt: skip
    where = "stat = ? AND model_version = ?"
    warehouse.replace_where(WALK_FORWARD_PREDICTIONS, table, "stat = ?", [stat])
    warehouse.replace_where(MARKET_BLEND, MARKET_BLEND.conform(blend_rows), where, [stat, version])
    comparisons = {
        k: market_comparison(scored, k) for k in sorted(scored["line_kind"].unique().to_list())
    }
    share = (
        scored.group_by("line_kind")
        .agg(
            pl.len().alias("props"),
            (pl.col("recommendation") != "PASS").sum().alias("recommended"),
        )
        .with_columns(share=(pl.col("recommended") / pl.col("props")).round(4))
        .sort("line_kind")
    )
    weights = (
        blend_rows.filter(pl.col("active"))
        .group_by(pl.col("game_date").dt.truncate("1mo").alias("month"))
        .agg(
            pl.len().alias("dates_active"),
            pl.col("intercept").mean().round(3),
            pl.col("market_weight").mean().round(3),
            pl.col("ours_weight").mean().round(3),
        )
        .sort("month")
    )
    dates, given = quoted_dates(lake, stat)
    lines_note = coverage_sentence(stat, line_coverage(scored, dates), given)
    context.log.info(lines_note)
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "period": f"{start}..{end}",
            "lines": lines_note,
            "settings_chosen_on": settings_note,
            "means": how,
            "settings": dg.MetadataValue.json(settings.describe()),
            "dagster/row_count": table.height,
            "folds": dg.MetadataValue.json(folds),
            "comparison_with_market": dg.MetadataValue.json(
                {k: {f: _round(v) for f, v in c.items()} for k, c in comparisons.items()}
            ),
            "recommended_share": table_value(share),
            "blend_weights_by_month": table_value(weights, max_rows=24),
            "serving_blend": dg.MetadataValue.json(serving["blend"].describe()),
            "warehouse_table": "walk_forward_predictions",
        }
    )


@dg.asset(
    metadata=warehouse_table_metadata(BACKTEST_RESULTS, BACKTEST_BETS, MARKET_COMPARISON),
    partitions_def=target_partitions,
    backfill_policy=ONE_STAT_PER_RUN,
    group_name="evaluation",
    kinds={"polars", "duckdb", "matplotlib"},
    pool="duckdb",
    deps=[walk_forward_predictions],
    check_specs=check_specs("backtest_reports"),
)
def backtest_reports(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Betting simulations of the walk-forward rows at pregame lines, and ours vs the market;
    how much of the period real lines priced, in words beside the figures."""
    stat = context.partition_key
    version, scored = read_walk_forward(lake, stat)
    rows = scored.rename({"target": "actual"}).with_columns(
        season_avg=pl.col("target_season_mean"),
        market=pl.lit(stat),
    )
    results, bets = [], []
    for kind in sorted(rows["line_kind"].unique().to_list()):
        res, bet = run_backtest(rows.filter(pl.col("line_kind") == kind))
        days = bet.group_by("strategy", "staking", "price_rule").agg(
            pl.col("game_date").min().alias("first_day"),
            pl.col("game_date").max().alias("last_day"),
        )
        results.append(
            res.join(days, on=["strategy", "staking", "price_rule"], how="left").with_columns(
                line_kind=pl.lit(kind)
            )
        )
        bets.append(bet.with_columns(line_kind=pl.lit(kind)))
    results_frame = pl.concat(results, how="vertical_relaxed").with_columns(
        stat=pl.lit(stat),
        model_version=pl.lit(version),
        headline=(pl.col("strategy") == HEADLINE) & (pl.col("price_rule") == "reference"),
    )
    bets_frame = pl.concat(bets, how="vertical_relaxed").with_columns(
        stat=pl.lit(stat), model_version=pl.lit(version), actual=pl.col("actual").cast(pl.Float64)
    )
    comparisons = {k: market_comparison(scored, k) for k in rows["line_kind"].unique().to_list()}
    dates, given = quoted_dates(lake, stat)
    coverage = line_coverage(scored, dates)
    lines_note = coverage_sentence(stat, coverage, given)
    context.log.info(lines_note)
    finite = reported_metrics_are_finite(comparisons, results_frame)
    yield from stop_if_blocked("backtest_reports", [finite])
    where = "stat = ? AND model_version = ?"
    warehouse.replace_where(BACKTEST_RESULTS, results_frame, where, [stat, version])
    warehouse.replace_where(BACKTEST_BETS, bets_frame, where, [stat, version])
    stored = {k: coverage[k] for k in ("quoted_dates", "rows_on_quoted_dates",
                                       "real_rows_on_quoted_dates")}  # fmt: skip
    found = [
        {"stat": stat, "model_version": version, "line_kind": k, **c, **stored}
        for k, c in comparisons.items()
        if c["rows"]
    ]
    if found:
        warehouse.replace_where(
            MARKET_COMPARISON,
            MARKET_COMPARISON.conform(pl.DataFrame(found)),
            where,
            [stat, version],
        )
    png = bankroll_plot(bets_frame, stat, version, lake)
    columns = ["line_kind", "strategy", "staking", "price_rule", "bets", "win_rate", "roi",
               "roi_low", "roi_high", "final_bankroll", "max_drawdown", "sharpe"]  # fmt: skip
    clv = ["clv_bets", "clv_line_move", "clv_beat_close"]
    headline = results_frame.filter(pl.col("headline")).select(*columns, *clv)
    exploratory = (
        results_frame.filter(~pl.col("headline") & (pl.col("bets") >= 30))
        .sort("line_kind", "strategy", "staking", "price_rule")
        .select(columns)
    )
    covered = (
        real_lines_cover_the_period(stat, coverage, MIN_REAL_LINE_SHARE)
        if given
        else CheckOutcome(
            "real_lines_cover_the_period", True, f"{stat}: no real lines given (proxies only)"
        )
    )  # fmt: skip
    yield from check_results("backtest_reports", [finite, covered])
    yield dg.MaterializeResult(
        metadata={
            **_headline_figures(comparisons, headline),
            "model_version": version,
            "lines": lines_note,
            "rows_left_out_non_finite": sum(
                c.get("non_finite_rows", 0) for c in comparisons.values()
            ),
            "line_kinds": ", ".join(sorted(rows["line_kind"].unique().to_list())),
            "rows": rows.height,
            "dagster/row_count": results_frame.height,
            "headline_served_rule": table_value(
                headline.with_columns(pl.col(pl.Float64).round(3)), max_rows=8
            ),
            "exploratory_not_headline": table_value(
                exploratory.with_columns(pl.col(pl.Float64).round(3)), max_rows=40
            ),
            "market_comparison": dg.MetadataValue.json(
                {kind: {k: _round(v) for k, v in c.items()} for kind, c in comparisons.items()}
            ),
            "bankroll": image_markdown(png, f"{stat} bankroll"),
            "bankroll_png": dg.MetadataValue.path(str(png)),
        }
    )


def _headline_figures(comparisons: dict, headline: pl.DataFrame) -> dict[str, float]:
    """The figures a reader looks for first, as floats (the Plots tab charts them across runs):
    on real lines, our Brier score against the market's and the difference's 95% interval, and
    the served rule's bets and flat-stake ROI with its interval (NaN where there is nothing to
    measure: no real lines, or no bets)."""
    real = comparisons.get("real", {})
    served = headline.filter((pl.col("line_kind") == "real") & (pl.col("staking") == "flat"))
    row = served.row(0, named=True) if served.height else {}
    bets = int(row.get("bets") or 0)

    def figure(source: dict, key: str) -> float:
        value = source.get(key)
        return round(float(value), 5) if value is not None else math.nan

    return {
        "real_brier_ours": figure(real, "ours_brier"),
        "real_brier_market": figure(real, "market_brier"),
        "real_brier_diff": figure(real, "brier_diff"),
        "real_brier_diff_low": figure(real, "brier_diff_low"),
        "real_brier_diff_high": figure(real, "brier_diff_high"),
        "served_rule_bets": bets,
        "served_rule_roi": figure(row, "roi") if bets else math.nan,
        "served_rule_roi_low": figure(row, "roi_low") if bets else math.nan,
        "served_rule_roi_high": figure(row, "roi_high") if bets else math.nan,
    }


def bankroll_plot(bets: pl.DataFrame, stat: str, version: str, lake: LakeResource):
    """Bankroll curves of every strategy at the reference price, per line kind, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted(bets["line_kind"].unique().to_list())
    fig, axes = plt.subplots(1, 2 * len(kinds), figsize=(6 * len(kinds) * 2, 4), squeeze=False)
    for i, kind in enumerate(kinds):
        for j, staking in enumerate(("flat", "kelly")):
            ax = axes[0][2 * i + j]
            part = bets.filter(
                (pl.col("line_kind") == kind)
                & (pl.col("staking") == staking)
                & (pl.col("price_rule") == "reference")
            )
            for (strategy,), p in part.partition_by("strategy", as_dict=True).items():
                daily = p.group_by("game_date", maintain_order=True).agg(
                    pl.col("bankroll_after").last()
                )
                ax.plot(daily["game_date"], daily["bankroll_after"], label=strategy)
            ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
            ax.set_title(f"{stat} {kind} lines, {staking} stakes", fontsize=9)
            if staking == "kelly":
                ax.set_yscale("log")
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            if part.height:
                ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, "no bets", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = lake.reports_dir() / stat / f"bankroll_{version}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
