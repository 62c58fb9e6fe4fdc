"""Shared fixtures: a small synthetic league, a throwaway data root, the real data folder."""

from __future__ import annotations

import os
import warnings
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("STATMUSE_REAL_DATA", REPO.parent / "shared" / "data" / "nba"))

# A fixed "today" early in the 2025-26 synthetic season: tests do not depend on the calendar.
TODAY = date(2025, 11, 15)


def pytest_configure(config: pytest.Config) -> None:
    import dagster as dg

    from statmuse_pipelines.settings import apply_dagster_environment

    apply_dagster_environment()  # as the CLI runs Dagster

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/nba; skipped when absent, except in CI (STATMUSE_REQUIRE_REAL_DATA=1)."""
    if not (REAL_DATA / "player_game_logs").is_dir():
        reason = f"real NBA data not found at {REAL_DATA} (set STATMUSE_REAL_DATA to its folder)"
        if os.environ.get("STATMUSE_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + "; CI requires it")
        pytest.skip(reason)
    return REAL_DATA


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh STATMUSE_HOME (and DAGSTER_HOME under it) for one test."""
    root = tmp_path / "home"
    (root / "dagster_home").mkdir(parents=True)
    monkeypatch.setenv("STATMUSE_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    for name in ("STATMUSE_SOURCE", "STATMUSE_FILES_DIR", "STATMUSE_SEED", "STATMUSE_SEASONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATMUSE_TODAY", TODAY.isoformat())
    return root
