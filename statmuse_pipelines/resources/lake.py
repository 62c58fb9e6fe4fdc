"""The parquet lake: the storage of record, one file per table per game date."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field


class MissingPartitionError(FileNotFoundError):
    """An upstream partition that has not been materialized yet."""


@dataclass
class StagedDays:
    """Lake files written under temporary names, not yet in place."""

    files: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    counts: dict[date, int] = field(default_factory=dict)

    def commit(self) -> None:
        for tmp, final in self.files:
            os.replace(tmp, final)

    def abort(self) -> None:
        for tmp, _ in self.files:
            tmp.unlink(missing_ok=True)


class CorruptPartitionError(OSError):
    """A lake file that cannot be read, with its name and what to do."""


def _unreadable(table: str, paths: Sequence[Path], exc: Exception) -> Exception:
    """The first of `paths` that does not read as parquet, named (else the error as it was)."""
    import pyarrow.parquet as pq

    for path in paths:
        try:
            pq.ParquetFile(path).metadata  # noqa: B018 (reading the footer is the test)
        except Exception as bad:
            day = path.stem.removeprefix("date=")
            return CorruptPartitionError(
                f"{table}: cannot read {path} ({type(bad).__name__}: {bad}); the file is damaged: "
                f"delete it and materialize {table} for {day} again"
            )
    return exc


class LakeResource(dg.ConfigurableResource):
    """Parquet files under `root`: <root>/<table>/date=YYYY-MM-DD.parquet, overwritten whole."""

    root: str = Field(description="lake folder, normally $STATMUSE_HOME/lake")

    def table_dir(self, table: str) -> Path:
        return Path(self.root) / table

    def reports_dir(self) -> Path:
        """$STATMUSE_HOME/reports: images and files for people."""
        return Path(self.root).parent / "reports"

    def path(self, table: str, day: date) -> Path:
        return Path(self.root) / table / f"date={day.isoformat()}.parquet"

    def write_days(
        self,
        table: str,
        frame: pl.DataFrame,
        days: Sequence[date],
        date_column: str,
    ) -> dict[date, int]:
        """Write one file per day of `days` (an empty file for a day without rows).

        Every file is written to a temporary name first and only then renamed over the old one,
        so a failure part-way leaves every existing partition as it was. Rows dated outside
        `days` are an error: a partition only ever holds its own date.
        """
        staged = self.stage_days(table, frame, days, date_column)
        staged.commit()
        return staged.counts

    def stage_days(
        self,
        table: str,
        frame: pl.DataFrame,
        days: Sequence[date],
        date_column: str,
    ) -> StagedDays:
        """`write_days` up to the renames: the new files under temporary names, to `commit()`
        (rename over the old ones) or `abort()` (delete) once the other store has its rows."""
        wanted = set(days)
        outside = frame.filter(~pl.col(date_column).is_in(sorted(wanted)))
        if outside.height:
            raise ValueError(
                f"{table}: {outside.height} rows dated outside the partitions being written, "
                f"first {outside[date_column][0]} (writing {min(wanted)}..{max(wanted)})"
            )
        parts = {
            key[0]: part for key, part in frame.partition_by(date_column, as_dict=True).items()
        }
        staged, jobs, empty = StagedDays(), [], []
        self.table_dir(table).mkdir(parents=True, exist_ok=True)
        for day in sorted(wanted):
            final = self.path(table, day)
            tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            staged.files.append((tmp, final))
            if day in parts:
                jobs.append((parts[day], tmp))
                staged.counts[day] = parts[day].height
            else:
                empty.append(tmp)
                staged.counts[day] = 0
        try:
            # two files at a time (polars writes with the GIL let go); a day without rows is a
            # copy of the one empty file (the same bytes): a third of a season's days have no
            # games, and each file written costs ~1.6 ms however small
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda job: job[0].write_parquet(job[1], statistics=True), jobs))
            if empty:
                frame.clear().write_parquet(empty[0], statistics=True)
                for tmp in empty[1:]:
                    shutil.copyfile(empty[0], tmp)
        except BaseException:
            staged.abort()
            raise
        return staged

    def require_days(self, table: str, days: Sequence[date]) -> list[Path]:
        """The files of `table` for `days`; a missing partition is an error that names it."""
        paths = [self.path(table, d) for d in sorted(days)]
        missing = [p for p in paths if not p.exists()]
        if missing:
            first = missing[0].stem.removeprefix("date=")
            raise MissingPartitionError(
                f"{table} has no partition for {first}"
                + (f" (and {len(missing) - 1} more days)" if len(missing) > 1 else "")
                + f": materialize {table} for those dates first"
            )
        return paths

    def read_days(
        self,
        table: str,
        days: Sequence[date],
        schema: dict[str, pl.DataType] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """The rows of `table` for `days` (some `columns`); a missing partition is an error."""
        paths = self.require_days(table, days)
        if not paths:
            empty = pl.DataFrame(schema=schema) if schema else pl.DataFrame()
            return empty.select(columns) if columns and schema else empty
        try:
            return pl.read_parquet(
                [str(p) for p in paths], columns=list(columns) if columns else None
            )
        except Exception as exc:
            raise _unreadable(table, paths, exc) from exc

    def stored_rows(self, table: str, days: Sequence[date]) -> dict[date, int]:
        """Rows stored per day of `days` that has a file (from the parquet footers, cheaply)."""
        import pyarrow.parquet as pq

        out = {}
        for day in days:
            path = self.path(table, day)
            if path.exists():
                out[day] = pq.ParquetFile(path).metadata.num_rows
        return out

    # --- the raw audit copies: the last accepted answer stays until a new one is accepted -----

    def keep_previous(self, table: str, days: Sequence[date]) -> None:
        """Before `days` of `table` are overwritten: copy the stored files to previous/."""
        folder = self.table_dir(table) / "previous"
        for day in days:
            path = self.path(table, day)
            if path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
                shutil.copy2(path, tmp)
                os.replace(tmp, folder / path.name)

    def accept(self, table: str, days: Sequence[date]) -> None:
        """The new files of `days` were accepted downstream: their previous copies go."""
        for day in days:
            (self.table_dir(table) / "previous" / self.path(table, day).name).unlink(
                missing_ok=True
            )

    def reject(self, table: str, days: Sequence[date]) -> list[date]:
        """The new files of `days` were rejected downstream: each moves to rejected/ (for a
        person to inspect) and its previous copy, where there is one, is put back. Returns the
        days restored."""
        restored = []
        for day in days:
            path = self.path(table, day)
            previous = self.table_dir(table) / "previous" / path.name
            if not path.exists() or not previous.exists():
                continue
            rejected = self.table_dir(table) / "rejected"
            rejected.mkdir(parents=True, exist_ok=True)
            os.replace(path, rejected / path.name)
            os.replace(previous, path)
            restored.append(day)
        return restored

    def modified(self, table: str) -> dict[date, float]:
        """When each stored day of `table` was last written (file modification time)."""
        folder = Path(self.root) / table
        if not folder.is_dir():
            return {}
        return {
            date.fromisoformat(p.stem.removeprefix("date=")): p.stat().st_mtime
            for p in folder.glob("date=*.parquet")
        }

    def stored_days(self, table: str) -> list[date]:
        """Every date that has a file for `table`."""
        folder = Path(self.root) / table
        if not folder.is_dir():
            return []
        return sorted(
            date.fromisoformat(p.stem.removeprefix("date=")) for p in folder.glob("date=*.parquet")
        )

    # --- training datasets: <root>/training_datasets/<TARGET>/<version>/ -----------------------

    def dataset_dir(self, target: str, version: str) -> Path:
        return Path(self.root) / "training_datasets" / target / version

    def read_manifest(self, target: str, version: str | None = None) -> dict | None:
        """A version's manifest, or the latest one's; None if there is none."""
        base = Path(self.root) / "training_datasets" / target
        path = base / version / "manifest.json" if version else base / "latest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def write_dataset(self, target: str, frames: dict[str, pl.DataFrame], manifest: dict) -> bool:
        """Write a dataset version (train/val/test.parquet + manifest.json) and mark it latest.

        The version folder is written under a temporary name and renamed into place, so a
        version folder is always complete. A version already on disk is left as it is (same
        version, same rows); returns True when it was written now.
        """
        final = self.dataset_dir(target, manifest["version"])
        written = False
        if not (final / "manifest.json").exists():
            tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            tmp.mkdir(parents=True)
            try:
                for split, frame in frames.items():
                    frame.write_parquet(tmp / f"{split}.parquet", compression="zstd")
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
                if final.exists():  # a folder left by an interrupted write, without a manifest
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            written = True
        latest = final.parent / "latest.json"
        tmp_latest = latest.with_name(f".latest.{uuid.uuid4().hex}.tmp")
        tmp_latest.write_text((final / "manifest.json").read_text())
        os.replace(tmp_latest, latest)
        return written

    def read_dataset(self, target: str, version: str | None = None) -> dict[str, pl.DataFrame]:
        manifest = self.read_manifest(target, version)
        if manifest is None:
            raise MissingPartitionError(
                f"no training dataset for {target}"
                + (f" version {version}" if version else "")
                + ": materialize training_datasets first"
            )
        folder = self.dataset_dir(target, manifest["version"])
        return {s: pl.read_parquet(folder / f"{s}.parquet") for s in ("train", "val", "test")}
