"""The nba_api LeagueGameLog format, and turning anything that claims to be in it into typed rows.

Every source (synthetic, files, nba_api) emits frames in this format: the exact LeagueGameLog
column names, in player mode ("P") or team mode ("T"). `coerce_game_log` is the single gate
through which outside rows enter: it types every column and, when it cannot, raises a
`GameLogError` that names the origin (file or request), the column, the row and the value.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

_COUNTS = [
    "FGM",
    "FGA",
    "FG3M",
    "FG3A",
    "FTM",
    "FTA",
    "OREB",
    "DREB",
    "REB",
    "AST",
    "STL",
    "BLK",
    "TOV",
    "PF",
    "PTS",
]


def _box(order: Sequence[str]) -> dict[str, pl.DataType]:
    types: dict[str, pl.DataType] = {"MIN": pl.Float64(), "PLUS_MINUS": pl.Float64()}
    for c in _COUNTS:
        types[c] = pl.Int64()
    for c in ("FG_PCT", "FG3_PCT", "FT_PCT"):
        types[c] = pl.Float64()
    return {c: types[c] for c in order}


_PLAYER_BOX_ORDER = [
    "MIN", "FGM", "FGA", "FG_PCT", "FG3M", "FG3A", "FG3_PCT", "FTM", "FTA", "FT_PCT",
    "OREB", "DREB", "REB", "AST", "STL", "BLK", "TOV", "PF", "PTS", "PLUS_MINUS",
]  # fmt: skip
_TEAM_BOX_ORDER = [
    "MIN", "PTS", "FGM", "FGA", "FG_PCT", "FG3M", "FG3A", "FG3_PCT", "FTM", "FTA", "FT_PCT",
    "OREB", "DREB", "REB", "AST", "STL", "BLK", "TOV", "PF", "PLUS_MINUS",
]  # fmt: skip

PLAYER_LOG_SCHEMA: dict[str, pl.DataType] = {
    "SEASON_ID": pl.Int64(),
    "PLAYER_ID": pl.Int64(),
    "PLAYER_NAME": pl.String(),
    "TEAM_ID": pl.Int64(),
    "TEAM_ABBREVIATION": pl.String(),
    "TEAM_NAME": pl.String(),
    "GAME_ID": pl.String(),
    "GAME_DATE": pl.Date(),
    "MATCHUP": pl.String(),
    "WL": pl.String(),
    **_box(_PLAYER_BOX_ORDER),
}
TEAM_LOG_SCHEMA: dict[str, pl.DataType] = {
    "SEASON_ID": pl.Int64(),
    "TEAM_ID": pl.Int64(),
    "TEAM_ABBREVIATION": pl.String(),
    "TEAM_NAME": pl.String(),
    "GAME_ID": pl.String(),
    "GAME_DATE": pl.Date(),
    "MATCHUP": pl.String(),
    "WL": pl.String(),
    **_box(_TEAM_BOX_ORDER),
}
SCHEMAS = {"player": PLAYER_LOG_SCHEMA, "team": TEAM_LOG_SCHEMA}
KEYS = {"player": ("PLAYER_ID", "GAME_ID"), "team": ("TEAM_ID", "GAME_ID")}

# Columns that may legitimately be empty: percentages with zero attempts, the result of a game
# in progress, the plus-minus some old exports leave out, and display names.
NULLABLE = frozenset({"FG_PCT", "FG3_PCT", "FT_PCT", "WL", "PLUS_MINUS", "TEAM_NAME"})

# GAME_DATE spellings seen in nba_api exports: LeagueGameLog ("2023-10-24"), timestamps
# ("2023-10-24T00:00:00"), PlayerGameLog ("OCT 24, 2023") and US spreadsheets ("10/24/2023").
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%b %d, %Y", "%m/%d/%Y")

_ROW = "__row"
# a box-score count at or past this is not a count (and would overflow the integer column)
MAX_COUNT = 1_000_000
MAX_ID = 2**53  # ids past this lose digits as numbers


class GameLogError(ValueError):
    """Bad input in a game log, with where it is: origin (file or request), column, row, value."""

    def __init__(
        self,
        origin: str,
        problem: str,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ):
        self.origin, self.problem, self.column, self.row, self.value = (
            origin,
            problem,
            column,
            row,
            value,
        )
        where = [origin]
        if column is not None:
            where.append(f"column {column}")
        if row is not None:
            where.append(f"row {row}")
        text = ", ".join(where) + f": {problem}"
        if value is not None:
            text += f" (value {value!r})"
        super().__init__(text)


def empty_game_log(mode: str) -> pl.DataFrame:
    """A zero-row frame in the format (what a day without games looks like)."""
    return pl.DataFrame(schema=SCHEMAS[mode])


def coerce_game_log(frame: pl.DataFrame, mode: str, origin: str) -> pl.DataFrame:
    """Type `frame` into the LeagueGameLog format of `mode` ('player' or 'team').

    Rows are numbered from 1 in the order given (for a file: data rows, header excluded).
    Extra columns (nba_api's VIDEO_AVAILABLE, say) are dropped; missing columns, values that do
    not parse, empty required values and duplicated player-games or team-games raise
    `GameLogError`.
    """
    schema = SCHEMAS[mode]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise GameLogError(
            origin,
            f"missing column(s) {', '.join(missing)}; expected the nba_api LeagueGameLog "
            f"{mode}-mode columns",
        )
    frame = frame.with_row_index(_ROW, offset=1)
    columns = [pl.col(_ROW)]
    for name, dtype in schema.items():
        columns.append(_coerce_column(frame, name, dtype, origin))
    typed = frame.select(columns)
    for name in schema:
        if name in NULLABLE:
            continue
        nulls = typed.filter(pl.col(name).is_null())
        if nulls.height:
            raise GameLogError(origin, "required value is empty", name, int(nulls[_ROW][0]))
    _raise_on_duplicates(typed, KEYS[mode], origin)
    return typed.drop(_ROW)


def _coerce_column(frame: pl.DataFrame, name: str, dtype: pl.DataType, origin: str) -> pl.Series:
    src = frame[name]
    rows = frame[_ROW]
    if dtype == pl.Date():
        return _coerce_date(src, rows, name, origin)
    if dtype == pl.String():
        out = src.cast(pl.String) if src.dtype != pl.String else src
        out = out.str.strip_chars()
        out = pl.Series(name, out).replace("", None)
        if name == "GAME_ID":
            # spreadsheets drop the leading zeros of "0022300001"
            out = pl.select(
                pl.when(out.str.contains(r"^\d{1,10}$"))
                .then(out.str.zfill(10))
                .otherwise(out)
                .alias(name)
            ).to_series()
            bad = out.is_not_null() & ~out.str.contains(r"^\d{10}$")
            if bad.any():
                i = int(bad.arg_true()[0])
                raise GameLogError(
                    origin, "GAME_ID is not a 10-digit id", name, int(rows[i]), out[i]
                )
        return out.alias(name)
    # numeric
    if src.dtype.is_numeric():
        as_float = src.cast(pl.Float64)
    elif src.dtype == pl.Boolean:
        raise GameLogError(origin, f"expected a number, found {src.dtype}", name)
    else:
        text = src.cast(pl.String).str.strip_chars().replace("", None)
        if name == "MIN":
            # "34:12" (minutes:seconds), as some exports write playing time
            mmss = text.str.extract_groups(r"^(\d+):(\d{1,2})$")
            minutes = mmss.struct.field("1").cast(pl.Float64, strict=False)
            seconds = mmss.struct.field("2").cast(pl.Float64, strict=False)
            clock = minutes + seconds / 60.0
            as_float = pl.select(
                pl.coalesce(clock, text.cast(pl.Float64, strict=False))
            ).to_series()
        else:
            as_float = text.cast(pl.Float64, strict=False)
        bad = text.is_not_null() & as_float.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            raise GameLogError(origin, "not a number", name, int(rows[i]), text[i])
    as_float = as_float.alias(name)
    # NaN or an infinity is no number of a box score (an empty percentage is empty, not NaN)
    if name in NULLABLE:
        as_float = as_float.fill_nan(None)
    infinite = as_float.is_not_null() & ~as_float.is_finite()
    if infinite.any():
        i = int(infinite.arg_true()[0])
        raise GameLogError(origin, "not a finite number", name, int(rows[i]), src[i])
    if dtype == pl.Int64():
        limit, what = (MAX_COUNT, "a count") if name in _COUNTS else (MAX_ID, "an id")
        huge = as_float.abs() >= limit
        if huge.any():
            i = int(huge.arg_true()[0])
            raise GameLogError(
                origin, f"too large for {what} (at most {limit:,})", name, int(rows[i]), src[i]
            )
        fractional = as_float.is_not_null() & (as_float != as_float.round(0))
        if fractional.any():
            i = int(fractional.arg_true()[0])
            raise GameLogError(origin, "not a whole number", name, int(rows[i]), as_float[i])
        return as_float.cast(pl.Int64)
    return as_float


def _coerce_date(src: pl.Series, rows: pl.Series, name: str, origin: str) -> pl.Series:
    if src.dtype == pl.Date:
        return src.alias(name)
    if src.dtype == pl.Datetime or isinstance(src.dtype, pl.Datetime):
        return src.dt.date().alias(name)
    text = src.cast(pl.String).str.strip_chars().replace("", None)
    # "OCT 24, 2023": chrono's %b wants "Oct"
    titled = text.str.to_titlecase()
    parsed = pl.select(
        pl.coalesce(
            [titled.str.strptime(pl.Date, fmt, strict=False, exact=True) for fmt in DATE_FORMATS]
        )
    ).to_series()
    bad = text.is_not_null() & parsed.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise GameLogError(
            origin,
            "unknown date format (expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, 'OCT 24, 2023' "
            "or MM/DD/YYYY)",
            name,
            int(rows[i]),
            text[i],
        )
    return parsed.alias(name)


def _raise_on_duplicates(typed: pl.DataFrame, key: Sequence[str], origin: str) -> None:
    dup = typed.filter(pl.struct(list(key)).is_duplicated())
    if not dup.height:
        return
    first = dup.group_by(list(key), maintain_order=True).agg(pl.col(_ROW)).row(0, named=True)
    rows = ", ".join(str(r) for r in first[_ROW][:5])
    label = " ".join(f"{k}={first[k]}" for k in key)
    raise GameLogError(
        origin,
        f"duplicate rows for {label} (rows {rows}); one row per "
        f"{'player-game' if key[0] == 'PLAYER_ID' else 'team-game'} expected",
        ", ".join(key),
        int(first[_ROW][1]),
    )
