"""Ingest benchmark: the files source on the real seasons, through normalization.

Two paths over the same game dates, from the same exports:

* core:    read the exports, normalize, write one parquet file per date per table, load the
           warehouse (what the assets do, without Dagster);
* dagster: the ingest and normalize assets as `statmuse backfill` runs them (one single-run
           backfill of the range, recorded in a fresh SQLite-backed instance).

Prints rows, seconds and rows per second per stage, and the dagster/core ratio (the cost of
orchestration: Dagster stores an event per partition per asset).

    python benchmarks/ingest.py                 # all nine seasons, 2015-10-01..2024-04-30
    python benchmarks/ingest.py --reduced       # one month (the test suite runs this)
    python benchmarks/ingest.py --no-dagster    # the core path only
    python benchmarks/ingest.py --plain-event-log   # and again on Dagster's own SQLite event log

The local homes' event log (statmuse_pipelines/event_log.py) writes a range run's per-partition
events in one transaction; --plain-event-log runs the Dagster path a second time on Dagster's
default SQLite event log (each event on its own) and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nba"
FULL = (date(2015, 10, 1), date(2024, 4, 30))
REDUCED = (date(2023, 10, 24), date(2023, 11, 23))


def core_path(data: Path, home: Path, start: date, end: date) -> dict[str, tuple[int, float]]:
    from statmuse_pipelines.core.normalize import normalize_player_logs, normalize_team_logs
    from statmuse_pipelines.core.schemas import PLAYER_GAME_STATS, TEAM_GAME_STATS
    from statmuse_pipelines.core.seasons import date_range
    from statmuse_pipelines.resources.lake import LakeResource
    from statmuse_pipelines.resources.sources import FilesGameLogSource
    from statmuse_pipelines.resources.warehouse import WarehouseResource

    source = FilesGameLogSource(directory=str(data))
    lake = LakeResource(root=str(home / "lake"))
    warehouse = WarehouseResource(path=str(home / "warehouse.duckdb"))
    days = date_range(start, end)
    out: dict[str, tuple[int, float]] = {}

    t = time.perf_counter()
    raw_p = source.fetch("player", start, end)
    raw_t = source.fetch("team", start, end)
    out["read exports"] = (raw_p.height + raw_t.height, time.perf_counter() - t)

    t = time.perf_counter()
    players = normalize_player_logs(raw_p)
    teams = normalize_team_logs(raw_t)
    out["normalize"] = (players.height + teams.height, time.perf_counter() - t)

    t = time.perf_counter()
    lake.write_days("raw_player_game_logs", raw_p, days, "GAME_DATE")
    lake.write_days("raw_team_game_logs", raw_t, days, "GAME_DATE")
    lake.write_days("player_game_stats", players, days, "game_date")
    lake.write_days("team_game_stats", teams, days, "game_date")
    files = 4 * len(days)
    out[f"write lake ({files:,} files)"] = (
        raw_p.height + raw_t.height + players.height + teams.height,
        time.perf_counter() - t,
    )

    t = time.perf_counter()
    warehouse.replace_days(PLAYER_GAME_STATS, players, days)
    warehouse.replace_days(TEAM_GAME_STATS, teams, days)
    out["load warehouse"] = (players.height + teams.height, time.perf_counter() - t)
    out["_player_games"] = (players.height, 0.0)
    return out


def dagster_path(
    data: Path, home: Path, start: date, end: date, plain: bool = False
) -> tuple[int, float]:
    """Ingest and normalize only, one single-run backfill of the range, as `statmuse` runs it
    (`plain`: on Dagster's default SQLite event log instead of the batched one)."""
    import dagster as dg

    from statmuse_pipelines.automation.jobs import range_tags
    from statmuse_pipelines.definitions import build_definitions
    from statmuse_pipelines.instance import ensure_dagster_home
    from statmuse_pipelines.resources.warehouse import WarehouseResource
    from statmuse_pipelines.settings import Settings

    settings = Settings(home=home, source="files", files_dir=data)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    if plain:  # a dagster.yaml statmuse did not write is left as it is
        (home / "dagster_home").mkdir(parents=True)
        (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_dagster_home(settings)
    bench = dg.define_asset_job(
        "ingest_only",
        # as a backfill ingests: the day's slate is the predict job's
        selection=dg.AssetSelection.groups("ingest", "normalize")
        - dg.AssetSelection.assets("daily_slate"),
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[bench]))
    job = defs.resolve_job_def("ingest_only")
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    t = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, tags=range_tags(str(start), str(end)), run_config=quiet
        )
    seconds = time.perf_counter() - t
    print(f"    {start}..{end}  {seconds:5.1f}s  run {result.run_id[:8]}")
    rows = WarehouseResource(path=str(settings.warehouse_path)).query(
        "SELECT count(*) AS n FROM player_game_stats"
    )["n"][0]
    return int(rows), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="one month instead of nine seasons")
    parser.add_argument("--no-dagster", action="store_true", help="skip the Dagster path")
    parser.add_argument(
        "--plain-event-log", action="store_true", help="also on Dagster's own SQLite event log"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of nba_api exports")
    args = parser.parse_args(argv)
    if not (args.data / "player_game_logs").is_dir():
        print(f"no exports at {args.data}: pass --data", file=sys.stderr)
        return 2
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    start, end = REDUCED if args.reduced else FULL
    days = (end - start).days + 1
    print(f"ingest benchmark: files source {args.data}, {start}..{end} ({days:,} game dates)")
    with tempfile.TemporaryDirectory() as tmp:
        core = core_path(args.data, Path(tmp) / "core", start, end)
        player_games = core.pop("_player_games")[0]
        core_total = sum(s for _, s in core.values())
        print(f"\ncore path: {player_games:,} player-games")
        print(f"  {'stage':<28}{'rows':>12}{'seconds':>10}{'rows/s':>14}")
        for stage, (rows, seconds) in core.items():
            print(f"  {stage:<28}{rows:>12,}{seconds:>10.2f}{rows / seconds:>14,.0f}")
        print(
            f"  {'total':<28}{player_games:>12,}{core_total:>10.2f}"
            f"{player_games / core_total:>14,.0f}  player-games/s"
        )
        if args.no_dagster:
            return 0
        print("\ndagster path (statmuse backfill):")
        rows, seconds = dagster_path(args.data, Path(tmp) / "dagster", start, end)
        if rows != player_games:
            raise SystemExit(f"paths disagree: dagster {rows:,} vs core {player_games:,} rows")
        print(
            f"  one run, {rows:,} player-games in {seconds:.1f}s = {rows / seconds:,.0f} "
            f"player-games/s; {days * 4 / seconds:,.1f} partition materializations/s"
        )
        print(f"\nratio dagster/core: {seconds / core_total:.1f}x the time of the core path")
        if args.plain_event_log:
            print("\ndagster path on Dagster's own SQLite event log (one event at a time):")
            plain_rows, plain_s = dagster_path(
                args.data, Path(tmp) / "plain", start, end, plain=True
            )
            if plain_rows != rows:
                raise SystemExit(f"event logs disagree: {plain_rows:,} vs {rows:,} rows")
            print(
                f"  {plain_s:.1f}s; ratio plain/batched event log: {plain_s / seconds:.2f}x "
                f"({plain_s - seconds:.1f}s of the plain run's time is event writes avoided)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
