"""The event store's recorders: a command's other rows commit with its events.

A command writes more than events: the complaint's data key (on first
sealing), its work-queue row and, with an `Idempotency-Key`, the answer to
replay. Written in separate transactions, a crash between them left events
without a stored answer (a retry ran the command again) or a key claim
without events. These recorders are the eventsourcing library's own, with
its insert hooks (`_insert_events`, which its process recorders use for
tracking records, and on PostgreSQL `_insert_stored_events`, to come after
the events) extended to execute the rows passed to
`Application.save(..., rows=[...])` on the events' connection, so everything
commits together or not at all.

The statements are compiled for the recorder's driver (sqlite3 or psycopg);
the event store and the service's SQLAlchemy engine share one database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from services.kernel.database import Row

SQLITE = sqlite.dialect()
POSTGRES = postgresql.psycopg.dialect()


@dataclass(frozen=True)
class _Template:
    compiled: SQLCompiler
    sql: str
    processors: dict[str, Callable[[Any], Any]]
    positions: tuple[str, ...] | None


_templates: dict[tuple[int, str], _Template] = {}


def _template(row: Row, dialect: Dialect) -> _Template:
    cache_key = (id(row.statement), dialect.name)
    template = _templates.get(cache_key)
    if template is None:
        compiled = cast(SQLCompiler, row.statement.compile(dialect=dialect))  # type: ignore[attr-defined]
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        template = _Template(compiled, str(compiled), processors, positions)
        _templates[cache_key] = template
    return template


def driver_statement(row: Row, dialect: Dialect) -> tuple[str, Any]:
    """SQL text and parameters for the dialect's DB-API driver, values converted.

    Rows are fixed templates with new values, so each template is compiled
    once per dialect (compiling costs more than the insert itself).
    """
    template = _template(row, dialect)
    params = dict(template.compiled.construct_params(row.params) or {})
    for name, process in template.processors.items():
        if name in params:
            params[name] = process(params[name])
    if template.positions is not None:  # sqlite3: qmark, in order
        return template.sql, tuple(params[name] for name in template.positions)
    return template.sql, params


def _rows(kwargs: dict[str, Any]) -> Sequence[Row]:
    rows: Sequence[Row] = kwargs.get("rows") or ()
    return rows


class SQLiteComplaintsRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that writes a command's rows with its events."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Rows first: each is a write, so the first statement takes the write lock
        # (queuing on the busy timeout) rather than reading from a stale snapshot.
        for row in _rows(kwargs):
            c.execute(*driver_statement(row, SQLITE))
        return super()._insert_events(c, stored_events, **kwargs)


class PostgresComplaintsRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that writes a command's rows with its events."""

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        if not stored_events:  # Rows alone (an answer to a command that recorded nothing).
            _execute(curs, _rows(kwargs))

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Called once the events' statements are synced without error, still in
        # their transaction and under the event table's lock, so no row waits on a
        # writer who needs the lock. Rows are not queued in the events' pipeline
        # segment: a lost race (the events' unique violation) would leave them
        # aborted there, and psycopg then raised PipelineAborted on leaving the
        # pipeline (a 500) after statements it had prepared were skipped.
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        rows = _rows(kwargs)
        if rows:
            connection = curs.connection
            # A nested pipeline syncs on exit: a row that fails (a key answered
            # already) raises its IntegrityError here, inside the library's guard.
            with connection.pipeline(), connection.cursor() as extra:
                _execute(extra, rows)
        return notification_ids


def _execute(curs: Cursor[DictRow], rows: Sequence[Row]) -> None:
    for row in rows:
        # Never prepared: a prepared statement whose Parse an earlier error skipped
        # in the pipeline would be missing for the connection's next transaction.
        curs.execute(*driver_statement(row, POSTGRES), prepare=False)
