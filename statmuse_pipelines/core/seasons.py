"""Seasons, season ids and game types as NBA.com encodes them."""

from __future__ import annotations

from datetime import date, timedelta

# GAME_ID = "00" + type digit... : the first three characters give the game type.
GAME_TYPES: dict[str, str] = {
    "001": "Pre Season",
    "002": "Regular Season",
    "003": "All Star",
    "004": "Playoffs",
    "005": "PlayIn",
    "006": "NBA Cup Final",
}
# Game types that count: the regular season, the play-in and the playoffs. Preseason and All-Star
# games are exhibitions; the NBA Cup final does not count towards regular-season statistics.
KEPT_GAME_TYPES: tuple[str, ...] = ("002", "004", "005")


def season_label(start_year: int) -> str:
    """2023 -> '2023-24'."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def season_start_year_from_label(label: str) -> int:
    """'2023-24' -> 2023; raises ValueError naming the label otherwise."""
    head, _, tail = label.partition("-")
    if not (len(head) == 4 and head.isdigit() and len(tail) == 2 and tail.isdigit()):
        raise ValueError(f"not a season label like '2023-24': {label!r}")
    start = int(head)
    if (start + 1) % 100 != int(tail):
        raise ValueError(f"season label {label!r} does not span consecutive years")
    return start


def season_of_date(d: date) -> int:
    """The start year of the season a date belongs to (July 1 starts a new season year)."""
    return d.year if d.month >= 7 else d.year - 1


def season_bounds(start_year: int) -> tuple[date, date]:
    """The season year's window: July 1 of the start year to June 30 of the next."""
    return date(start_year, 7, 1), date(start_year + 1, 6, 30)


def date_range(start: date, end: date) -> list[date]:
    """Every date from start to end, both included."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
