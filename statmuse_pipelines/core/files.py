"""Reading folders of nba_api exports: player logs and team logs, CSV or parquet.

Layout: `<dir>/player_game_logs/` and `<dir>/team_game_logs/`, each holding any number of `.csv`
or `.parquet` files (one per season, one per date, or anything else; subfolders are searched).
A file whose name carries a season (`season=2023-24`, `2023-24`) or a date (`2024-01-05`) is only
opened when that season or date overlaps the requested range.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from statmuse_pipelines.core.gamelog import KEYS, GameLogError, coerce_game_log, empty_game_log
from statmuse_pipelines.core.seasons import season_bounds

FOLDERS = {"player": "player_game_logs", "team": "team_game_logs"}
SUFFIXES = (".csv", ".parquet")

_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_SEASON_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")


def discover(directory: Path, mode: str) -> list[Path]:
    """The export files for `mode` ('player' or 'team') under `directory`, sorted by path."""
    folder = Path(directory) / FOLDERS[mode]
    if not folder.is_dir():
        raise GameLogError(
            str(folder),
            f"folder not found; the files source expects {FOLDERS['player']}/ and "
            f"{FOLDERS['team']}/ under {directory}",
        )
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def name_window(path: Path) -> tuple[date, date] | None:
    """The dates a file can hold, judged from its name alone (None when the name says nothing)."""
    name = path.stem
    m = _DATE_IN_NAME.search(name)
    if m:
        try:
            d = date(int(m[1]), int(m[2]), int(m[3]))
            return d, d
        except ValueError:
            return None
    m = _SEASON_IN_NAME.search(name)
    if m and (int(m[1]) + 1) % 100 == int(m[2]):
        # seasons spill past June 30: the 2019-20 playoffs ran to October 2020
        start, _ = season_bounds(int(m[1]))
        return start, date(int(m[1]) + 1, 12, 31)
    return None


def read_export(path: Path, mode: str) -> pl.DataFrame:
    """One export file, typed into the LeagueGameLog format (errors name this file)."""
    origin = str(path)
    try:
        if path.suffix.lower() == ".csv":
            raw = pl.read_csv(path, infer_schema=False)  # every value as text: we type it
        else:
            raw = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise GameLogError(origin, f"cannot read the file: {exc}") from exc
    return coerce_game_log(raw, mode, origin)


def combine(frames: list[tuple[str, pl.DataFrame]], mode: str) -> pl.DataFrame:
    """Concatenate per-file frames; identical rows repeated across files collapse to one.

    The same player-game (or team-game) in two files with different values is an error that
    names both files: we will not guess which export is right.
    """
    if not frames:
        return empty_game_log(mode)
    tagged = pl.concat([f.with_columns(__file=pl.lit(origin)) for origin, f in frames])
    key = list(KEYS[mode])
    values = [c for c in tagged.columns if c != "__file"]
    distinct = tagged.unique(subset=values, keep="first", maintain_order=True)
    clash = distinct.filter(pl.struct(key).is_duplicated())
    if clash.height:
        first = clash.row(0, named=True)
        where = clash.filter(pl.all_horizontal([pl.col(k) == first[k] for k in key]))[
            "__file"
        ].to_list()
        label = " ".join(f"{k}={first[k]}" for k in key)
        raise GameLogError(
            " and ".join(dict.fromkeys(where)),
            f"{label} appears with different values in more than one file",
            ", ".join(key),
        )
    return distinct.drop("__file")


def load_range(directory: Path, mode: str, start: date, end: date) -> pl.DataFrame:
    """Rows dated start..end (inclusive) from every export that may hold them."""
    frames: list[tuple[str, pl.DataFrame]] = []
    for path in discover(directory, mode):
        window = name_window(path)
        if window is not None and (window[1] < start or window[0] > end):
            continue
        typed = read_export(path, mode)
        if window is not None and window[0] == window[1]:
            # a day's file holds that day's games: a row dated otherwise would be kept by a
            # range run and lost by a re-run of its own day, so it is an error either way
            other = typed.with_row_index("__row", offset=1).filter(pl.col("GAME_DATE") != window[0])
            if other.height:
                raise GameLogError(
                    str(path),
                    f"dated {other['GAME_DATE'][0]}, not {window[0]} as the file's name says "
                    f"({other.height} such row(s)): move the rows to their own day's file",
                    "GAME_DATE",
                    int(other["__row"][0]),
                )
        frames.append((str(path), typed.filter(pl.col("GAME_DATE").is_between(start, end))))
    return combine(frames, mode).sort("GAME_DATE", "GAME_ID", *KEYS[mode][:1])
