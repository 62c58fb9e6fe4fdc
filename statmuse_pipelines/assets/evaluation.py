"""Stage `evaluation`: market lines matched to players, and honest backtests against them."""

import base64
from datetime import timedelta

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import md_table
from statmuse_pipelines.assets.datasets import target_partitions
from statmuse_pipelines.assets.normalize import player_game_stats
from statmuse_pipelines.core.backtest import run_backtest
from statmuse_pipelines.core.lines import consensus, match_players, match_rate, pregame
from statmuse_pipelines.core.probabilities import market_comparison
from statmuse_pipelines.core.schemas import (
    BACKTEST_BETS,
    BACKTEST_RESULTS,
    LINE_MATCHES,
    MARKET_COMPARISON,
    MARKET_LINES,
    PLAYER_GAME_STATS,
)
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.lines import LinesResource
from statmuse_pipelines.resources.warehouse import WarehouseResource


def image_markdown(path, alt: str) -> dg.MetadataValue:
    """A PNG embedded in markdown metadata (the UI shows it inline)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[dg.AssetDep(player_game_stats, partition_mapping=dg.AllPartitionMapping())],
    check_specs=[
        dg.AssetCheckSpec(
            "lines_match_players",
            asset="market_lines",
            description="at least 90% of the book spellings on regular-season dates match a player",
        )
    ],
)
def market_lines(
    context: dg.AssetExecutionContext,
    lines: LinesResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Pregame sportsbook lines matched to players: consensus line, prices, market P(over)."""
    folder = lake.table_dir("market_lines")
    folder.mkdir(parents=True, exist_ok=True)
    if lines.is_proxy():
        pl.DataFrame(schema=MARKET_LINES.schema).write_parquet(folder / "consensus.parquet")
        return dg.MaterializeResult(
            metadata={"source": lines.describe(), "dagster/row_count": 0, "line_kind": "proxy"},
            check_results=[
                dg.AssetCheckResult(
                    check_name="lines_match_players",
                    passed=True,
                    description="proxy lines: nothing to match",
                )
            ],
        )
    quotes = lines.quotes()
    before = pregame(quotes)
    first, last = before["game_date"].min(), before["game_date"].max()
    stored = set(lake.stored_days("player_game_stats"))
    span = [first - timedelta(days=30) + timedelta(days=i) for i in range((last - first).days + 31)]
    games = lake.read_days(
        "player_game_stats",
        [d for d in span if d in stored],
        PLAYER_GAME_STATS.schema,
        ["team_id", "player_id", "player_name", "game_date"],
    )
    matches = match_players(before, games)
    lines_frame = consensus(before, matches)
    lines_frame.write_parquet(folder / "consensus.parquet")
    matches.write_parquet(folder / "matches.parquet")
    warehouse.replace_where(LINE_MATCHES, matches, "TRUE", [])
    warehouse.replace_where(MARKET_LINES, lines_frame, "TRUE", [])
    # rate on dates our box scores cover (lines for playoff games cannot be matched to players
    # when the source has regular-season logs only)
    covered = matches.filter(pl.col("game_date") <= max(stored)) if stored else matches
    rate = match_rate(covered)
    unmatched = (
        matches.filter(pl.col("player_id").is_null())
        .group_by("player_name", "reason")
        .agg(pl.len().alias("games"))
        .sort("games", descending=True)
    )
    return dg.MaterializeResult(
        metadata={
            "source": lines.describe(),
            "line_kind": "real",
            "quotes": quotes.height,
            "pregame_quotes": before.height,
            "dates": f"{first}..{last}",
            "spellings_on_covered_dates": rate["spellings"],
            "match_rate_on_covered_dates": rate["match_rate"],
            "matched_and_played": rate["matched_and_played"],
            "matched_by": dg.MetadataValue.json(rate["by_method"]),
            "dagster/row_count": lines_frame.height,
            "lines_by_market": dg.MetadataValue.json(
                dict(lines_frame.group_by("market").len().sort("market").iter_rows())
            ),
            "unmatched": dg.MetadataValue.md(md_table(unmatched, max_rows=15)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="lines_match_players",
                passed=rate["match_rate"] >= 0.9,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{rate['match_rate']:.1%} of {rate['spellings']} spellings matched "
                "on dates with box scores",
                metadata={"match_rate": rate["match_rate"]},
            )
        ],
    )


@dg.asset(
    partitions_def=target_partitions,
    group_name="evaluation",
    kinds={"polars", "duckdb", "matplotlib"},
    deps=["calibrators"],
)
def backtest_reports(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Test-period betting simulations at pregame lines, and our P(over) against the market."""
    from statmuse_pipelines.assets.calibration import read_scored

    stat = context.partition_key
    version, scored = read_scored(lake, stat)
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
        stat=pl.lit(stat), model_version=pl.lit(version)
    )
    bets_frame = pl.concat(bets, how="vertical_relaxed").with_columns(
        stat=pl.lit(stat), model_version=pl.lit(version), actual=pl.col("actual").cast(pl.Float64)
    )
    comparisons = {k: market_comparison(scored, k) for k in rows["line_kind"].unique().to_list()}
    where = "stat = ? AND model_version = ?"
    warehouse.replace_where(BACKTEST_RESULTS, results_frame, where, [stat, version])
    warehouse.replace_where(BACKTEST_BETS, bets_frame, where, [stat, version])
    found = [
        {"stat": stat, "model_version": version, "line_kind": k, **c}
        for k, c in comparisons.items()
        if c["rows"]
    ]
    if found:
        warehouse.replace_where(MARKET_COMPARISON, pl.DataFrame(found), where, [stat, version])
    png = bankroll_plot(bets_frame, stat, version, lake)
    best = (
        results_frame.filter(pl.col("bets") >= 30)
        .sort(["line_kind", "roi"], descending=[False, True])
        .select(
            "line_kind",
            "strategy",
            "staking",
            "price_rule",
            "bets",
            "win_rate",
            "roi",
            "roi_low",
            "roi_high",
            "final_bankroll",
            "max_drawdown",
            "sharpe",
        )
        .with_columns(pl.col(pl.Float64).round(3))
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "line_kinds": ", ".join(sorted(rows["line_kind"].unique().to_list())),
            "rows": rows.height,
            "dagster/row_count": results_frame.height,
            "results": dg.MetadataValue.md(md_table(best, max_rows=32)),
            "market_comparison": dg.MetadataValue.json(
                {
                    kind: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items()}
                    for kind, c in comparisons.items()
                }
            ),
            "bankroll": image_markdown(png, f"{stat} bankroll"),
            "bankroll_png": dg.MetadataValue.path(str(png)),
        }
    )


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
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = lake.reports_dir() / stat / f"bankroll_{version}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
