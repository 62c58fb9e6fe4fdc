"""The `statmuse` command: demo, backfill, datasets, train, models, ui.

Runs go through the Dagster instance at $DAGSTER_HOME (default $STATMUSE_HOME/dagster_home), so
`statmuse ui` (or `dagster dev` with the same DAGSTER_HOME) shows them afterwards.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from statmuse_pipelines.runs import (
    DEMO_TRAINING,
    INSTANCE_YAML,
    LOCATION_NAME,
    RunReport,
    ensure_dagster_home,
    run_datasets,
    run_day,
    run_evaluation,
    run_pipeline,
    run_training,
    season_chunks,
)
from statmuse_pipelines.settings import (
    Settings,
    SettingsError,
    environment,
    export_environment,
    league_today,
)

__all__ = ["INSTANCE_YAML", "main", "season_chunks"]


def summarize(settings: Settings, report: RunReport, echo=print) -> None:
    from statmuse_pipelines.resources.factory import warehouse_of

    warehouse = warehouse_of(settings)
    echo("")
    if warehouse.table_exists("player_game_stats"):
        per_season = warehouse.query(
            """
            SELECT season, count(*) AS player_games, count(DISTINCT game_id) AS games,
                   count(DISTINCT player_id) AS players, min(game_date) AS first_day,
                   max(game_date) AS last_day
            FROM player_game_stats GROUP BY season ORDER BY season
            """
        )
        echo("player_game_stats by season:")
        for r in per_season.iter_rows(named=True):
            echo(
                f"  {r['season']}  {r['player_games']:>7,} player-games  {r['games']:>5,} games  "
                f"{r['players']:>4} players  {r['first_day']}..{r['last_day']}"
            )
        totals = warehouse.query(
            "SELECT (SELECT count(*) FROM player_game_stats) AS p, "
            "(SELECT count(*) FROM team_game_stats) AS t"
        ).row(0)
        echo(f"  total: {totals[0]:,} player-games, {totals[1]:,} team-games")
    if warehouse.table_exists("player_features"):
        from statmuse_pipelines.core.features import feature_names

        n = warehouse.query("SELECT count(*) AS n FROM player_features")["n"][0]
        echo(f"player_features: {n:,} rows x {len(feature_names())} pregame features")
    if warehouse.table_exists("datasets"):
        latest = warehouse.query(
            """
            SELECT target, version, rows_train, rows_val, rows_test, train_end, test_start
            FROM datasets WHERE is_latest ORDER BY target
            """
        )
        if latest.height:
            echo(f"training datasets ({latest.height} targets, split by date 70/15/15):")
        for r in latest.iter_rows(named=True):
            echo(
                f"  {r['target']:<8} {r['version']}  train {r['rows_train']:>7,} "
                f"(to {r['train_end']})  val {r['rows_val']:>6,}  test {r['rows_test']:>6,} "
                f"(from {r['test_start']})"
            )
    if warehouse.table_exists("model_metrics") and warehouse.table_exists("model_registry"):
        _summarize_models(warehouse, echo)
    if warehouse.table_exists("market_comparison"):
        from statmuse_pipelines.resources.factory import lines_resource

        report_table(warehouse, echo, lines=lines_resource(settings).describe())
    else:
        quote_summary(warehouse, echo)
    for stat, reason in report.kept_candidates.items():
        echo(f"  not promoted: {stat}: {reason}")
    if report.skipped:
        echo(f"  not trained ({', '.join(report.skipped)}): too few game dates for a test split")
    if report.checks:
        failed = {k: v for k, v in report.checks.items() if v["failed"]}
        total = sum(v["passed"] + v["failed"] for v in report.checks.values())
        passed = total - sum(v["failed"] for v in failed.values())
        echo(
            f"checks: {passed}/{total} evaluations passed "
            f"({len(report.checks)} checks over {len(report.runs)} runs)"
        )
        for k, v in sorted(failed.items()):
            label = "WARN" if v["warn"] == v["failed"] else "FAILED"
            if k.endswith(".promotion_gate"):
                label = "NOT PROMOTED"  # the gate did its job: the candidate stays a candidate
            echo(f"  {label} {k}: {v['failed']} run(s)")
    echo(f"warehouse: {settings.warehouse_path}  (the pipeline writes it)")
    echo(
        f"analysts:  duckdb -readonly {settings.analyst_path}  (its copy, replaced after each "
        "run that writes: a session held open never blocks the pipeline)"
    )
    echo(f"lake:      {settings.lake_dir}")
    echo(
        f"runs:      {len(report.runs)} in {report.seconds:.1f}s, recorded in "
        f"{settings.dagster_home}"
    )
    echo("UI:        statmuse ui   (then open http://127.0.0.1:3000)")


def _summarize_models(warehouse, echo) -> None:
    """Per stat, the production version (else the newest) against the naive baselines on test."""
    table = warehouse.query(
        """
        WITH versions AS (
            SELECT stat, version, any_value(stage) AS stage, min(created_at) AS created_at,
                   count(DISTINCT CASE WHEN scope <> 'pooled' AND kind <> 'pooled'
                                       THEN scope END) AS own
            FROM model_registry GROUP BY stat, version
        ), chosen AS (
            SELECT * FROM versions
            QUALIFY row_number() OVER (
                PARTITION BY stat ORDER BY stage = 'production' DESC, created_at DESC) = 1
        ), m AS (
            SELECT version,
                   max(CASE WHEN kind = 'champion' THEN mae END) AS champion,
                   max(CASE WHEN kind = 'pooled' THEN mae END) AS pooled,
                   min(CASE WHEN kind LIKE 'baseline_%' THEN mae END) AS best_baseline,
                   arg_min(CASE WHEN kind LIKE 'baseline_%' THEN kind END,
                           CASE WHEN kind LIKE 'baseline_%' THEN mae END) AS best_name,
                   max(rows) AS rows
            FROM model_metrics WHERE scope = 'all' AND split = 'test' GROUP BY version
        )
        SELECT c.stat, c.version, c.stage, c.own, m.* EXCLUDE (version)
        FROM chosen c JOIN m USING (version) ORDER BY c.stat
        """
    )
    if table.height == 0:
        return
    echo("models, test split (champion = each player's champion, pooled for the rest):")
    echo(f"  {'stat':<8} {'stage':<10} {'champion':>8} {'pooled':>8} {'best naive':>21} "
         f"{'vs naive':>8} {'own':>4}  version")  # fmt: skip
    for r in table.iter_rows(named=True):
        change = (r["champion"] / r["best_baseline"] - 1) * 100
        naive = f"{r['best_name'].removeprefix('baseline_')} {r['best_baseline']:.3f}"
        echo(
            f"  {r['stat']:<8} {r['stage']:<10} {r['champion']:>8.3f} {r['pooled']:>8.3f} "
            f"{naive:>21} {change:>+7.1f}% {r['own']:>4}  {r['version']}"
        )


def _settings(args: argparse.Namespace, **overrides: str) -> Settings:
    """Settings from the environment, with command-line options taking precedence."""
    given = {name: str(value) for name, value in overrides.items() if value is not None}
    settings = Settings.from_env({**environment(), **given})
    # the resources built from these settings may read the same variables: keep them in step
    export_environment({**given, "STATMUSE_HOME": str(settings.home)})
    return settings


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        STATMUSE_SOURCE="synthetic",
        STATMUSE_HOME=args.home,
        STATMUSE_SEED=args.seed,
        STATMUSE_SEASONS=args.seasons,
        STATMUSE_TODAY=args.today,
    )
    from statmuse_pipelines.core.seasons import season_bounds
    from statmuse_pipelines.core.synthetic import default_seasons

    today = settings.today or league_today()
    seasons = default_seasons(today, settings.seasons)
    start = season_bounds(seasons[0])[0]
    # the models learn from everything up to a week ago; the last week is operated day by day
    # (predict before the games, ingest, grade), then today's slate is predicted
    end = today - timedelta(days=LIVE_DAYS + 1)
    print(
        f"statmuse demo: synthetic league, seed {settings.seed}, {settings.seasons} seasons, "
        f"games before {today}; writing to {settings.home}"
    )
    report = run_pipeline(settings, start, end, training=DEMO_TRAINING, live_until=today)
    summarize(settings, report)
    print_predictions(settings, today)
    return _finish(report)


LIVE_DAYS = 7


def print_predictions(settings: Settings, day: date, top: int = 10, echo=print) -> int:
    """The day's slate in one line, then the most confident recommendations; returns its rows."""
    from statmuse_pipelines.resources.factory import warehouse_of

    warehouse = warehouse_of(settings)
    if not warehouse.table_exists("predictions"):
        return 0
    counts = warehouse.query(
        "SELECT count(*) AS n, count(DISTINCT game_id) AS games, count(DISTINCT player_id) AS p, "
        "count(DISTINCT stat) AS stats, sum((recommendation <> 'PASS')::INT) AS bets "
        "FROM predictions WHERE prediction_date = ?",
        [day],
    ).row(0, named=True)
    echo(
        f"\npredictions for {day}: {counts['n'] or 0:,} rows ({counts['games']} games, "
        f"{counts['p']} players, {counts['stats']} stats), {counts['bets'] or 0:,} recommended bets"
    )
    best = warehouse.query(
        "SELECT player_name, team, opponent, stat, line, line_kind, prediction, recommendation, "
        "confidence, ev_over, ev_under, kelly_stake FROM predictions "
        "WHERE prediction_date = ? AND recommendation <> 'PASS' "
        "ORDER BY confidence DESC LIMIT ?",
        [day, top],
    )
    if best.height == 0:
        kinds = warehouse.query(
            "SELECT line_kind, count(*) AS n FROM predictions WHERE prediction_date = ? "
            "GROUP BY 1 ORDER BY 1",
            [day],
        )
        seen = ", ".join(f"{n:,} {k}" for k, n in kinds.iter_rows())
        echo(
            f"  no bets ({seen or 'no'} lines): a bet needs a real line and a market blend that "
            "measured an edge; proxy lines are never bet"
        )
    for r in best.iter_rows(named=True):
        ev = r["ev_over"] if r["recommendation"] == "OVER" else r["ev_under"]
        echo(
            f"  {r['player_name']:<20} {r['team']} v {r['opponent']}  {r['stat']:<7} "
            f"{r['recommendation']:<5} {r['line']:>5} ({r['line_kind']})  "
            f"mean {r['prediction']:5.1f}"
            f"  P {r['confidence']:.2f}  EV {ev:+.2f}  stake {r['kelly_stake']:.1%}"
        )
    echo(
        "  Predictions are estimates, not guarantees; gambling involves risk "
        "(help: 1-800-GAMBLER, ncpgambling.org)."
    )
    return counts["n"] or 0


def cmd_predict(args: argparse.Namespace) -> int:
    from statmuse_pipelines.core.datasets import TARGETS

    settings = _settings(args, STATMUSE_HOME=args.home, STATMUSE_LINES=args.lines)
    day = date.fromisoformat(args.date) if args.date else league_today()
    print(f"statmuse predict: the daily path for {day} ({settings.source} source)")
    report = run_day(settings, day)
    rows = print_predictions(settings, day, top=args.top)
    if report.failed is None and rows == 0:
        registry = _registry(settings)
        if all(registry.production_version(stat) is None for stat in TARGETS):
            # nothing could be predicted: say why, and do not pass for a day without games
            print(f"\nnothing predicted: no stat has a production model in {settings.models_dir}; "
                  "run `statmuse demo`, or `statmuse backfill` (which trains), first",
                  file=sys.stderr)  # fmt: skip
            return 1
    return _finish(report)


def cmd_backfill(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        STATMUSE_HOME=args.home,
        STATMUSE_SOURCE=args.source,
        STATMUSE_FILES_DIR=args.files_dir,
        STATMUSE_LINES=args.lines,
    )
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    stats = _stats(args.stat)
    print(
        f"statmuse backfill: {settings.source} source, {start}..{end}; writing to {settings.home}"
    )
    report = run_pipeline(
        settings, start, end, training=_training_options(args), stats=stats,
        walk_forward=_walk_forward_options(args),
    )  # fmt: skip
    summarize(settings, report)
    return _finish(report)


def _finish(report: RunReport) -> int:
    if report.failed:
        print(f"\nFAILED: {report.failed}", file=sys.stderr)
        if report.written:
            print(f"The failed run stored these before it failed: {', '.join(report.written)};"
                  " the failed step and the ones after it wrote nothing (a step writes its lake "
                  "files and warehouse rows together or not at all).", file=sys.stderr)  # fmt: skip
        else:
            print("The failed run stored nothing; what earlier runs stored is as it was.",
                  file=sys.stderr)  # fmt: skip
        return 1
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    print(f"statmuse datasets: rebuilding from the features in {settings.lake_dir}")
    report = run_datasets(settings)
    summarize(settings, report)
    return _finish(report)


def _training_options(args: argparse.Namespace) -> dict:
    """Training settings given on the command line (the rest keep their defaults)."""
    options = {
        "min_games": args.min_games,
        "max_players": args.max_players,
        "pooled_trials": args.trials,
        "player_trials": args.player_trials,
        "retune_days": 0 if getattr(args, "tune", False) else None,
    }
    return {k: v for k, v in options.items() if v is not None}


def _walk_forward_options(args: argparse.Namespace) -> dict:
    """The walk-forward period and refit interval given on the command line."""
    options = {
        "start": args.eval_start,
        "end": args.eval_end,
        "refit_months": args.refit_months,
    }
    return {k: v for k, v in options.items() if v is not None}


def _stats(given: list[str] | None) -> list[str]:
    """The stat targets named on the command line (all twelve when none are)."""
    from statmuse_pipelines.core.datasets import TARGETS

    stats = [s.upper() for s in given] if given else list(TARGETS)
    unknown = [s for s in stats if s not in TARGETS]
    if unknown:
        raise SettingsError(f"unknown stat(s) {', '.join(unknown)}; one of {', '.join(TARGETS)}")
    return stats


def _iso_date(text: str) -> str:
    """An option's date, checked when the command line is read (the text is kept)."""
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD ({exc})") from None
    return text


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    stats = _stats(args.stat)
    training = {**(DEMO_TRAINING if args.small else {}), **_training_options(args)}
    print(f"statmuse train: {', '.join(stats)} from the datasets in {settings.lake_dir}")
    report = run_training(settings, stats, training)
    summarize(settings, report)
    if report.failed is None and len(report.skipped) == len(stats):
        print(
            f"\nnothing trained: no dataset with train, validation and test rows for "
            f"{', '.join(stats)} in {settings.lake_dir}; run `statmuse backfill` (which builds "
            "them) or `statmuse datasets` first",
            file=sys.stderr,
        )
        return 1
    return _finish(report)


def _registry(settings: Settings):
    from statmuse_pipelines.resources.factory import registry_of

    return registry_of(settings)


def cmd_models_list(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    versions = _registry(settings).versions(args.stat.upper() if args.stat else None)
    if versions.height == 0:
        print("no model versions yet: run `statmuse train` (or `statmuse demo`)")
        return 0
    print(f"{'stat':<8} {'version':<16} {'stage':<10} {'test MAE':>9} {'best naive':>10} "
          f"{'own':>4}  {'fits':<21} {'dataset':<13} created")  # fmt: skip
    for r in versions.iter_rows(named=True):
        print(
            f"{r['stat']:<8} {r['version']:<16} {r['stage']:<10} {_num(r['test_mae']):>9} "
            f"{_num(r['best_baseline_mae']):>10} {r['own_models']:>4}  {r['fits']:<21} "
            f"{r['dataset_version']:<13} {r['created_at']}"
        )
    return 0


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_models_promote(args: argparse.Namespace) -> int:

    from statmuse_pipelines.resources.lake import LakeResource
    from statmuse_pipelines.resources.models import RegistryError

    settings = _settings(args, STATMUSE_HOME=args.home)
    stat, version = args.stat.upper(), args.version
    registry = _registry(settings)
    manifest = registry.store.manifest(stat, version)
    if manifest is None or registry.stage(stat, version) is None:
        raise RegistryError(f"no {stat} version {version}: see `statmuse models list`")
    if not registry.store.has_fit(stat, version, "production"):
        splits = LakeResource(root=str(settings.lake_dir)).read_dataset(
            stat, manifest["dataset_version"]
        )
        rows = sum(f.height for f in splits.values())
        print(f"refitting {version} on all {rows:,} rows of dataset {manifest['dataset_version']}")
        registry.ensure_production_fit(stat, version, splits)
    before = registry.promote(stat, version, "manual promotion (statmuse models promote)")
    print(
        f"{stat}: {version} is production"
        + (f" (was {before}, now archived)" if before and before != version else "")
    )
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    stat = args.stat.upper()
    current, previous = _registry(settings).rollback(
        stat, "manual rollback (statmuse models rollback)"
    )
    print(f"{stat}: rolled back from {current} (now archived) to {previous} (production)")
    return 0


REPORT_SQL = """
WITH production AS (
    SELECT stat, any_value(version) AS model_version FROM model_registry
    WHERE stage = 'production' GROUP BY stat
)
SELECT c.*, h.bets, h.roi, h.roi_low, h.roi_high, f.bets AS flat_bets, f.roi AS flat_roi,
       f.roi_low AS flat_roi_low, f.roi_high AS flat_roi_high, f.clv_bets, f.clv_line_move,
       f.clv_beat_close
FROM market_comparison c
JOIN production p USING (stat, model_version)
LEFT JOIN backtest_results h ON h.stat = c.stat AND h.model_version = c.model_version
    AND h.line_kind = c.line_kind AND h.headline AND h.staking = 'kelly'
LEFT JOIN backtest_results f ON f.stat = c.stat AND f.model_version = c.model_version
    AND f.line_kind = c.line_kind AND f.headline AND f.staking = 'flat'
ORDER BY c.line_kind = 'real' DESC, c.line_kind, c.stat
"""


def _ci(value, low, high, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def cmd_report(args: argparse.Namespace) -> int:
    from statmuse_pipelines.resources.factory import warehouse_of

    settings = _settings(args, STATMUSE_HOME=args.home)
    warehouse = warehouse_of(settings)
    if not warehouse.table_exists("market_comparison"):
        print("no backtests yet: run `statmuse demo`, or `statmuse evaluate` after training")
        return 1
    report_table(warehouse)
    return 0


def quote_summary(warehouse, echo=print) -> None:
    """What became of the lines source's quotes (`line_quotes`), per feed: kept and rejected,
    counted by reason."""
    import textwrap

    from statmuse_pipelines.core.lines import QUOTE_REASONS

    if not warehouse.table_exists("line_quotes"):
        return
    counts = warehouse.query(
        "SELECT feed, reason, sum(quotes)::BIGINT AS n, sum(snapshot_assumed)::BIGINT AS snap, "
        "sum(event_assumed)::BIGINT AS event, min(game_date) AS first, max(game_date) AS last "
        "FROM line_quotes GROUP BY ALL ORDER BY feed"
    )
    if counts.height == 0:
        return
    order = {r: i for i, r in enumerate(QUOTE_REASONS)}
    total = int(counts["n"].sum())
    kept = sum(n for r, n in zip(counts["reason"], counts["n"], strict=True)
               if QUOTE_REASONS.get(r, ("",))[0] == "kept")  # fmt: skip
    echo(f"quotes from the lines source (line_quotes): {total:,} read, {kept:,} kept, "
         f"{total - kept:,} rejected")  # fmt: skip
    for (feed,), part in counts.partition_by("feed", as_dict=True, maintain_order=True).items():
        rows = sorted(part.iter_rows(named=True), key=lambda r: order.get(r["reason"], 99))
        by = ", ".join(f"{r['reason']} {r['n']:,}" for r in rows)
        text = (
            f"{feed} ({part['first'].min()}..{part['last'].max()}, {int(part['n'].sum()):,}): {by}"
        )
        for line in textwrap.wrap(text, 100, initial_indent="  ", subsequent_indent="    "):
            echo(line)
        snap, event = int(part["snap"].sum()), int(part["event"].sum())
        if snap or event:
            echo(f"    of them assumed: {snap:,} snapshot times (the morning of the game), "
                 f"{event:,} event ids (by date and teams)")  # fmt: skip


def report_table(warehouse, echo=print, lines: str | None = None) -> None:
    """Per stat and line kind, the production version's walk-forward rows: ours vs the market,
    and the served rule's bets (`lines`: where the lines came from, when known); what became of
    the quotes; how much of each stat's period real lines priced, in words."""
    import polars as pl

    quote_summary(warehouse, echo)
    table = warehouse.query(REPORT_SQL)
    if table.height == 0:
        echo("no walk-forward evaluation of a production model yet")
        return
    echo("walk-forward: every prediction from a fit of earlier games only, at pregame lines")
    if lines:
        echo(f"lines: {lines}")
    echo("(real = a book's quotes, a market test; proxy = labelled lines of a naive book that")
    echo("prices the last 10 games, never a market test). ours = the final market-aware P(over);")
    echo(
        "diff = ours - market with a 95% interval (bootstrap over game dates; below 0: ours better)"
    )
    echo(
        f"  {'stat':<8}{'lines':<7}{'rows':>7}  {'period':<22}{'Brier':>7}{'market':>8}"
        f"  {'diff [95% CI]':<28}{'logloss':>8}{'market':>8}  {'diff [95% CI]':<28}"
        f"{'raw Brier':>9}{'MAE':>7}{'line':>6}  version"
    )
    for r in table.iter_rows(named=True):
        period = f"{r['first_date']}..{r['last_date']}"
        brier = _ci(r["brier_diff"], r["brier_diff_low"], r["brier_diff_high"], "+.4f")
        logloss = _ci(r["log_loss_diff"], r["log_loss_diff_low"], r["log_loss_diff_high"], "+.4f")
        echo(
            f"  {r['stat']:<8}{r['line_kind']:<7}{r['rows']:>7,}  {period:<22}"
            f"{r['ours_brier']:>7.4f}{r['market_brier']:>8.4f}"
            f"  {brier:<28}"
            f"{r['ours_log_loss']:>8.4f}{r['market_log_loss']:>8.4f}"
            f"  {logloss:<28}"
            f"{r['raw_brier']:>9.4f}{r['ours_mae']:>7.2f}{r['line_mae']:>6.2f}"
            f"  {r['model_version']}"
        )
    _coverage_words(table, echo)
    real = table.filter(pl.col("line_kind") == "real")
    if real.height == 0:
        echo("the served rule (the headline) bets real sportsbook lines only: none here, no bets")
        return
    echo("the served rule (the headline, fixed in advance: final P beats the market's by 0.03 at")
    echo("a price above break-even, reference book; real lines only): share of props bet, ROI")
    echo(
        "with a 95% interval (bootstrap over game days), flat 1-unit stakes and quarter Kelly "
        "(2%/bet, 10%/day)"
    )
    echo(
        f"  {'stat':<8}{'lines':<7}{'props':>7}{'bet':>7}{'bets':>7}  {'flat ROI [95% CI]':<28}"
        f"{'Kelly ROI [95% CI]':<28}{'CLV bets':>8}{'move':>7}{'beat':>6}  version"
    )
    for r in real.iter_rows(named=True):
        share = r["recommended_share"] if r["recommended_share"] is not None else 0.0
        echo(
            f"  {r['stat']:<8}{r['line_kind']:<7}{r['mae_rows']:>7,}{share:>7.1%}"
            f"{r['flat_bets'] or 0:>7,}  "
            f"{_ci(r['flat_roi'], r['flat_roi_low'], r['flat_roi_high'], '+.1%'):<28}"
            f"{_ci(r['roi'], r['roi_low'], r['roi_high'], '+.1%'):<28}{_clv(r)}"
            f"  {r['model_version']}"
        )
    echo("CLV: bets whose prop was quoted again later (bets use the opening quote); move = mean")
    echo("points the consensus line moved toward our side by the close; beat = share that beat it")


def _coverage_words(table, echo) -> None:
    """Per stat, the share of its period real lines priced (stored with the comparison), in
    words: the rest of the period is priced by labelled proxies."""
    import textwrap

    from statmuse_pipelines.core.probabilities import MIN_REAL_LINE_SHARE

    first = {}
    for r in table.iter_rows(named=True):
        if r.get("rows_on_quoted_dates") is not None:
            first.setdefault(r["stat"], r)
    if not first:
        return
    parts, low, unquoted, left_out = [], [], [], []
    for stat, r in sorted(first.items()):
        rows, real = r["rows_on_quoted_dates"], r["real_rows_on_quoted_dates"]
        if rows == 0:
            unquoted.append(stat)
            continue
        parts.append(f"{stat} {real:,}/{rows:,} ({real / rows:.0%}, {r['quoted_dates']} dates)")
        if real / rows < MIN_REAL_LINE_SHARE:
            low.append(stat)
    for r in table.iter_rows(named=True):
        if r.get("non_finite_rows"):
            left_out.append(f"{r['stat']} {r['line_kind']} {r['non_finite_rows']:,}")
    text = (
        "real lines priced these player-games of the dates the source quotes each stat; the "
        "rest of each period (and every other date) is priced by labelled proxy lines: "
        + ", ".join(parts)
    )
    if unquoted:
        text += f". Quoted on none of their period's dates (proxies only): {', '.join(unquoted)}"
    if low:
        text += (
            f". LOW (under {MIN_REAL_LINE_SHARE:.0%}: the feed's quotes mostly became no line, "
            f"see line_quotes): {', '.join(low)}"
        )
    if left_out:
        text += (
            ". Rows left out of every figure (a missing or non-finite probability, line or "
            f"price): {', '.join(left_out)}"
        )
    for line in textwrap.wrap(text, 100, initial_indent="  ", subsequent_indent="    "):
        echo(line)


def _clv(r: dict) -> str:
    n = r.get("clv_bets") or 0
    if n == 0:
        return f"{0:>8}{'-':>7}{'-':>6}"
    return f"{n:>8,}{r['clv_line_move']:>+7.2f}{r['clv_beat_close']:>6.0%}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home, STATMUSE_LINES=args.lines)
    stats = _stats(args.stat)
    print(f"statmuse evaluate: {', '.join(stats)} with {settings.lines} lines")
    report = run_evaluation(settings, stats, walk_forward=_walk_forward_options(args))
    if report.failed is None:
        from statmuse_pipelines.resources.factory import warehouse_of

        print()
        report_table(warehouse_of(settings))
    return _finish(report)


def cmd_ui(args: argparse.Namespace) -> int:
    settings = _settings(args, STATMUSE_HOME=args.home)
    ensure_dagster_home(settings)
    root = Path(__file__).resolve().parent.parent
    workspace = root / "workspace.yaml"
    if not workspace.exists():  # installed, not a checkout: the same location name
        workspace = ui_workspace(settings.dagster_home)
    # the dagster of this interpreter, whether or not its virtualenv is activated
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)]
    print(f"DAGSTER_HOME={settings.dagster_home} dagster dev {' '.join(cmd[4:])}")
    os.chdir(workspace.parent)
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def ui_workspace(dagster_home: Path) -> Path:
    """A workspace file for an installed project: the code location is named as in the
    checkout's workspace.yaml, which the command's runs are tagged with (runs.LOCATION_NAME)."""
    path = dagster_home / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: statmuse_pipelines.definitions\n"
        f"      location_name: {LOCATION_NAME}\n"
    )
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statmuse",
        description="NBA box scores to player-prop predictions, as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run every stage on the bundled synthetic league")
    demo.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    demo.add_argument("--seed", type=int, help="league seed (default 7)")
    demo.add_argument("--seasons", type=int, help="seasons to simulate (default 3)")
    demo.add_argument(
        "--today", type=_iso_date, help="treat this ISO date as today (default: today)"
    )
    demo.set_defaults(func=cmd_demo)

    backfill = sub.add_parser(
        "backfill", help="run every stage for a date range, configured source"
    )
    backfill.add_argument(
        "--start", required=True, type=_iso_date, help="first game date, YYYY-MM-DD"
    )
    backfill.add_argument("--end", required=True, type=_iso_date, help="last game date, YYYY-MM-DD")
    backfill.add_argument("--source", choices=["synthetic", "files", "nba_api"])
    backfill.add_argument("--files-dir", help="folder of nba_api exports (files source)")
    backfill.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    backfill.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    backfill.add_argument(
        "--stat", action="append", help="train/evaluate this target only (repeatable; default all)"
    )
    backfill.set_defaults(func=cmd_backfill)

    datasets = sub.add_parser(
        "datasets", help="rebuild the training datasets from the stored features"
    )
    datasets.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    datasets.set_defaults(func=cmd_datasets)

    def training_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--trials", type=int, help="Optuna trials for the pooled model (default 8)")
        p.add_argument("--player-trials", type=int, help="Optuna trials, per-player settings (4)")
        p.add_argument("--max-players", type=int, help="per-player model sets per stat (0 = all)")
        p.add_argument("--min-games", type=int, help="training games for own models (50)")
        p.add_argument(
            "--tune",
            action="store_true",
            help="tune again even when production's tuned settings are recent (they are reused "
            "for 28 days)",
        )

    training_options(backfill)

    def walk_forward_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--eval-start",
            type=_iso_date,
            help="first date of the walk-forward evaluation (default: the start of the latest "
            "season with real lines)",
        )
        p.add_argument(
            "--eval-end",
            type=_iso_date,
            help="last date evaluated (default: the last with results)",
        )
        p.add_argument("--refit-months", type=int, help="months between walk-forward refits (1)")

    walk_forward_options(backfill)

    train = sub.add_parser("train", help="train, measure and gate models from stored datasets")
    train.add_argument("--stat", action="append", help="a stat target (repeatable; default all)")
    train.add_argument("--small", action="store_true", help="the demo's small settings")
    train.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    training_options(train)
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser("predict", help="the daily path for a date: ingest, grade, predict")
    predict.add_argument(
        "--date", type=_iso_date, help="the date to predict (default: today, New York)"
    )
    predict.add_argument("--top", type=int, default=10, help="recommendations to print")
    predict.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    predict.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    predict.set_defaults(func=cmd_predict)

    evaluate = sub.add_parser("evaluate", help="match lines, calibrate and backtest the models")
    evaluate.add_argument("--stat", action="append", help="a stat target (repeatable; default all)")
    evaluate.add_argument(
        "--lines",
        help="synthetic (the synthetic league's book), a file/folder of sportsbook lines, or proxy",
    )
    evaluate.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    walk_forward_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="print the comparison with the lines and the market")
    report.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    report.set_defaults(func=cmd_report)

    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    msub = models.add_subparsers(dest="models_command", required=True)
    mlist = msub.add_parser("list", help="every model version with its stage and test MAE")
    mlist.add_argument("--stat")
    mlist.set_defaults(func=cmd_models_list)
    promote = msub.add_parser("promote", help="make a version production (refit if needed)")
    promote.add_argument("--stat", required=True)
    promote.add_argument("--version", required=True)
    promote.set_defaults(func=cmd_models_promote)
    rollback = msub.add_parser("rollback", help="back to the previous production version")
    rollback.add_argument("--stat", required=True)
    rollback.set_defaults(func=cmd_models_rollback)
    for p in (mlist, promote, rollback):
        p.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")

    ui = sub.add_parser("ui", help="start the Dagster UI on this project's instance")
    ui.add_argument("--home", help="data root (default $STATMUSE_HOME or ./data)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # the command line is read before dagster is imported: --help and a bad option answer at once
    args = build_parser().parse_args(argv)
    import dagster as dg

    # backfill_policy and pools are marked beta; they are what the design asks for
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    try:
        return args.func(args)
    except (SettingsError, ValueError, FileNotFoundError) as exc:
        print(f"statmuse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
