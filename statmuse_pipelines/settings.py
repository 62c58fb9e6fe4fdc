"""Run configuration from the environment, read when definitions are built (never at import).

| variable            | default          | meaning                                              |
|---------------------|------------------|------------------------------------------------------|
| STATMUSE_HOME       | ./data           | data root: lake/, warehouse.duckdb, dagster_home/     |
| STATMUSE_SOURCE     | synthetic        | synthetic, files or nba_api                          |
| STATMUSE_FILES_DIR  | (none)           | folder of nba_api exports for the files source       |
| STATMUSE_SEED       | 7                | seed of the synthetic league                         |
| STATMUSE_SEASONS    | 3                | synthetic seasons, the last one being today's        |
| STATMUSE_TODAY      | today (New York) | the synthetic league's "today" (ISO date), for tests |
| STATMUSE_LINES      | (by source)      | `synthetic` (the synthetic league's simulated book, the |
|                     |                  | default there), a file/folder of sportsbook lines, or |
|                     |                  | `proxy` (the default for files and nba_api)           |
| STATMUSE_BOOK_ERROR | 0.12             | the simulated book's error, in standard deviations    |
| STATMUSE_PACE_CHANGE| (none)           | DATE:FACTOR, a synthetic regime change (drift tests)  |
| STATMUSE_RETRAIN_AFTER_DAYS | 14     | new game days after a model's data that retrain it    |
| STATMUSE_NBA_API_PROXY | (none)    | proxy URL for stats.nba.com (read as an EnvVar)       |
| STATMUSE_NBA_API_HEADERS | (none)  | JSON request headers for stats.nba.com (an EnvVar)   |
| STATMUSE_ALERT_WEBHOOK | (none)    | URL alerts are POSTed to (read as an EnvVar)          |
| STATMUSE_ALERT_SECRET | (none)     | key that signs each alert (an EnvVar)                 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

SOURCES = ("synthetic", "files", "nba_api")
LEAGUE_TZ = ZoneInfo("America/New_York")


# Set for every Dagster process the project starts (CLI runs, `statmuse ui`): a single-run
# backfill records one "planned" event per asset and run instead of one per partition (1,370
# events fewer a season: a season's backfill took 25.1 s instead of 33.8 s). The
# trade-off Dagster documents: when such a run fails, its partitions show as missing, not failed
# (the run itself still shows failed). And the per-partition materializations of one output are
# handed to the event log in batches of up to 500 (PostgreSQL writes a batch at once; the local
# homes' SQLite event log, statmuse_pipelines/event_log.py, in one transaction per file).
DAGSTER_ENVIRONMENT = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    "DAGSTER_EVENT_BATCH_SIZE": "500",
}


def apply_dagster_environment() -> None:
    """Put DAGSTER_ENVIRONMENT into this process's environment (what is set already stays)."""
    for name, value in DAGSTER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def environment() -> dict[str, str]:
    """This process's environment variables (a copy): the one place the project reads them."""
    return dict(os.environ)


def export_environment(values: dict[str, str]) -> None:
    """Set variables in this process's environment, for what reads them later in this process
    (Dagster reads DAGSTER_HOME; the resources' EnvVars read the STATMUSE_ variables)."""
    os.environ.update(values)


class SettingsError(ValueError):
    """A configuration value that cannot be used, naming the variable."""


def league_today() -> date:
    """Today's date on the league's calendar (US Eastern)."""
    return datetime.now(LEAGUE_TZ).date()


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str = "synthetic"
    files_dir: Path | None = None
    seed: int = 7
    seasons: int = 3
    today: date | None = None
    lines: str | None = None  # None: `synthetic` for the synthetic source, else `proxy`
    pace_change: tuple[date, float] | None = None
    book_error: float = 0.12
    retrain_after_days: int = 14  # new game days after a model's data that ask for a retrain
    # STATMUSE_NBA_API_PROXY / STATMUSE_NBA_API_HEADERS are set: the nba_api source reads them as
    # Dagster EnvVars, so the UI shows their names, never a proxy's password
    nba_api_proxy: bool = False
    nba_api_headers: bool = False
    alert_webhook: bool = False  # STATMUSE_ALERT_WEBHOOK / STATMUSE_ALERT_SECRET are set (EnvVars)
    alert_secret: bool = False
    # STATMUSE_FILES_DIR is set (the files source then names the folder as an EnvVar in the UI)
    files_dir_from_env: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise SettingsError(
                f"STATMUSE_SOURCE={self.source!r} is not one of {', '.join(SOURCES)}"
            )
        if self.source == "files" and self.files_dir is None:
            raise SettingsError("STATMUSE_SOURCE=files needs STATMUSE_FILES_DIR (a folder)")
        if self.seasons < 1:
            raise SettingsError(f"STATMUSE_SEASONS must be at least 1, got {self.seasons}")
        if self.lines is None:
            object.__setattr__(
                self, "lines", "synthetic" if self.source == "synthetic" else "proxy"
            )
        if self.lines == "synthetic" and self.source != "synthetic":
            raise SettingsError(
                f"STATMUSE_LINES=synthetic is the synthetic league's book; the {self.source} "
                "source needs a file/folder of sportsbook lines, or proxy"
            )
        if self.retrain_after_days < 1:
            raise SettingsError(
                f"STATMUSE_RETRAIN_AFTER_DAYS must be at least 1, got {self.retrain_after_days}"
            )
        if not (0 <= self.book_error < 10):
            raise SettingsError(
                f"STATMUSE_BOOK_ERROR must be a number from 0 to 10, got {self.book_error}"
            )

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def analyst_path(self) -> Path:
        """The read-only copy analysts open: replaced after every write, never locked by one."""
        return self.home / "analyst.duckdb"

    @property
    def dagster_home(self) -> Path:
        return (
            Path(os.environ["DAGSTER_HOME"])
            if os.environ.get("DAGSTER_HOME")
            else (self.home / "dagster_home")
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("STATMUSE_HOME") or "data").expanduser().resolve()
        files_dir = env.get("STATMUSE_FILES_DIR")
        return cls(
            home=home,
            source=(env.get("STATMUSE_SOURCE") or "synthetic").strip().lower(),
            files_dir=Path(files_dir).expanduser().resolve() if files_dir else None,
            seed=_int(env, "STATMUSE_SEED", 7),
            seasons=_int(env, "STATMUSE_SEASONS", 3),
            today=_date(env, "STATMUSE_TODAY"),
            lines=_lines(env.get("STATMUSE_LINES")),
            pace_change=_pace_change(env.get("STATMUSE_PACE_CHANGE")),
            book_error=_float(env, "STATMUSE_BOOK_ERROR", 0.12),
            retrain_after_days=_int(env, "STATMUSE_RETRAIN_AFTER_DAYS", 14),
            nba_api_proxy=bool(env.get("STATMUSE_NBA_API_PROXY")),
            nba_api_headers=bool(env.get("STATMUSE_NBA_API_HEADERS")),
            alert_webhook=bool(env.get("STATMUSE_ALERT_WEBHOOK")),
            alert_secret=bool(env.get("STATMUSE_ALERT_SECRET")),
            files_dir_from_env=bool(files_dir),
        )

    @classmethod
    def with_overrides(cls, **given: object) -> Settings:
        """Settings from the environment with `given` variables (a command line's options; None:
        not given) taking precedence, and exported, so resources built from them later in this
        process read the same values."""
        given = {name: str(value) for name, value in given.items() if value is not None}
        settings = cls.from_env({**environment(), **given})
        export_environment({**given, "STATMUSE_HOME": str(settings.home)})
        return settings


def _pace_change(raw: str | None) -> tuple[date, float] | None:
    if not raw:
        return None
    try:
        day, factor = raw.split(":")
        return date.fromisoformat(day), float(factor)
    except ValueError as exc:
        raise SettingsError(
            f"STATMUSE_PACE_CHANGE={raw!r} is not DATE:FACTOR, e.g. 2026-01-15:1.25"
        ) from exc


def _lines(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw.strip().lower() in ("proxy", "synthetic"):
        return raw.strip().lower()
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise SettingsError(
            f"STATMUSE_LINES={raw!r}: no such file or folder (or say 'synthetic' or 'proxy')"
        )
    return str(path)


def _float(env: dict[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number")


def _int(env: dict[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number")


def _number(env: dict[str, str], name: str, default, kind: type, what: str):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not {what}") from exc


def _date(env: dict[str, str], name: str) -> date | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a date like 2026-11-22") from exc
