"""Repeat complaints flagged at registration; appeal-centre referrals with their own clocks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.complaints.domain.clock import ShiftedClock
from tests.integration.complaints_fixtures import (
    CUSTOMER_ZH,
    Headers,
    build_app,
    client_for,
    new_complaint,
)


async def _register(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post("/v1/complaints", json=new_complaint(**body), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _feed_registered(client: httpx.AsyncClient, service: dict[str, str], cid: str) -> Any:
    page = (await client.get("/v1/events?limit=1000", headers=service)).json()
    return next(i for i in page["items"] if i["complaint_id"] == cid and i["type"] == "Registered")


async def test_an_earlier_complaint_in_the_window_and_category_makes_a_repeat(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    service = auth_header("service", sub="svc")
    now = datetime.now().astimezone()
    phone = {**CUSTOMER_ZH, "phone": "139 1234 5678"}

    def ago(days: int) -> str:
        return (now - timedelta(days=days)).isoformat()

    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        too_old = await _register(
            client, agent, customer=phone, category="billing", received_at=ago(45)
        )
        recent = await _register(
            client, agent, customer=phone, category="billing", received_at=ago(10)
        )
        other_category = await _register(
            client, agent, customer=phone, category="network_fault", received_at=ago(5)
        )
        stranger = {**CUSTOMER_ZH, "phone": "13700002222", "email": None, "account": None}
        await _register(client, agent, customer=stranger, category="billing", received_at=ago(3))
        assert recent["repeat"] is False and too_old["repeat_of"] == []

        # The same customer, the number written another way.
        new = await _register(
            client, agent, customer={**phone, "phone": "+8613912345678"}, category="billing"
        )
        assert new["repeat"] is True
        assert [r["complaint_id"] for r in new["repeat_of"]] == [recent["id"]]
        assert new["repeat_of"][0]["case_number"] == recent["case_number"]
        assert other_category["id"] not in [r["complaint_id"] for r in new["repeat_of"]]
        shown = (await client.get(f"/v1/complaints/{new['id']}", headers=agent)).json()
        assert shown["repeat"] is True and shown["repeat_of"] == new["repeat_of"]

        item = await _feed_registered(client, service, new["id"])
        assert item["data"]["repeat"] is True
        assert item["data"]["repeat_of"] == [
            {"complaint_id": recent["id"], "case_number": recent["case_number"]}
        ]
        first = await _feed_registered(client, service, recent["id"])
        assert first["data"]["repeat"] is False and first["data"]["repeat_of"] == []

        # Same e-mail, another phone: still the same customer.
        by_email = await _register(
            client, agent, customer={**phone, "phone": "13600003333"}, category="billing"
        )
        assert {r["complaint_id"] for r in by_email["repeat_of"]} == {recent["id"], new["id"]}
        # Without a category nothing can be "the same category".
        uncategorised = await _register(client, agent, customer=phone)
        assert uncategorised["repeat"] is False


REFERRAL = {
    "body": "工业和信息化部电信用户申诉受理中心",
    "reference": "12300-2026-000123",
    # Monday 30 Nov 2026, 10:00 in Shanghai.
    "received_at": "2026-11-30T10:00:00+08:00",
}


def _due(view: Any, milestone: str) -> datetime:
    return datetime.fromisoformat(view["deadlines"][milestone]["due_at"])


async def test_a_referral_gets_the_appeal_centres_own_clocks(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    service = auth_header("service", sub="svc")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        view = await _register(client, agent, channel="regulator", referral=REFERRAL)
        assert view["policy"] == {"id": "cn-appeal-centre", "version": 1}
        assert datetime.fromisoformat(view["received_at"]) == datetime.fromisoformat(
            REFERRAL["received_at"]
        )
        # Working hours 09:00-18:00: 4 h from Monday 10:00 end at 14:00 ...
        assert _due(view, "acceptance") == datetime.fromisoformat("2026-11-30T14:00:00+08:00")
        # ... and 45 h (Mon 8 + Tue-Fri 36) at 10:00 the next Monday.
        assert _due(view, "reply") == datetime.fromisoformat("2026-12-07T10:00:00+08:00")
        assert view["referral"]["reference"] == REFERRAL["reference"]
        assert view["referral"]["body"] == REFERRAL["body"]
        item = await _feed_registered(client, service, view["id"])
        assert item["data"]["referral"]["reference"] == REFERRAL["reference"]
        assert item["data"]["policy"]["id"] == "cn-appeal-centre"

        # The centre's own date binds the reply, exactly, even outside working hours.
        dated = await _register(
            client,
            agent,
            channel="regulator",
            referral={**REFERRAL, "due_at": "2026-12-02T20:00:00+08:00"},
        )
        assert _due(dated, "reply") == datetime.fromisoformat("2026-12-02T20:00:00+08:00")

        # The result ends the reply clock.
        cid = view["id"]
        for action, body in (
            ("accept", {"category": "billing", "severity": "low"}),
            ("investigate", {"findings": "f"}),
            ("resolve", {"resolution": "r"}),
        ):
            done = await client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=agent)
            assert done.status_code == 200, done.text
        assert done.json()["deadlines"]["reply"]["completed_at"] is not None

        # An ordinary complaint keeps the ordinary policy and has no reply clock.
        ordinary = await _register(client, agent)
        assert ordinary["policy"]["id"] == "cn-service-spec"
        assert "reply" not in ordinary["deadlines"] and ordinary["referral"] is None


async def test_a_referral_is_required_with_the_regulator_channel_and_only_then(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        for body in (
            new_complaint(channel="regulator"),
            new_complaint(channel="phone", referral=REFERRAL),
            new_complaint(
                channel="regulator",
                referral={**REFERRAL, "due_at": "2026-11-29T10:00:00+08:00"},
            ),
            new_complaint(
                channel="regulator", referral={**REFERRAL, "received_at": "2099-01-01T00:00:00Z"}
            ),
        ):
            response = await client.post("/v1/complaints", json=body, headers=agent)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
