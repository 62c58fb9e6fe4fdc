"""What the `statmuse` command prints from the warehouse: the end-of-run summary, the day's
slate, the models and their versions, the quotes kept and rejected, and the report of ours
against the market.

Each function reads the warehouse (its SQL is here, in one place) and prints through `echo`, so
the command prints to the terminal and a test or another caller can collect the lines.
"""

from __future__ import annotations

import math
from datetime import date

from statmuse_pipelines.execution import RunReport
from statmuse_pipelines.settings import Settings


def outcome(report: RunReport) -> int:
    """A command's exit status (1 when a run failed), and on a failure what it stored."""
    import sys

    if not report.failed:
        return 0
    print(f"\nFAILED: {report.failed}", file=sys.stderr)
    if report.written:
        print(f"The failed run stored these before it failed: {', '.join(report.written)};"
              " the failed step and the ones after it wrote nothing (a step writes its lake "
              "files and warehouse rows together or not at all).", file=sys.stderr)  # fmt: skip
    else:
        print("The failed run stored nothing; what earlier runs stored is as it was.",
              file=sys.stderr)  # fmt: skip
    return 1


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
                   count(DISTINCT CASE WHEN scope <> 'pooled' AND kind NOT IN ('pooled', 'part')
                                       THEN scope END) AS own,
                   bool_or(kind = 'part') AS from_parts
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
        SELECT c.stat, c.version, c.stage, c.own, c.from_parts, m.* EXCLUDE (version)
        FROM chosen c JOIN m USING (version) ORDER BY c.stat
        """
    )
    if table.height == 0:
        return
    echo("models, test split (champion = each player's champion, pooled for the rest; own =")
    echo("  players with their own champion; parts = a combo summing its parts' models):")
    echo(f"  {'stat':<8} {'stage':<10} {'champion':>8} {'pooled':>8} {'best naive':>21} "
         f"{'vs naive':>8} {'own':>5}  version")  # fmt: skip
    for r in table.iter_rows(named=True):
        change = (r["champion"] / r["best_baseline"] - 1) * 100
        naive = f"{r['best_name'].removeprefix('baseline_')} {r['best_baseline']:.3f}"
        echo(
            f"  {r['stat']:<8} {r['stage']:<10} {r['champion']:>8.3f} {r['pooled']:>8.3f} "
            f"{naive:>21} {change:>+7.1f}% {_own(r, 'own'):>5}  {r['version']}"
        )


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


def _own(row: dict, column: str) -> str:
    """Players with their own champion, or `parts` for a combo built from its parts' models."""
    return "parts" if row.get("from_parts") else str(row[column])


def num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_versions(versions, echo=print) -> None:
    """The registry's model versions (`ModelRegistry.versions`): stage, test MAE, fits, dataset."""
    if versions.height == 0:
        echo("no model versions yet: run `statmuse train` (or `statmuse demo`)")
        return
    echo(f"{'stat':<8} {'version':<16} {'stage':<10} {'test MAE':>9} {'best naive':>10} "
         f"{'own':>5}  {'fits':<21} {'dataset':<13} created")  # fmt: skip
    for r in versions.iter_rows(named=True):
        echo(
            f"{r['stat']:<8} {r['version']:<16} {r['stage']:<10} {num(r['test_mae']):>9} "
            f"{num(r['best_baseline_mae']):>10} {_own(r, 'own_models'):>5}  {r['fits']:<21} "
            f"{r['dataset_version']:<13} {r['created_at']}"
        )


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
    if low is None or math.isnan(low):  # bets on one game day: no interval
        return f"{value:{fmt}} [one day]"
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


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


# --- a run's words: what a step's line says after its label, from the run's own metadata -----


def _metadata(result, node: str) -> dict:
    """The metadata of `node`'s first materialization in the run (empty when it stored none)."""
    mats = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in mats[0].metadata.items()} if mats else {}


def ingested(result) -> str:
    """A range run of the game days: the player-games it stored."""
    rows = int(_metadata(result, "player_game_stats").get("run_rows", 0))
    return f"  {rows:>7,} player-games, features"


def matched(result) -> str:
    """The market lines run: the share of spellings matched and the quotes kept."""
    meta = _metadata(result, "market_lines")
    keys = ("match_rate_on_covered_dates", "quotes_kept", "quotes")
    rate, kept, read = (meta.get(k) for k in keys)
    quotes = f", {kept:,} of {read:,} quotes kept" if kept is not None and read else ""
    return f", {rate:.1%} of spellings matched{quotes})" if rate is not None else ")"


def promoted(result) -> str:
    """A training run: the stage its version took and why (a candidate the gate refused stays
    one)."""
    meta = _metadata(result, "player_models")
    refused = any(
        e.check_name == "promotion_gate" and not e.passed
        for e in result.get_asset_check_evaluations()
    )
    return f"{'kept as candidate' if refused else meta['stage']}: {meta['decision']}"


def evaluated(result) -> str:
    """An evaluation run: the walk-forward period it scored."""
    period = _metadata(result, "walk_forward_predictions").get("period")
    return f"  calibrated, walk-forward{f' {period}' if period else ''}, backtested"


def drifted(served: list[str], *results) -> str:
    """The drift runs of the `served` stats: which drifted, and in what."""
    from statmuse_pipelines.core.drift import DRIFT_CHECKS

    watched = {name: what for what, name in DRIFT_CHECKS.items()}
    found = []
    for stat, result in zip(served, results, strict=False):
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        if failed:
            found.append(f"{stat} ({', '.join(watched.get(n, n) for n in failed)})")
    return f"{len(served)} stats, " + (f"drifted: {'; '.join(found)}" if found else "no drift")
