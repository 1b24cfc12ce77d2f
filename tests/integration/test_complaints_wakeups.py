"""No idle polling: the monitor and the feed wake on writes and due times (issue 13).

Writes in the same process wake them at once; on PostgreSQL a write by
another replica wakes them through the event store's NOTIFY. When nothing
changes, the monitor sends no query at all until its fallback interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from services.complaints.arrivals import Arrivals
from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.complaint import Actor
from services.complaints.queue import complaint_queue
from tests.integration.complaints_fixtures import (
    Headers,
    build_app,
    client_for,
    new_complaint,
    policy_dir_with,
)
from tests.integration.test_complaints_deadlines import SECOND_POLICY


def _count_statements(engine: Any) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


async def _until(predicate: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_arrivals_never_miss_a_ring_between_two_waits() -> None:
    arrivals = Arrivals()
    arrivals.bind(asyncio.get_running_loop())
    seen = arrivals.generation
    assert await arrivals.wait(seen, 0.05) is False
    arrivals.ring()  # Before anyone waits: the next wait still sees it.
    assert await arrivals.wait(seen, 5) is True
    seen = arrivals.generation
    threading.Timer(0.1, arrivals.ring).start()  # From another thread, as a write does.
    started = time.monotonic()
    assert await arrivals.wait(seen, 10) is True
    assert time.monotonic() - started < 5


async def test_an_idle_monitor_sends_no_query_and_a_write_wakes_it(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    app = build_app(
        database_url("complaints"),
        ShiftedClock(),
        monitor_interval_seconds=0.1,
        monitor_fallback_seconds=30,
    )
    monitor = app.state.monitor
    async with client_for(app) as client:
        app.state.arrivals.bind(asyncio.get_running_loop())
        task = asyncio.create_task(monitor.run())
        try:
            await _until(lambda: monitor.passes >= 1, 10)
            await asyncio.sleep(0.3)  # Let the first pass's sleep begin.
            statements = _count_statements(app.state.queue.engine)
            passes = monitor.passes
            await asyncio.sleep(1.5)  # Fifteen intervals: the old monitor polled each one.
            assert statements == [], "an idle monitor queries nothing"
            assert monitor.passes == passes
            agent = auth_header("agent", sub="agent-1")
            created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
            assert created.status_code == 201
            await _until(lambda: monitor.passes > passes, 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_monitor_wakes_by_itself_when_an_alarm_falls_due(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    app = build_app(
        database_url("complaints"),
        ShiftedClock(),
        policy_dir=policy_dir_with(tmp_path, SECOND_POLICY),
        default_policy="fast",
        monitor_interval_seconds=0.1,
        monitor_fallback_seconds=30,
    )
    monitor = app.state.monitor
    agent = auth_header("agent", sub="agent-1")
    async with client_for(app) as client:
        app.state.arrivals.bind(asyncio.get_running_loop())
        task = asyncio.create_task(monitor.run())
        try:
            created = (
                await client.post("/v1/complaints", json=new_complaint(), headers=agent)
            ).json()
            history = f"/v1/complaints/{created['id']}/history"
            types: list[str] = []

            async def alarms() -> list[str]:
                body = (await client.get(history, headers=agent)).json()
                return [e["type"] for e in body["events"] if e["type"].startswith("Sla")]

            started = time.monotonic()
            # Warning at 1 s, breach at 2 s; nothing else wakes the monitor meanwhile.
            while "SlaBreached" not in types and time.monotonic() - started < 10:
                types = await alarms()
                await asyncio.sleep(0.1)
            assert types == ["SlaWarning", "SlaBreached"]
            assert time.monotonic() - started < 6, "woken at the due time, not the fallback"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.postgres
async def test_a_write_by_another_replica_wakes_long_polls_and_the_monitor_on_postgres(
    postgres_database: Callable[[], str], auth_header: Headers
) -> None:
    url = postgres_database()
    settings: dict[str, Any] = {
        "monitor_interval_seconds": 0.1,
        "monitor_fallback_seconds": 30,
        "feed_fallback_seconds": 30,
    }
    here = build_app(url, ShiftedClock(), **settings)
    there = build_app(url, ShiftedClock(), **settings)
    monitor = here.state.monitor
    service = auth_header("service", sub="audit")
    agent = auth_header("agent", sub="agent-1")
    async with client_for(here) as reader, client_for(there) as writer:
        here.state.arrivals.bind(asyncio.get_running_loop())
        await asyncio.to_thread(here.state.arrivals.listen, url)
        task = asyncio.create_task(monitor.run())
        try:
            await _until(lambda: monitor.passes >= 1, 10)
            await asyncio.sleep(1.5)  # The listener is connected; the monitor sleeps.
            passes = monitor.passes

            async def write_later() -> None:
                await asyncio.sleep(0.3)
                await writer.post("/v1/complaints", json=new_complaint(), headers=agent)

            started = time.monotonic()
            writing = asyncio.create_task(write_later())
            page = (await reader.get("/v1/events?after=0&wait=20", headers=service)).json()
            waited = time.monotonic() - started
            await writing
            assert [i["type"] for i in page["items"]] == ["Registered"]
            assert waited < 5, "the other replica's write ended the long-poll"
            await _until(lambda: monitor.passes > passes, 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            here.state.arrivals.close()


async def test_catch_up_projects_only_rows_that_are_missing_or_behind(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    app = build_app(database_url("complaints"), ShiftedClock())
    agent = auth_header("agent", sub="agent-1")
    queue = app.state.queue
    async with client_for(app) as client:
        ids = []
        for _ in range(3):
            created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
            ids.append(created.json()["id"])
        accept = {"category": "billing", "severity": "low"}
        await client.post(f"/v1/complaints/{ids[1]}/accept", json=accept, headers=agent)
        with queue.engine.begin() as conn:
            # As if the process died between saving the events and writing the row:
            # one row never written, one left at its first version.
            conn.execute(complaint_queue.delete().where(complaint_queue.c.complaint_id == ids[0]))
            conn.execute(
                update(complaint_queue)
                .where(complaint_queue.c.complaint_id == ids[1])
                .values(version=1, status="received")
            )
        loaded: list[str] = []
        real_get = app.state.complaints.get

        def get(complaint_id: Any, version: int | None = None) -> Any:
            loaded.append(str(complaint_id))
            return real_get(complaint_id, version=version)

        app.state.complaints.get = get
        assert await asyncio.to_thread(queue.catch_up) == 4
        assert sorted(loaded) == sorted(ids[:2]), "the up-to-date row is not loaded again"
        accepted = (await client.get("/v1/complaints?status=accepted", headers=agent)).json()
        assert [r["complaint_id"] for r in accepted["items"]] == [ids[1]]
        received = (await client.get("/v1/complaints?status=received", headers=agent)).json()
        assert {r["complaint_id"] for r in received["items"]} == {ids[0], ids[2]}


async def test_a_pass_ends_while_writes_keep_arriving(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    # Under a steady stream of writes, catching up "until nothing is left" never ended:
    # each read found the few events written meanwhile, so a pass could take as long as
    # the burst (and its queries ate a tenth of the service's CPU). A pass now reads on
    # only while batches come back full; what arrives meanwhile rings for the next pass.
    app = build_app(database_url("complaints"), ShiftedClock())
    agent = auth_header("agent", sub="agent-1")
    queue, monitor = app.state.queue, app.state.monitor
    async with client_for(app) as client:
        assert (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).is_success
        real_catch_up = queue.catch_up
        reads: list[int] = []

        def catch_up(batch: int = 500) -> int:
            # A write lands during every read (the first 30 of them).
            if len(reads) < 30:
                body = new_complaint()
                app.state.complaints.register(
                    Actor(id="agent-1", role="agent"),
                    customer=body["customer"],
                    channel=body["channel"],
                    description=body["description"],
                    category=body.get("category"),
                    received_at=None,
                )
            reads.append(real_catch_up(batch))
            return reads[-1]

        queue.catch_up = catch_up
        await asyncio.to_thread(monitor.run_once)
    assert len(reads) == 1, f"one pass read {len(reads)} times"
