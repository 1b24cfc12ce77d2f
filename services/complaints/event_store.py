"""Where the complaints' event store lives: the eventsourcing settings for a database URL.

The same URL the service's other tables use names the event store's
database (an SQLite file or a PostgreSQL database); the recorders are this
service's own (services.complaints.recorders), which write a command's
other rows in the events' transaction.
"""

from __future__ import annotations

from eventsourcing.utils import get_topic
from sqlalchemy.engine import make_url

from services.complaints.recorders import PostgresComplaintsRecorder, SQLiteComplaintsRecorder


def event_store_env(database_url: str, lock_timeout_seconds: int = 5) -> dict[str, str]:
    """The eventsourcing environment for a database URL (SQLite file or PostgreSQL)."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(url.database),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteComplaintsRecorder),
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(url.database),
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        # Writers queue on the event table lock for at most this long, then fail
        # cleanly instead of piling up behind a stuck transaction.
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout_seconds),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y",
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresComplaintsRecorder),
    }
