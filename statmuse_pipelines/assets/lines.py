"""Stage `lines`: pregame sportsbook lines matched to players, the market's view of each prop."""

from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg
import polars as pl

from statmuse_pipelines.assets._common import (
    check_result,
    check_specs,
    store_days,
    table_value,
    warehouse_table_metadata,
)
from statmuse_pipelines.assets.normalize import player_game_stats
from statmuse_pipelines.core.checks import MIN_MATCH_RATE
from statmuse_pipelines.core.lines import (
    CANDIDATE_DAYS,
    market_view,
    match_rate,
    quote_counts,
    reason_totals,
)
from statmuse_pipelines.core.schemas import (
    LINE_MATCHES,
    LINE_QUOTES,
    MARKET_LINES,
    PLAYER_GAME_STATS,
)
from statmuse_pipelines.partitions import DAYS_IN_ONE_RUN, daily_partitions, partition_days
from statmuse_pipelines.resources.lake import LakeResource
from statmuse_pipelines.resources.lines import LinesResource
from statmuse_pipelines.resources.warehouse import WarehouseResource


def read_market_lines(
    lake: LakeResource, days: Sequence[date] | None = None
) -> pl.DataFrame | None:
    """The stored lines of `days` (default: every stored day); None before market_lines has run."""
    stored = lake.stored_days("market_lines")
    if not stored:
        return None
    wanted = stored if days is None else sorted(set(stored) & set(days))
    return MARKET_LINES.conform_stored(lake.read_days("market_lines", wanted, MARKET_LINES.schema))


def quoted_dates(lake: LakeResource, market: str) -> tuple[list[date], bool]:
    """The game dates on which the lines source quoted `market` (any quote, kept or rejected),
    and whether real (or simulated) lines were given at all (False: proxies only)."""
    stored = lake.stored_days("line_quotes")
    if not stored:
        return [], False
    counts = lake.read_days("line_quotes", stored, LINE_QUOTES.schema, ["game_date", "market"])
    return counts.filter(pl.col("market") == market)["game_date"].unique().to_list(), (
        counts.height > 0
    )


@dg.asset(
    metadata=warehouse_table_metadata(MARKET_LINES, LINE_MATCHES, LINE_QUOTES),
    partitions_def=daily_partitions,
    backfill_policy=DAYS_IN_ONE_RUN,
    group_name="lines",
    kinds={"polars", "parquet", "duckdb"},
    pool="duckdb",
    deps=[
        dg.AssetDep(
            player_game_stats,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-CANDIDATE_DAYS, end_offset=0
            ),
        )
    ],
    check_specs=check_specs("market_lines"),
)
def market_lines(
    context: dg.AssetExecutionContext,
    lines: LinesResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The game dates' pregame sportsbook lines matched to players: the opening consensus line,
    its prices and market P(over), and the close beside it. One file per game date; a day
    without lines in the source is stored empty, so re-running a range replaces it whole."""
    days = partition_days(context)
    first, last = days[0], days[-1]
    if lines.is_proxy():
        lake.write_days("market_lines", pl.DataFrame(schema=MARKET_LINES.schema), days, "game_date")
        lake.write_days("line_matches", pl.DataFrame(schema=LINE_MATCHES.schema), days, "game_date")
        lake.write_days("line_quotes", LINE_QUOTES.empty(), days, "game_date")
        return dg.MaterializeResult(
            metadata={"source": lines.describe(), "dagster/row_count": 0, "line_kind": "proxy"},
            check_results=[
                check_result("lines_match_players", True, "proxy lines: nothing to match")
            ],
        )
    quotes = lines.quotes(first, last)
    stored = set(lake.stored_days("player_game_stats"))
    span = [first - timedelta(days=CANDIDATE_DAYS) + timedelta(days=i)
            for i in range((last - first).days + CANDIDATE_DAYS + 1)]  # fmt: skip
    games = lake.read_days(
        "player_game_stats",
        [d for d in span if d in stored],
        PLAYER_GAME_STATS.schema,
        ["team_id", "player_id", "player_name", "game_date"],
    )
    view = market_view(quotes, games)
    counts = LINE_QUOTES.conform(quote_counts(view.audited))
    if quotes.height and view.close_quotes == 0:
        raise dg.Failure(
            f"{lines.describe()}: {quotes.height} quotes on {first}..{last}, none of them "
            f"pregame with a line and both prices (rejected: {reason_totals(counts)}); "
            "nothing was written"
        )
    matches = view.matches
    lines_frame = MARKET_LINES.conform(view.lines)
    store_days(lake, warehouse, LINE_MATCHES, LINE_MATCHES.conform(matches), days)
    store_days(lake, warehouse, LINE_QUOTES, counts, days)
    store_days(lake, warehouse, MARKET_LINES, lines_frame, days)
    # rate on dates our box scores cover (lines for playoff games cannot be matched to players
    # when the source has regular-season logs only)
    covered = matches.filter(pl.col("game_date") <= max(stored)) if stored else matches.clear()
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
            "quotes_by_reason": dg.MetadataValue.json(reason_totals(counts)),
            "quotes_kept": int(counts.filter(pl.col("status") == "kept")["quotes"].sum()),
            "quotes_with_assumed_snapshot_time": int(counts["snapshot_assumed"].sum()),
            "quotes_with_assumed_event": int(counts["event_assumed"].sum()),
            "pregame_quotes_at_the_close": view.close_quotes,
            "pregame_quotes_at_the_opening": view.opening_quotes,
            "dates": f"{first}..{last}",
            "game_dates_with_lines": lines_frame["game_date"].n_unique(),
            "props_with_a_later_quote": int(lines_frame["close_is_later"].sum()),
            "spellings_on_covered_dates": rate["spellings"],
            "match_rate_on_covered_dates": rate["match_rate"],
            "matched_and_played": rate["matched_and_played"],
            "matched_by": dg.MetadataValue.json(rate["by_method"]),
            "dagster/row_count": lines_frame.height,
            "lines_by_market": dg.MetadataValue.json(
                dict(lines_frame.group_by("market").len().sort("market").iter_rows())
            ),
            "unmatched": table_value(unmatched, max_rows=15),
        },
        check_results=[
            check_result(
                "lines_match_players",
                passed=rate["spellings"] == 0 or rate["match_rate"] >= MIN_MATCH_RATE,
                description=f"{rate['match_rate']:.1%} of {rate['spellings']} spellings matched "
                "on dates with box scores",
                metadata={"match_rate": rate["match_rate"]},
            )
        ],
    )
