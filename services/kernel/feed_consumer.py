"""The feed consumer shared by every downstream service: exactly-once effects.

A consumer pages through the complaints service's feed
(`GET /v1/events?after=&limit=&wait=`) and hands each page to its service's
handler inside one database transaction that also moves the consumer's
position forward. The position is moved by compare-and-set, so a page is
applied at most once even if two processes ever believe they are the active
consumer; a crash anywhere replays from the last committed position. Only the
holder of the consumer's lease reads the feed; other replicas stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import prometheus_client
import sqlalchemy
from prometheus_client import Counter, Gauge
from sqlalchemy import BigInteger, Column, MetaData, String, Table, select, update
from sqlalchemy.exc import IntegrityError

from services.kernel.auth import AuthSettings, Role, mint_token
from services.kernel.backoff import Backoff
from services.kernel.database import reading
from services.kernel.lease import Lease
from services.kernel.observability import request_id_var

log = logging.getLogger("services.feed")

metadata = MetaData()

feed_positions = Table(
    "feed_positions",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

FeedHandler = Callable[[sqlalchemy.Connection, list[dict[str, Any]]], None]

# Backoff after failures: 0.5 s doubling to 30 s, each delay drawn from its upper half.
DEFAULT_BACKOFF = Backoff(base=0.5, maximum=30.0)


class FeedError(RuntimeError):
    """The feed answered something the contract does not allow."""


class PositionConflict(RuntimeError):
    """Another consumer committed a position first: this page is not applied."""


class FeedConsumer:
    """Applies the feed page by page, each page and its new position in one transaction."""

    def __init__(
        self,
        *,
        name: str,
        engine: sqlalchemy.Engine,
        feed_url: str,
        token: Callable[[], str],
        handler: FeedHandler,
        page_size: int = 200,
        wait_seconds: float = 10.0,
        lease_ttl: float = 10.0,
        metrics: prometheus_client.CollectorRegistry | None = None,
        transport: httpx.BaseTransport | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        """Create the position table if needed; `transport` lets tests stand in for HTTP."""
        self.name = name
        self.backoff = backoff
        self.engine = engine
        self.feed_url = feed_url.rstrip("/")
        self.token = token
        self.handler = handler
        self.page_size = page_size
        # The long-poll must end well before the lease expires, or a standby takes over
        # while this consumer waits; the position check would then refuse its page.
        self.wait_seconds = min(wait_seconds, lease_ttl / 2)
        self.lease = Lease(engine, f"feed-consumer:{name}", lease_ttl)
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.wait_seconds + 10.0, connect=5.0), transport=transport
        )
        self._head: int | None = None
        self._standing_by = False
        self._stop = threading.Event()
        registry = metrics if metrics is not None else prometheus_client.CollectorRegistry()
        self._lag_gauge = Gauge(
            "feed_lag_events", "Feed positions not yet applied.", registry=registry
        )
        self._position_gauge = Gauge(
            "feed_position", "Last feed position applied.", registry=registry
        )
        self._applied = Counter(
            "feed_items_applied_total", "Feed items applied.", registry=registry
        )
        self._errors = Counter(
            "feed_errors_total", "Failed attempts to read or apply a feed page.", registry=registry
        )
        metadata.create_all(engine, checkfirst=True)
        self._ensure_position_row()

    def _ensure_position_row(self) -> None:
        try:
            with self.engine.begin() as conn:
                found = conn.execute(
                    select(feed_positions.c.position).where(feed_positions.c.name == self.name)
                ).first()
                if found is None:
                    conn.execute(feed_positions.insert().values(name=self.name, position=0))
        except IntegrityError:
            pass  # A replica starting at the same moment inserted it.

    @property
    def position(self) -> int:
        """The last position committed to the database."""
        with reading(self.engine) as conn:
            value = conn.execute(
                select(feed_positions.c.position).where(feed_positions.c.name == self.name)
            ).scalar_one()
        return int(value)

    @property
    def lag(self) -> int | None:
        """Positions behind the feed's head at its last answer; None before any answer."""
        if self._head is None:
            return None
        return max(0, self._head - self.position)

    @property
    def standing_by(self) -> bool:
        """Whether another process held the lease at the last attempt."""
        return self._standing_by

    def run_once(self) -> int:
        """Fetch one page (long-polling) and apply it; return the number of items applied.

        Returns 0 without reading the feed while another process holds the lease.
        Raises on HTTP errors, contract violations and a lost compare-and-set, in
        which case nothing of the page is committed.
        """
        if not self.lease.acquire():
            self._standing_by = True
            return 0
        self._standing_by = False
        after = self.position
        request_id = request_id_var.get() or uuid.uuid4().hex
        context = request_id_var.set(request_id)
        try:
            page = self._fetch(after, request_id)
            items = page["items"]
            last = int(page["last_position"])
            self._head = max(int(page.get("head", last)), last)
            _check_order(after, last, items)
            if last > after:
                self._apply(after, last, items)
            self._observe(last)
            if items:
                log.info(
                    "feed page applied",
                    extra={"consumer": self.name, "items": len(items), "position": last},
                )
            return len(items)
        finally:
            request_id_var.reset(context)

    def _fetch(self, after: int, request_id: str) -> dict[str, Any]:
        response = self._client.get(
            f"{self.feed_url}/v1/events",
            params={"after": after, "limit": self.page_size, "wait": self.wait_seconds},
            headers={"Authorization": f"Bearer {self.token()}", "X-Request-ID": request_id},
        )
        response.raise_for_status()
        page: dict[str, Any] = response.json()
        if not isinstance(page.get("items"), list) or "last_position" not in page:
            raise FeedError("feed page lacks 'items' or 'last_position'")
        return page

    def _apply(self, after: int, last: int, items: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            if items:
                self.handler(conn, items)
            moved = conn.execute(
                update(feed_positions)
                .where(feed_positions.c.name == self.name, feed_positions.c.position == after)
                .values(position=last)
            )
            if moved.rowcount != 1:
                # Raising rolls the handler's effects back with the position.
                raise PositionConflict(
                    f"feed position of {self.name!r} moved past {after} elsewhere"
                )
        self._applied.inc(len(items))

    def _observe(self, position: int) -> None:
        self._position_gauge.set(position)
        if self._head is not None:
            self._lag_gauge.set(max(0, self._head - position))

    async def run(self) -> None:
        """Consume until cancelled: back off with jitter on errors, stand by without the lease."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    await self._page_in_thread()
                except Exception as exc:
                    failures += 1
                    self._errors.inc()
                    # The type and status only: a message could quote feed content.
                    log.warning(
                        "feed page failed",
                        extra={
                            "consumer": self.name,
                            # Which peer failed; never the query (it could be long) or a token.
                            "url": f"{self.feed_url}/v1/events",
                            "error_type": type(exc).__name__,
                            "status": _status_of(exc),
                            "failures": failures,
                        },
                    )
                    await asyncio.sleep(self.backoff.delay(failures))
                    continue
                failures = 0
                if self._standing_by:
                    await asyncio.sleep(self.lease.ttl / 3)
        finally:
            self._stop.set()
            await asyncio.to_thread(self._release)

    async def _page_in_thread(self) -> None:
        work = asyncio.ensure_future(asyncio.to_thread(self.run_once))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: let its page finish (at most one long-poll)
            # so that it cannot renew the lease after the release below.
            self._stop.set()
            with contextlib.suppress(Exception):
                await work
            raise

    def _release(self) -> None:
        try:
            self.lease.release()
        except Exception as exc:  # Shutting down: the lease expires by itself anyway.
            log.warning("lease release failed", extra={"error_type": type(exc).__name__})

    def close(self) -> None:
        """Close the HTTP client."""
        self._stop.set()
        self._client.close()


def _check_order(after: int, last: int, items: list[dict[str, Any]]) -> None:
    """Refuse a page that is not strictly after `after`, in order, and within `last`."""
    previous = after
    for item in items:
        position = int(item["position"])
        if position <= previous:
            raise FeedError(f"feed item at {position} is not after {previous}")
        previous = position
    if last < previous:
        raise FeedError(f"last_position {last} is before the page's last item {previous}")


def _status_of(exc: Exception) -> int | None:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def feed_token_provider(service_prefix: str, auth: AuthSettings) -> Callable[[], str]:
    """The bearer token for the feed: `<SERVICE>_FEED_TOKEN`, or a self-minted service token.

    A minted token lives five minutes and is minted again a minute before it
    expires. Raises `ValueError` when neither the variable nor `AUTH_JWT_SECRET`
    is set.
    """
    prefix = service_prefix.upper().rstrip("_")
    variable = f"{prefix}_FEED_TOKEN"
    fixed = os.environ.get(variable, "").strip()
    if fixed:
        return lambda: fixed
    secrets = auth.secrets()
    if not secrets:
        raise ValueError(
            f"No feed token: set {variable}, or AUTH_JWT_SECRET so the service mints its own."
        )
    ttl, renew_before = 300, 60
    subject = f"{prefix.lower()}-feed-consumer"
    current: dict[str, Any] = {"token": "", "expires": 0.0}
    guard = threading.Lock()

    def provide() -> str:
        with guard:
            if time.time() >= current["expires"] - renew_before:
                current["token"] = mint_token(secrets[0], subject, [Role.SERVICE], ttl)
                current["expires"] = time.time() + ttl
            token: str = current["token"]
            return token

    return provide
