"""The complaints service's event feed: order, public forms, long-poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from services.complaints.domain.clock import ShiftedClock
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint


async def test_feed_pages_in_commit_order_with_documented_fields(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    service = auth_header("service", sub="audit")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        ids = []
        for _ in range(3):
            cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
            ids.append(cid["id"])
            await client.post(
                f"/v1/complaints/{cid['id']}/accept",
                json={"category": "billing", "severity": "low"},
                headers=agent,
            )
        items, after = [], 0
        while True:
            page = (await client.get(f"/v1/events?after={after}&limit=2", headers=service)).json()
            if not page["items"]:
                break
            items += page["items"]
            after = page["last_position"]
        assert page["head"] == after
        positions = [i["position"] for i in items]
        assert positions == sorted(positions) and len(set(positions)) == 6
        assert [(i["complaint_id"], i["type"]) for i in items] == [
            pair for cid in ids for pair in ((cid, "Registered"), (cid, "Accepted"))
        ]
        first = items[0]
        assert set(first) == {
            *("position", "event_id", "complaint_id", "version", "type"),
            *("occurred_at", "actor", "schema_version", "data"),
        }
        assert first["schema_version"] == 2
        assert first["actor"] == {"id": "agent-1", "role": "agent"}
        assert first["data"]["customer"]["phone"] == "138****5678"
        assert "description" not in first["data"], "the customer's own words stay out"
        assert items[1]["data"]["deadlines"]["investigation"]["due_at"]
        again = (await client.get("/v1/events?after=0&limit=1", headers=service)).json()
        assert again["items"][0]["event_id"] == first["event_id"], "event ids are stable"


async def test_long_poll_returns_as_soon_as_an_event_is_written(
    tmp_path: object, auth_header: Headers
) -> None:
    app = build_app(f"sqlite:///{tmp_path}/c.db", ShiftedClock())
    service = auth_header("service", sub="audit")
    async with client_for(app) as client:
        app.state.feed.bind(asyncio.get_running_loop())
        empty_started = time.monotonic()
        empty = (await client.get("/v1/events?after=0&wait=0.5", headers=service)).json()
        assert empty["items"] == [] and time.monotonic() - empty_started >= 0.45

        async def write_later() -> None:
            await asyncio.sleep(0.3)
            await client.post(
                "/v1/complaints", json=new_complaint(), headers=auth_header("agent", sub="a")
            )

        started = time.monotonic()
        writer = asyncio.create_task(write_later())
        page = (await client.get("/v1/events?after=0&wait=20", headers=service)).json()
        waited = time.monotonic() - started
        await writer
        assert [i["type"] for i in page["items"]] == ["Registered"]
        assert waited < 5, "the long-poll ended when the event arrived, not at the timeout"
