"""Create or bring up to date one service's tables, then exit: the deploy's schema step.

    python -m services.schema complaints|notifications|audit

Each service creates its missing tables when it starts (`checkfirst`), so
this step adds no other schema logic: it runs that same start-up once,
before any replica, under a PostgreSQL advisory lock, so replicas rolling
out together never race to create a table, and a failure stops the rollout
(the Kubernetes init container) instead of a half-started replica. Exit
status 0 when the schema is in place, 1 when it could not be.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence

from fastapi import FastAPI
from sqlalchemy import create_engine, text

from services.kernel.database import is_sqlite, sqlalchemy_url
from services.kernel.observability import configure_logging


def _complaints() -> tuple[str, Callable[[], FastAPI]]:
    from services.complaints.app import create_app
    from services.complaints.settings import ComplaintsSettings

    settings = ComplaintsSettings()
    return settings.database_url, lambda: create_app(settings)


def _notifications() -> tuple[str, Callable[[], FastAPI]]:
    from services.notifications.app import create_app
    from services.notifications.settings import NotificationsSettings

    settings = NotificationsSettings()
    return settings.database_url, lambda: create_app(settings)


def _audit() -> tuple[str, Callable[[], FastAPI]]:
    from services.audit.app import create_app
    from services.audit.settings import AuditSettings

    settings = AuditSettings()
    return settings.database_url, lambda: create_app(settings)


BUILDERS: dict[str, Callable[[], tuple[str, Callable[[], FastAPI]]]] = {
    "complaints": _complaints,
    "notifications": _notifications,
    "audit": _audit,
}


@contextlib.contextmanager
def schema_lock(url: str, service: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named after the service (nothing on SQLite)."""
    if is_sqlite(url):
        yield
        return
    key = zlib.crc32(f"schema:{service}".encode())
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Create the named service's schema; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.schema", description=__doc__)
    parser.add_argument("service", choices=sorted(BUILDERS))
    args = parser.parse_args(argv)
    configure_logging(f"{args.service}-schema")
    url, build = BUILDERS[args.service]()
    try:
        with schema_lock(url, args.service):
            build()  # creates every missing table, as a start would; the exit closes it
    except Exception as exc:  # one line, not a traceback: the init container's log is read
        print(f"ERROR: the {args.service} schema is not in place: {exc}", file=sys.stderr)
        return 1
    print(f"{args.service}: schema in place", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
