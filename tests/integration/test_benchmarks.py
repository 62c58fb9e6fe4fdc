"""The benchmarks run (reduced) inside the suite so they cannot rot."""

import re
import runpy
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_ingest_benchmark_reduced(real_data, home, capsys, monkeypatch):
    monkeypatch.setattr(
        sys, "argv", ["ingest.py", "--reduced", "--plain-event-log", "--data", str(real_data)]
    )
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "ingest.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert "core path: 4,773 player-games" in out  # 2023-10-24..2023-11-23 of the real data
    ratio = re.search(r"ratio dagster/core: ([\d.]+)x", out)
    assert ratio and float(ratio.group(1)) > 0
    assert re.search(r"ratio plain/batched event log: [\d.]+x", out), out


def test_features_benchmark_reduced(real_data, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["features.py", "--reduced", "--data", str(real_data)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "features.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert "26,401 player-games" in out and "same numbers on 5,000 sampled rows" in out
    ratio = re.search(r"pandas takes ([\d.]+)x the time of polars", out)
    assert ratio and float(ratio.group(1)) > 0


def test_training_benchmark_reduced(real_data, capsys, monkeypatch):
    monkeypatch.setattr(
        sys, "argv", ["training.py", "--reduced", "--retrain", "--data", str(real_data)]
    )
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "training.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    row = re.search(r"  PTS\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+\w+ ([\d.]+)", out)
    assert row, out
    seconds, models, own, champion, pooled, naive = (float(g) for g in row.groups())
    # the pooled model and five candidates for each of the five players who can be champions
    contenders = int(re.search(r"candidates for (\d+) of 5 eligible", out).group(1))
    assert models == 1 + 5 * contenders and 1 <= contenders <= 5
    assert "pooled_tuning" in out and "player_candidates" in out
    assert seconds > 0 and 0 <= own <= 5
    assert all(0 < mae < 20 for mae in (champion, pooled, naive))
    assert "champion set beats the best naive baseline on" in out
    combo = re.search(r"  PR\s+([\d.]+)\s+0\s+\d+\s+([\d.]+)\s+([\d.]+)", out)
    assert combo and 0 < float(combo.group(2)) < 30, out  # nothing fitted: PTS + REB summed
    assert "the sum of its parts' models (PTS + REB): nothing fitted" in out
    retrain = re.search(r"retrain reusing the tuning: ([\d.]+)s, champion ([\d.]+)", out)
    assert retrain and 0 < float(retrain.group(2)) < 20, out


def test_daily_benchmark_reduced(real_data, home, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["daily.py", "--reduced", "--data", str(real_data)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "daily.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    for step in ("predict", "ingest", "grade", "total"):
        assert re.search(rf"  {step}\s+[\d.]+", out), step
    day = re.search(r"2024-03-15: (\d+) games, (\d+) players, (\d+) predictions, (\d+) graded", out)
    assert day and int(day.group(1)) > 0 and int(day.group(3)) > 0 and int(day.group(4)) > 0
