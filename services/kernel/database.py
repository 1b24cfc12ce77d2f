"""SQLAlchemy engines for SQLite (the default) and PostgreSQL.

Each service owns one database, named by one URL. SQLite runs in WAL mode
with a busy timeout so a web worker and a background task can share a file;
PostgreSQL URLs are driven by psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import Executable


def sqlalchemy_url(url: str) -> str:
    """Map a plain `postgresql://` URL onto the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Whether the URL names an SQLite database."""
    return make_url(url).drivername.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("An SQLite database must be a file, one per service.")
    return Path(database)


def create_database_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, tuned for its backend."""
    if is_sqlite(url):
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            sqlalchemy_url(url),
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, record: Any) -> None:
            # Let pysqlite open no implicit transactions; SQLAlchemy emits BEGIN itself
            # so that the whole unit of work is one transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (destroyed data keys) are overwritten, not left in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()
            record.info["synchronous"] = "FULL"

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # A read (see `reading`): no transaction, no lock.
            # Pooled connections move between kinds of writes: each connection's
            # setting is remembered, and changed only when this write needs another.
            synchronous = "NORMAL" if options.get(_REPLAYABLE) else "FULL"
            if conn.info.get("synchronous") != synchronous:
                conn.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
                conn.info["synchronous"] = synchronous
            # IMMEDIATE takes the write lock up front, so two writers queue on the
            # busy timeout instead of failing with "database is locked" mid-transaction.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), **kwargs)


_REPLAYABLE = "replayable_writes"


def replayable(engine: Engine) -> Engine:
    """The engine for writes whose loss in a power cut is made good by doing them again.

    On SQLite such a transaction commits without waiting for the WAL's fsync
    (`synchronous=NORMAL`): a killed process still loses nothing, and a power
    cut can only roll the file back to an earlier commit, never corrupt it.
    An outbox message's result is such a write: lost, the message is sent
    again under the same delivery key, as after any crash mid-send. Every
    other write waits for its fsync (`FULL`). PostgreSQL is unchanged.
    """
    return engine.execution_options(**{_REPLAYABLE: True})


def reading(engine: Engine) -> Connection:
    """A connection for reads: `engine.begin()` is for writes.

    Reads run without a transaction, so on SQLite they never take the write
    lock that every write transaction takes up front; the tables read are
    append-only or read one row at a time, so no read needs a snapshot.
    """
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


class Row(NamedTuple):
    """A statement and its parameters, to run inside another writer's transaction.

    The statement is a fixed template (its values are bind parameters named
    after the columns), so whoever runs it can compile it once and reuse it.
    """

    statement: Executable
    params: dict[str, Any]

    def run(self, conn: Connection) -> None:
        """Execute on a SQLAlchemy connection."""
        conn.execute(self.statement, self.params)
