"""Tests of the shared feed consumer against a fake feed, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, select, update

from services.kernel import feed_consumer as module
from services.kernel.auth import AuthSettings
from services.kernel.backoff import Backoff
from services.kernel.database import create_database_engine
from services.kernel.feed_consumer import (
    DEFAULT_BACKOFF,
    FeedConsumer,
    FeedError,
    PositionConflict,
    feed_positions,
    feed_token_provider,
)
from tests.audit_helpers import feed_item
from tests.conftest import JWT_SECRET

effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("position", Integer, primary_key=True))


class FakeFeed:
    """The complaints feed contract, served from a list, with injectable trouble."""

    def __init__(self, positions: list[int], trailing: int | None = None) -> None:
        self.items = [feed_item(p) for p in positions]
        self.trailing = trailing  # A position past the last item (a snapshot, say).
        self.requests: list[httpx.Request] = []
        self.failures = 0
        self.before_answer: Callable[[], None] | None = None
        self.override: dict[str, Any] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            self.failures -= 1
            raise httpx.ConnectError("complaints service down", request=request)
        after = int(request.url.params["after"])
        limit = int(request.url.params["limit"])
        page = [item for item in self.items if item["position"] > after][:limit]
        head = max([after, *(i["position"] for i in self.items), self.trailing or 0])
        last = page[-1]["position"] if page else after
        if len(page) < limit and self.trailing and self.trailing > last:
            last = self.trailing
        if self.before_answer:
            self.before_answer()
        body = self.override or {"items": page, "last_position": last, "head": head}
        return httpx.Response(200, json=body)


@pytest.fixture
def engine(database_url: Callable[[str], str]) -> Iterator[Engine]:
    engine = create_database_engine(database_url("consumer"))
    effects_metadata.create_all(engine)
    yield engine
    engine.dispose()


def record(conn: Connection, items: list[dict[str, Any]]) -> None:
    conn.execute(effects.insert(), [{"position": item["position"]} for item in items])


def consumer(
    engine: Engine,
    feed: FakeFeed,
    handler: Callable[[Connection, list[dict[str, Any]]], None] = record,
    registry: CollectorRegistry | None = None,
    **kwargs: Any,
) -> FeedConsumer:
    return FeedConsumer(
        name="test",
        engine=engine,
        feed_url="http://complaints.invalid",
        token=lambda: "feed-token",
        handler=handler,
        metrics=registry,
        transport=httpx.MockTransport(feed.handle),
        **kwargs,
    )


def applied(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(effects.c.position).order_by(effects.c.position)).scalars())


def test_pages_are_applied_in_order_with_the_position(engine: Engine) -> None:
    feed = FakeFeed([1, 2, 5, 9, 10])
    worker = consumer(engine, feed, page_size=2)
    assert worker.lag is None
    assert [worker.run_once(), worker.position] == [2, 2]
    assert [worker.run_once(), worker.position] == [2, 9]
    assert [worker.run_once(), worker.position] == [1, 10]
    assert [worker.run_once(), worker.position] == [0, 10]
    assert applied(engine) == [1, 2, 5, 9, 10]
    assert [r.url.params["after"] for r in feed.requests] == ["0", "2", "9", "10"]
    assert worker.lag == 0


def test_positions_past_the_last_item_are_remembered(engine: Engine) -> None:
    feed = FakeFeed([3], trailing=7)
    worker = consumer(engine, feed)
    assert worker.run_once() == 1
    assert worker.position == 7
    assert worker.run_once() == 0
    assert feed.requests[-1].url.params["after"] == "7"


def test_a_new_consumer_resumes_from_the_committed_position(engine: Engine) -> None:
    feed = FakeFeed([1, 2, 3])
    consumer(engine, feed, page_size=2).run_once()
    again = consumer(engine, feed, page_size=2)
    assert again.run_once() == 0  # The first one died holding the lease...
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE leases SET expires_at = 0")  # ...which then expired.
    assert again.run_once() == 1
    assert applied(engine) == [1, 2, 3]


def test_a_failing_handler_commits_neither_effects_nor_position(engine: Engine) -> None:
    def half_then_fail(conn: Connection, items: list[dict[str, Any]]) -> None:
        record(conn, items[:1])
        raise RuntimeError("handler broke")

    worker = consumer(engine, FakeFeed([1, 2]), handler=half_then_fail)
    with pytest.raises(RuntimeError):
        worker.run_once()
    assert worker.position == 0
    assert applied(engine) == []


def test_a_consumer_that_lost_the_race_applies_nothing(engine: Engine) -> None:
    feed = FakeFeed([1, 2, 3])
    worker = consumer(engine, feed)

    def someone_else_commits() -> None:
        with engine.begin() as conn:
            conn.execute(update(feed_positions).values(position=2))

    feed.before_answer = someone_else_commits
    with pytest.raises(PositionConflict):
        worker.run_once()
    assert applied(engine) == []
    assert worker.position == 2


def test_a_second_consumer_stands_by_while_the_lease_is_held(engine: Engine) -> None:
    feed = FakeFeed([1, 2])
    active = consumer(engine, feed, page_size=1)
    standby = consumer(engine, feed, page_size=1)
    assert active.run_once() == 1
    requests = len(feed.requests)
    assert standby.run_once() == 0
    assert standby.standing_by
    assert len(feed.requests) == requests  # The standby never read the feed.
    active.lease.release()
    assert standby.run_once() == 1
    assert not standby.standing_by
    assert applied(engine) == [1, 2]


def test_a_page_out_of_order_is_refused(engine: Engine) -> None:
    feed = FakeFeed([])
    feed.override = {"items": [feed_item(4), feed_item(3)], "last_position": 4, "head": 4}
    worker = consumer(engine, feed)
    with pytest.raises(FeedError):
        worker.run_once()
    assert worker.position == 0
    assert applied(engine) == []


def test_lag_and_metrics_follow_the_head(engine: Engine) -> None:
    registry = CollectorRegistry()
    feed = FakeFeed([1, 2, 3, 4, 20])
    worker = consumer(engine, feed, registry=registry, page_size=3)
    worker.run_once()
    assert worker.lag == 20 - 3
    assert registry.get_sample_value("feed_lag_events") == 17
    assert registry.get_sample_value("feed_position") == 3
    assert registry.get_sample_value("feed_items_applied_total") == 3
    assert registry.get_sample_value("feed_errors_total") == 0


def test_requests_carry_token_request_id_and_a_bounded_wait(engine: Engine) -> None:
    feed = FakeFeed([1])
    consumer(engine, feed, wait_seconds=30, lease_ttl=4).run_once()
    request = feed.requests[0]
    assert request.headers["Authorization"] == "Bearer feed-token"
    assert len(request.headers["X-Request-ID"]) >= 16
    # The long-poll ends well inside the lease, so the lease is renewed in time.
    assert float(request.url.params["wait"]) == 2.0


async def test_run_backs_off_while_the_feed_is_down_then_catches_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    feed = FakeFeed([1, 2, 3])
    feed.failures = 3
    worker = consumer(
        engine, feed, registry=registry, wait_seconds=0.05, backoff=Backoff(0.01, 0.05)
    )
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(200):
            if worker.position == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert applied(engine) == [1, 2, 3]
    assert registry.get_sample_value("feed_errors_total") == 3
    # Each warning names the peer that failed, so an operator knows where to look.
    failed = [r for r in caplog.records if r.getMessage() == "feed page failed"]
    assert len(failed) == 3
    assert {getattr(r, "url", None) for r in failed} == {"http://complaints.invalid/v1/events"}
    # Cancelling released the lease: another process may take over at once.
    assert consumer(engine, FakeFeed([]), lease_ttl=60).lease.acquire()


def test_default_backoff_grows_with_jitter_and_is_capped() -> None:
    delay = DEFAULT_BACKOFF.delay
    assert 0.25 <= delay(1) <= 0.5
    assert 2.0 <= delay(4) <= 4.0
    assert 15.0 <= delay(50) <= 30.0
    assert len({delay(5) for _ in range(20)}) > 1


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_FEED_TOKEN", "given-token")
    assert feed_token_provider("AUDIT", AuthSettings(jwt_secret=None))() == "given-token"


def test_token_minted_from_the_secret_and_renewed_before_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUDIT_FEED_TOKEN", raising=False)
    provide = feed_token_provider("AUDIT", AuthSettings(jwt_secret=JWT_SECRET))  # type: ignore[arg-type]
    first = provide()
    claims = jwt.decode(first, JWT_SECRET, algorithms=["HS256"])
    assert claims["roles"] == ["service"]
    assert claims["exp"] - claims["iat"] <= 600
    assert provide() == first
    later = module.time.time() + 290
    monkeypatch.setattr(module.time, "time", lambda: later)
    assert provide() != first


def test_no_token_and_no_secret_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFICATIONS_FEED_TOKEN", raising=False)
    with pytest.raises(ValueError, match="NOTIFICATIONS_FEED_TOKEN"):
        feed_token_provider("NOTIFICATIONS", AuthSettings(jwt_secret=None))
