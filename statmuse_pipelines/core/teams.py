"""The 30 NBA franchises: ids, abbreviations, conference, arena location and time zone.

Arena coordinates and elevations are approximate (good to a few km / tens of metres); they feed
travel and altitude features, where that precision is plenty.
"""

from __future__ import annotations

import polars as pl

# team_id, abbreviation, full name, conference, division, latitude, longitude, tz, elevation (m)
# fmt: off
_TEAMS: list[tuple[int, str, str, str, str, float, float, str, int]] = [
    (1610612737, "ATL", "Atlanta Hawks", "East", "Southeast", 33.757, -84.396, "America/New_York", 320),
    (1610612738, "BOS", "Boston Celtics", "East", "Atlantic", 42.366, -71.062, "America/New_York", 10),
    (1610612739, "CLE", "Cleveland Cavaliers", "East", "Central", 41.496, -81.688, "America/New_York", 200),
    (1610612740, "NOP", "New Orleans Pelicans", "West", "Southwest", 29.949, -90.082, "America/Chicago", 2),
    (1610612741, "CHI", "Chicago Bulls", "East", "Central", 41.881, -87.674, "America/Chicago", 180),
    (1610612742, "DAL", "Dallas Mavericks", "West", "Southwest", 32.790, -96.810, "America/Chicago", 140),
    (1610612743, "DEN", "Denver Nuggets", "West", "Northwest", 39.749, -105.008, "America/Denver", 1609),
    (1610612744, "GSW", "Golden State Warriors", "West", "Pacific", 37.768, -122.388, "America/Los_Angeles", 5),
    (1610612745, "HOU", "Houston Rockets", "West", "Southwest", 29.751, -95.362, "America/Chicago", 15),
    (1610612746, "LAC", "LA Clippers", "West", "Pacific", 33.945, -118.341, "America/Los_Angeles", 30),
    (1610612747, "LAL", "Los Angeles Lakers", "West", "Pacific", 34.043, -118.267, "America/Los_Angeles", 90),
    (1610612748, "MIA", "Miami Heat", "East", "Southeast", 25.781, -80.188, "America/New_York", 2),
    (1610612749, "MIL", "Milwaukee Bucks", "East", "Central", 43.045, -87.917, "America/Chicago", 180),
    (1610612750, "MIN", "Minnesota Timberwolves", "West", "Northwest", 44.979, -93.276, "America/Chicago", 260),
    (1610612751, "BKN", "Brooklyn Nets", "East", "Atlantic", 40.683, -73.975, "America/New_York", 10),
    (1610612752, "NYK", "New York Knicks", "East", "Atlantic", 40.751, -73.993, "America/New_York", 10),
    (1610612753, "ORL", "Orlando Magic", "East", "Southeast", 28.539, -81.384, "America/New_York", 30),
    (1610612754, "IND", "Indiana Pacers", "East", "Central", 39.764, -86.155, "America/Indiana/Indianapolis", 220),
    (1610612755, "PHI", "Philadelphia 76ers", "East", "Atlantic", 39.901, -75.172, "America/New_York", 10),
    (1610612756, "PHX", "Phoenix Suns", "West", "Pacific", 33.446, -112.071, "America/Phoenix", 331),
    (1610612757, "POR", "Portland Trail Blazers", "West", "Northwest", 45.532, -122.667, "America/Los_Angeles", 15),
    (1610612758, "SAC", "Sacramento Kings", "West", "Pacific", 38.580, -121.500, "America/Los_Angeles", 9),
    (1610612759, "SAS", "San Antonio Spurs", "West", "Southwest", 29.427, -98.437, "America/Chicago", 200),
    (1610612760, "OKC", "Oklahoma City Thunder", "West", "Northwest", 35.463, -97.515, "America/Chicago", 370),
    (1610612761, "TOR", "Toronto Raptors", "East", "Atlantic", 43.643, -79.379, "America/Toronto", 76),
    (1610612762, "UTA", "Utah Jazz", "West", "Northwest", 40.768, -111.901, "America/Denver", 1288),
    (1610612763, "MEM", "Memphis Grizzlies", "West", "Southwest", 35.138, -90.051, "America/Chicago", 80),
    (1610612764, "WAS", "Washington Wizards", "East", "Southeast", 38.898, -77.021, "America/New_York", 20),
    (1610612765, "DET", "Detroit Pistons", "East", "Central", 42.341, -83.055, "America/Detroit", 180),
    (1610612766, "CHA", "Charlotte Hornets", "East", "Southeast", 35.225, -80.839, "America/New_York", 230),
]
# fmt: on

TEAM_COLUMNS = [
    "team_id",
    "team",
    "team_name",
    "conference",
    "division",
    "latitude",
    "longitude",
    "timezone",
    "elevation_m",
]


def teams() -> pl.DataFrame:
    """The 30 franchises as a frame (one row per team)."""
    return pl.DataFrame(_TEAMS, schema=TEAM_COLUMNS, orient="row").with_columns(
        pl.col("team_id").cast(pl.Int64), pl.col("elevation_m").cast(pl.Int32)
    )


TEAM_ID_BY_ABBREVIATION: dict[str, int] = {t[1]: t[0] for t in _TEAMS}
TEAM_NAME_BY_ID: dict[int, str] = {t[0]: t[2] for t in _TEAMS}
ABBREVIATION_BY_ID: dict[int, str] = {t[0]: t[1] for t in _TEAMS}
