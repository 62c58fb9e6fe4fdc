"""The DuckDB warehouse: the analyst tables, written by this resource only.

DuckDB lets one process write a database file at a time, so every write opens the file, runs one
short transaction (delete the partition's rows, insert the new ones, commit) and closes it again;
between writes an analyst can open the file read-only. The assets that write hold the Dagster
pool `duckdb` (limit 1), so two runs never wait on each other's file lock.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field, PrivateAttr

from statmuse_pipelines.core.schemas import TABLES, VIEWS, Column, Table, View

log = logging.getLogger(__name__)

_DUCKDB_TYPES = {
    pl.String(): "VARCHAR",
    pl.Int64(): "BIGINT",
    pl.Int32(): "INTEGER",
    pl.Float64(): "DOUBLE",
    pl.Float32(): "FLOAT",
    pl.Boolean(): "BOOLEAN",
    pl.Date(): "DATE",
}


def column_type(column: Column) -> str:
    """The warehouse's SQL type of a column: its own (TIMESTAMPTZ, JSON) or its dtype's."""
    return column.sql or _DUCKDB_TYPES[column.dtype]


# a stored column of the first type brought to the declared second one (older warehouses kept
# timestamps and JSON as text): nothing is lost, text that is not JSON is kept as a JSON string
_MIGRATIONS = {
    ("VARCHAR", "TIMESTAMPTZ"): 'CAST("{c}" AS TIMESTAMPTZ)',
    (
        "VARCHAR",
        "JSON",
    ): 'CASE WHEN json_valid("{c}") THEN CAST("{c}" AS JSON) ELSE to_json("{c}") END',
}


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse file."""


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse ($STATMUSE_HOME/warehouse.duckdb) and the copy analysts open.

    DuckDB locks a database file for the whole life of a connection, a read-only one included:
    an analyst's session left open on the warehouse would make every write wait and fail. So
    the warehouse is checkpointed after each write and copied to `published_path`, written
    beside it and renamed into place: an analyst connected to the published file keeps the
    copy he opened (his open file is not the one renamed over), the next connection sees the
    new one, and no write ever waits for him. Within a Dagster step the copy is made once, when
    the step's resources are torn down (a step writes several tables; a copy of the demo's
    96 MB file takes ~60 ms); a write outside a run (the command line, a sensor) copies at once."""

    path: str = Field(description="DuckDB database file the pipeline writes")
    published_path: str | None = Field(
        default=None,
        description="read-only copy for analysts, replaced (copied aside, then renamed) after "
        "each write; none when empty",
    )
    lock_timeout_seconds: float = Field(
        default=30.0, description="how long to wait for another process to release the file"
    )
    _in_step: bool = PrivateAttr(default=False)
    _unpublished: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_step = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._unpublished:
            self.publish()
        self._in_step = False

    def _written(self) -> None:
        """After a committed write: publish now, or once at the end of the step."""
        if self._in_step:
            self._unpublished = True
        else:
            self.publish()

    def publish(self) -> None:
        """Replace the published copy with the warehouse as it is now (after a checkpoint)."""
        if not self.published_path or not Path(self.path).exists():
            return
        target = Path(self.published_path)
        aside = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path, aside)
        os.replace(aside, target)
        self._unpublished = False

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only)
                con.execute("SET TimeZone = 'UTC'")  # timestamps read and written as UTC
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"cannot open {self.path}: {exc}. Another process (an analyst's duckdb "
                        "session?) holds it; close it and re-run: nothing was written."
                    ) from exc
                time.sleep(0.5)

    @staticmethod
    def _ensure_table(con: duckdb.DuckDBPyConnection, table: Table, comments: bool = True) -> None:
        """Create `table`, or bring a stored one up to date: columns added since, types changed
        since (text to TIMESTAMPTZ / JSON); then its comments."""
        cols = ", ".join(f'"{c.name}" {column_type(c)}' for c in table.columns)
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols})')
        present = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ?",
                [table.name],
            ).fetchall()
        )
        for c in table.columns:
            declared = column_type(c)
            if c.name not in present:  # a column added since the table was created
                con.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{c.name}" {declared}')
            elif (present[c.name], declared) in _MIGRATIONS:  # text stored before the types
                cast = _MIGRATIONS[(present[c.name], declared)].format(c=c.name)
                con.execute(
                    f'ALTER TABLE "{table.name}" ALTER COLUMN "{c.name}" TYPE {declared} '
                    f"USING ({cast})"
                )
            # any other difference is left as stored: inserts cast to the stored type
        if not comments:
            return
        con.execute(f'COMMENT ON TABLE "{table.name}" IS {_sql_string(table.doc)}')
        for c in table.columns:
            con.execute(f'COMMENT ON COLUMN "{table.name}"."{c.name}" IS {_sql_string(c.doc)}')

    @contextmanager
    def _transaction(
        self, table: Table, frame: pl.DataFrame
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Begin; make sure `table` exists; expose `frame` as `incoming`; commit or roll back."""
        con = self._connect()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                self._ensure_table(con, table)
                _register_incoming(con, table, frame)
                yield con
                con.execute("DROP VIEW incoming")
                con.unregister("incoming_frame")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            _after_commit(con)
        finally:
            con.close()
        self._written()

    def replace_days(
        self,
        table: Table,
        frame: pl.DataFrame,
        days: Sequence[date],
        date_column: str = "game_date",
    ) -> int:
        """Replace the rows of the (consecutive) `days` with `frame`; returns rows inserted."""
        frame = table.conform(frame)
        with self._transaction(table, frame) as con:
            con.execute(
                f'DELETE FROM "{table.name}" WHERE "{date_column}" BETWEEN ? AND ?',
                [min(days), max(days)],
            )
            con.execute(f'INSERT INTO "{table.name}" BY NAME SELECT * FROM incoming')
        return frame.height

    def replace_where(self, table: Table, frame: pl.DataFrame, where: str, params: list) -> int:
        """Delete the rows matching `where`, insert `frame`, in one transaction."""
        frame = table.conform(frame)
        with self._transaction(table, frame) as con:
            con.execute(f'DELETE FROM "{table.name}" WHERE {where}', params)
            con.execute(f'INSERT INTO "{table.name}" BY NAME SELECT * FROM incoming')
        return frame.height

    def upsert(
        self, table: Table, frame: pl.DataFrame, also: Sequence[tuple[str, list]] = ()
    ) -> int:
        """Replace the rows whose key is in `frame`, then run `also` (SQL, params), atomically."""
        frame = table.conform(frame)
        keys = ", ".join(f'"{k}"' for k in table.key)
        with self._transaction(table, frame) as con:
            con.execute(
                f'DELETE FROM "{table.name}" WHERE ({keys}) IN (SELECT {keys} FROM incoming)'
            )
            con.execute(f'INSERT INTO "{table.name}" BY NAME SELECT * FROM incoming')
            for sql, params in also:
                con.execute(sql, params)
        return frame.height

    def execute(self, statements: Sequence[tuple[str, list]], tables: Sequence[Table] = ()) -> None:
        """Run (SQL, params) statements in one transaction, creating `tables` first if needed."""
        con = self._connect()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                for table in tables:
                    self._ensure_table(con, table)
                for sql, params in statements:
                    con.execute(sql, params)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            _after_commit(con)
        finally:
            con.close()
        self._written()

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run a read-only query."""
        if not Path(self.path).exists():
            raise FileNotFoundError(f"no warehouse at {self.path} yet: run `statmuse demo` first")
        con = self._connect(read_only=True)
        try:
            return con.sql(sql, params=params or None).pl()
        finally:
            con.close()

    def ensure_tables(self, tables: Sequence[Table]) -> list[str]:
        """Create, empty and with their comments, the `tables` that do not exist yet (so an
        analyst's first query finds every table, drift and alerts included, before any row is
        in it), and the views (`VIEWS`) when one is missing or out of date. A look with a
        read-only connection first: nothing is written when all is there. Returns the names
        created."""
        # a courtesy, not a write the command needs: when another process holds the file it
        # is skipped at once (the tables appear with the first write), never waited for
        quick = self.model_copy(update={"lock_timeout_seconds": 0.0})
        try:
            present: set[str] = set()
            views_current = False
            if Path(self.path).exists():
                con = quick._connect(read_only=True)
                try:
                    present = {r[0] for r in con.execute(_TABLE_NAMES).fetchall()}
                    views_current = not _stale_views(con)
                finally:
                    con.close()
            missing = [t for t in tables if t.name not in present]
            if missing or not views_current:
                quick.execute([], tables=missing)  # a write brings the views up to date too
        except WarehouseBusyError:
            return []
        return [t.name for t in missing]

    def table_exists(self, name: str) -> bool:
        if not Path(self.path).exists():
            return False
        found = self.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [name]
        )
        return bool(found["n"][0])


def _register_incoming(con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
    """Expose `frame` as the view `incoming`, its text timestamps and JSON cast to the table's
    types (so keys compare with the stored columns)."""
    con.register("incoming_frame", frame.to_arrow())
    casts = ", ".join(f'CAST("{c.name}" AS {c.sql}) AS "{c.name}"' for c in table.columns if c.sql)
    replace = f" REPLACE ({casts})" if casts else ""
    con.execute(f"CREATE TEMP VIEW incoming AS SELECT *{replace} FROM incoming_frame")


_TABLE_NAMES = "SELECT table_name FROM information_schema.tables WHERE table_type <> 'VIEW'"
_STORED_VIEWS = "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"


@functools.cache
def view_definitions() -> dict[str, str]:
    """Each view's definition as DuckDB stores it (`duckdb_views().sql`, normalized), made on
    an empty in-memory copy of the tables: what a stored view is compared with."""
    con = duckdb.connect()
    try:
        for table in TABLES.values():
            WarehouseResource._ensure_table(con, table, comments=False)
        for view in VIEWS.values():
            con.execute(f'CREATE VIEW "{view.name}" AS {view.select}')
        return dict(con.execute(_STORED_VIEWS).fetchall())
    finally:
        con.close()


def _stale_views(con: duckdb.DuckDBPyConnection) -> list[View]:
    stored = dict(con.execute(_STORED_VIEWS).fetchall())
    expected = view_definitions()
    return [v for v in VIEWS.values() if stored.get(v.name) != expected[v.name]]


@contextmanager
def _own_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _outdated_tables(con: duckdb.DuckDBPyConnection, views: Sequence[View]) -> list[Table]:
    """The declared tables stored with a column missing or still text where a type is declared
    (older warehouses), and those `views` read that do not exist yet: one look at the catalog."""
    stored: dict[str, dict[str, str]] = {}
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
    ).fetchall():
        stored.setdefault(table, {})[column] = kind
    needed = {t for view in views for t in view.tables}
    return [
        table
        for table in TABLES.values()
        if (table.name not in stored and table.name in needed)
        or (
            table.name in stored
            and any(
                c.name not in stored[table.name]
                or (stored[table.name][c.name], column_type(c)) in _MIGRATIONS
                for c in table.columns
            )
        )
    ]


def _after_commit(con: duckdb.DuckDBPyConnection) -> None:
    """What follows a write's commit: the views (`_ensure_views`), and a checkpoint so the file
    alone holds the rows (it can be copied). The rows are committed: a failure here is logged,
    never raised, or the caller would undo its lake files while the warehouse kept the rows."""
    try:
        _ensure_views(con)
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        log.warning(f"warehouse: rows committed, but what follows the commit failed: {exc}")


def _ensure_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """After a write's commit: create or replace the views that are missing or defined otherwise
    than in core/schemas, after bringing every declared table up to date (an older warehouse's
    text timestamps and JSON: it had no views, so its first write converts it whole). Once per
    warehouse and per change of a definition; otherwise one look at the catalog. Each step has
    a transaction of its own, and one that fails (a stored column of a type a view cannot read)
    is rolled back and logged as a warning: the rows are committed already, and a view is not
    worth refusing them. Returns those warnings."""
    stale = _stale_views(con)
    if not stale:
        return []
    notes = []
    for table in _outdated_tables(con, stale):
        try:
            with _own_transaction(con):
                WarehouseResource._ensure_table(con, table)
        except duckdb.Error as exc:
            notes.append(f"table {table.name} not brought up to date: {exc}")
    for view in stale:
        try:
            with _own_transaction(con):
                con.execute(f'CREATE OR REPLACE VIEW "{view.name}" AS {view.select}')
                con.execute(f'COMMENT ON VIEW "{view.name}" IS {_sql_string(view.doc)}')
        except duckdb.Error as exc:
            notes.append(f"view {view.name} left as it was (or missing): {exc}")
    for note in notes:
        log.warning("warehouse: %s", note)
    return notes
