"""Folders of nba_api-style exports for files-source tests, made from the synthetic league."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from statmuse_pipelines.core.synthetic.simulate import simulate_season


def write_exports(root: Path, first: date, last: date, seed: int = 7, season: int = 2024) -> Path:
    """player_game_logs/ and team_game_logs/ with one CSV per game date between first and last."""
    box = simulate_season(seed, season)
    for folder, frame in (("player_game_logs", box.player_logs), ("team_game_logs", box.team_logs)):
        out = root / folder
        out.mkdir(parents=True, exist_ok=True)
        days = frame.filter(pl.col("GAME_DATE").is_between(first, last))
        for (day,), part in days.partition_by("GAME_DATE", as_dict=True).items():
            part.write_csv(out / f"{day.isoformat()}.csv")
    return root


def edit_csv(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell of a CSV export (row counts data rows from 1)."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
