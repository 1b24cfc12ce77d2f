"""Word that new events were recorded, so that nothing has to poll for them.

Writes in this process ring the bell at once (the application's recorded
listeners call `ring`). Writes by other replicas arrive through PostgreSQL:
the event store sends `NOTIFY` on its events table's channel in every
transaction that records events, and a listener thread here `LISTEN`s on a
connection of its own and rings on each notification. SQLite has no such
channel, so there only this process's writes ring; waiters always pass a
fallback timeout, which also covers a dropped connection or a lost
notification.

Waiters compare generations: a ring between two waits is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from services.kernel.backoff import Backoff

log = logging.getLogger("services.complaints.arrivals")
# The event store's channel is named after its events table (eventsourcing's postgres module).
EVENTS_CHANNEL = "complaints_events"
RECONNECT = Backoff(base=0.5, maximum=30.0)


class Arrivals:
    """A bell rung for each recorded write; asyncio code waits on it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()
        self._generation = 0
        self._guard = threading.Lock()
        self._listener: _Listener | None = None

    @property
    def generation(self) -> int:
        """How many rings so far; pass it to `wait` to catch rings that come meanwhile."""
        return self._generation

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the serving loop, so that rings from other threads reach its waiters."""
        self._loop = loop

    def ring(self) -> None:
        """Note a new write; safe from any thread."""
        with self._guard:
            self._generation += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # The loop closed meanwhile.
                loop.call_soon_threadsafe(self._signal)

    def _signal(self) -> None:
        # Waiters hold the old event; swapping in a new one wakes them all at once.
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until a ring after generation `seen`, at most `timeout` s; True if one came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._generation <= seen:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            arrived = self._arrived
            # Checked again after taking the event: a ring in between sets this one later.
            if self._generation > seen:
                break
            with contextlib.suppress(TimeoutError):
                # A signal left over from an earlier ring may end this early: loop.
                await asyncio.wait_for(arrived.wait(), remaining)
        return True

    def listen(self, database_url: str) -> None:
        """On PostgreSQL, also ring for writes by other processes (a no-op on SQLite)."""
        url = make_url(database_url)
        if not url.drivername.startswith("postgres") or self._listener is not None:
            return
        conninfo = psycopg.conninfo.make_conninfo(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            dbname=url.database,
            user=url.username or "postgres",
            password=url.password or "",
            connect_timeout=5,
            application_name="complaints-arrivals",
        )
        self._listener = _Listener(conninfo, self.ring)
        self._listener.start()

    def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


class _Listener(threading.Thread):
    """`LISTEN` on the events channel; reconnects with backoff when the connection drops."""

    def __init__(self, conninfo: str, ring: Callable[[], None]) -> None:
        super().__init__(name="complaints-arrivals", daemon=True)
        self.conninfo = conninfo
        self.ring = ring
        self._stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
                    failures = 0
                    # Ring once on (re)connecting: writes while disconnected went unheard.
                    self.ring()
                    while not self._stopping.is_set():
                        # The timeout only lets the thread notice `stop`; no query is sent.
                        for _ in conn.notifies(timeout=1.0):
                            self.ring()
            except psycopg.Error as exc:
                failures += 1
                log.warning(
                    "event listener disconnected",
                    extra={"error_type": type(exc).__name__, "failures": failures},
                )
                self._stopping.wait(RECONNECT.delay(failures))

    def stop(self) -> None:
        """Ask the thread to end (within about a second) and wait for it."""
        self._stopping.set()
        self.join(timeout=5)
