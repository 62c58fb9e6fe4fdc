"""Stage `lines`: pregame sportsbook lines matched to players, the market's view of each prop."""

from datetime import timedelta

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import md_table
from statmuse_pipelines.assets.normalize import player_game_stats
from statmuse_pipelines.core.lines import consensus, match_players, match_rate, pregame
from statmuse_pipelines.core.schemas import LINE_MATCHES, MARKET_LINES, PLAYER_GAME_STATS
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.lines import LinesResource
from statmuse_pipelines.resources.warehouse import WarehouseResource


def read_market_lines(lake: LakeResource) -> pl.DataFrame | None:
    """The stored consensus lines (None before market_lines has run)."""
    path = lake.table_dir("market_lines") / "consensus.parquet"
    return pl.read_parquet(path) if path.exists() else None


@dg.asset(
    group_name="lines",
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
    if before.height == 0:
        raise dg.Failure(
            f"{lines.describe()}: {quotes.height} quotes, none of them pregame with both prices"
        )
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
