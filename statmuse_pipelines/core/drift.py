"""Drift: has what the model sees (or says) moved away from what it was trained on?

Per feature, the recent window (player_features of the last DRIFT_DAYS days) against the reference
window: the most recent rows the production model learned from (its dataset's test split; the
production model is refit on every row). Three measures, all of which must cross their limits:
the population stability index over 10 quantile bins of the reference (PSI_LIMIT 0.25, the usual
"significant shift"), the Kolmogorov-Smirnov statistic (KS_LIMIT 0.1), and the size of the shift:
the Wasserstein distance in reference standard deviations (SHIFT_LIMIT 0.5, half a standard
deviation). With thousands of rows PSI and KS alone flag shifts too small to matter: the 20-game
team ratings settle by about 0.4 standard deviations over the first weeks of every season.

Two kinds of features are measured differently. Features that move by construction (the day of
the season, counts of games played: UNMONITORED) are not checked. Team-level features (team_* and
opp_*) have one value per team and game, repeated on every player row of that team; they are
compared on one row per team-game, or thirteen copies of thirty teams would pass for evidence.

The same test runs on the model's predictions (recent slates against the test split's
predictions); calibration drift compares the ECE of recently graded P(over) with the test split's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

from statmuse_pipelines.core.checks import DRIFT_CHECKS  # noqa: F401 (its names, defined with every check)

DRIFT_DAYS = 14
PSI_LIMIT = 0.25
KS_LIMIT = 0.1
SHIFT_LIMIT = 0.5
ECE_MARGIN = 0.05
# the drift checks of `feature_drift`, by what they watch: the asset declares them, the retrain
# and alert sensors read their history, the command line names what drifted
MIN_ROWS = 100
# features whose distribution moves with the calendar or the depth of history, not with the game
UNMONITORED = frozenset(
    {
        "season_month", "season_day", "season_games", "prev_season_games", "career_games",
        "team_games", "opp_games", "vs_top10_games", "vs_bottom10_games", "vs_opp_games",
        "vs_opp_days_since",
    }
)  # fmt: skip
TEAM_LEVEL_PREFIXES = ("team_", "opp_")
TEAM_GAME = ("game_id", "team_id")


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `recent` against `reference` (quantile bins of reference)."""
    reference = reference[np.isfinite(reference)]
    recent = recent[np.isfinite(recent)]
    if len(reference) == 0 or len(recent) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    new = np.bincount(np.searchsorted(edges, recent, side="right"), minlength=len(edges) + 1)
    ref = np.clip(ref / ref.sum(), 1e-4, None)
    new = np.clip(new / new.sum(), 1e-4, None)
    return float(np.sum((new - ref) * np.log(new / ref)))


def shift_in_sd(reference: np.ndarray, recent: np.ndarray) -> float:
    """Wasserstein-1 distance between the two samples, in standard deviations of `reference`
    (for a pure shift of location: how many standard deviations the values moved)."""
    reference = reference[np.isfinite(reference)]
    recent = recent[np.isfinite(recent)]
    sd = float(np.std(reference)) if len(reference) else 0.0
    if len(recent) == 0 or sd == 0:
        return float("nan")
    return float(stats.wasserstein_distance(reference, recent) / sd)


def compare(reference: pl.DataFrame, recent: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """KS, PSI and shift of each column; `drifted` where all three cross their limits.
    Columns with fewer than MIN_ROWS values on either side, or constant in `reference`, are left
    out."""
    rows = []
    for c in columns:
        a = reference[c].cast(pl.Float64).to_numpy()
        b = recent[c].cast(pl.Float64).to_numpy()
        if len(b) < MIN_ROWS or len(a) < MIN_ROWS or np.nanstd(a) == 0:
            continue
        # the asymptotic p-value: the exact one (scipy's choice below 10,000 rows) took 4x as
        # long and differs in the third significant digit; the flag uses the statistic only
        ks = stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)], method="asymp")
        p = psi(a, b)
        shift = shift_in_sd(a, b)
        rows.append(
            {
                "name": c,
                "ks_stat": float(ks.statistic),
                "ks_pvalue": float(ks.pvalue),
                "psi": p,
                "shift": shift,
                "reference_mean": float(np.nanmean(a)),
                "recent_mean": float(np.nanmean(b)),
                "drifted": bool(
                    p >= PSI_LIMIT and ks.statistic >= KS_LIMIT and shift >= SHIFT_LIMIT
                ),
            }
        )
    schema = {
        "name": pl.String,
        "ks_stat": pl.Float64,
        "ks_pvalue": pl.Float64,
        "psi": pl.Float64,
        "shift": pl.Float64,
        "reference_mean": pl.Float64,
        "recent_mean": pl.Float64,
        "drifted": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema).sort("psi", descending=True, nulls_last=True)


def _digest(frame: pl.DataFrame, columns: Sequence[str]) -> str:
    """The content of `columns` of `frame`, row by row in order, as one digest."""
    rows = frame.select(columns).hash_rows(seed=0).to_numpy()
    return hashlib.sha256(rows.tobytes() + "|".join(columns).encode()).hexdigest()


# the last few results of `feature_drift` by the content they compared: every stat's reference
# is its dataset's test split, and the twelve datasets share their rows and feature columns, so
# a drift run over the stats compares the same features twelve times (0.5 s each on the demo)
_MEMO: dict[tuple[str, str], pl.DataFrame] = {}
_MEMO_SIZE = 4


def feature_drift(
    reference: pl.DataFrame, recent: pl.DataFrame, features: Sequence[str]
) -> pl.DataFrame:
    """`compare` over the monitored features: player-level ones on every row, team-level ones on
    one row per team-game (see the module's docstring). The same content compared again is
    answered from memory (a frame of the same rows and values: tested)."""
    columns = [*TEAM_GAME, *features]
    key = (_digest(reference, columns), _digest(recent, columns))
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _feature_drift(reference, recent, features)
    return _MEMO[key].clone()


def _feature_drift(
    reference: pl.DataFrame, recent: pl.DataFrame, features: Sequence[str]
) -> pl.DataFrame:
    monitored = [f for f in features if f not in UNMONITORED]
    team = [f for f in monitored if f.startswith(TEAM_LEVEL_PREFIXES)]
    player = [f for f in monitored if f not in team]
    parts = [compare(reference, recent, player)]
    if team:
        parts.append(
            compare(
                reference.unique(TEAM_GAME, keep="first"), recent.unique(TEAM_GAME, keep="first"),
                team,
            )
        )  # fmt: skip
    return pl.concat(parts).sort("shift", descending=True, nulls_last=True)
