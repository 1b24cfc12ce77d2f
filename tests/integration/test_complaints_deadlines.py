"""SLA clocks over HTTP: policy deadlines, the monitor, pause and resume, calendars (S-2, S-3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.complaints.domain.clock import ShiftedClock
from tests.integration.complaints_fixtures import (
    Headers,
    build_app,
    client_for,
    new_complaint,
    policy_dir_with,
)

SECOND_POLICY = """
id = "fast"
version = 1
effective_from = "2026-01-01T00:00:00+00:00"
source = "test"
calendar = "24x7"
warning_at = 0.5
pausable = ["acceptance", "investigation", "result"]
[milestones]
acceptance = "PT2S"
investigation = "PT2S"
result = "PT2S"
"""

BUSINESS_POLICY = """
id = "business"
version = 1
effective_from = "2026-01-01T00:00:00+08:00"
source = "test"
calendar = "cn-workdays"
warning_at = 0.8
pausable = ["acceptance"]
[milestones]
acceptance = "PT24H"
investigation = "PT72H"
result = "PT48H"
"""


def _due(body: dict[str, Any], milestone: str) -> datetime:
    return datetime.fromisoformat(body["deadlines"][milestone]["due_at"])


async def test_default_policy_deadlines_and_network_fault_repair(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    clock = ShiftedClock()
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), clock)) as client:
        received = clock.now() - timedelta(hours=1)
        fault = (
            await client.post(
                "/v1/complaints",
                json=new_complaint(category="network_fault", received_at=received.isoformat()),
                headers=agent,
            )
        ).json()
        assert _due(fault, "acceptance") == received + timedelta(hours=24)
        assert _due(fault, "repair") == received + timedelta(hours=4)
        billing = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
        assert "repair" not in billing["deadlines"]
        cid = billing["id"]
        clock.advance(timedelta(hours=2))
        accepted = (
            await client.post(
                f"/v1/complaints/{cid}/accept",
                json={"category": "network_fault", "severity": "high"},
                headers=agent,
            )
        ).json()
        received_at = datetime.fromisoformat(billing["received_at"])
        assert _due(accepted, "repair") == received_at + timedelta(hours=4), "repair from receipt"
        accepted_at = datetime.fromisoformat(accepted["deadlines"]["acceptance"]["completed_at"])
        assert _due(accepted, "investigation") == accepted_at + timedelta(hours=72)
        investigated = (
            await client.post(
                f"/v1/complaints/{cid}/investigate", json={"findings": "x"}, headers=agent
            )
        ).json()
        done_at = datetime.fromisoformat(investigated["deadlines"]["investigation"]["completed_at"])
        assert _due(investigated, "result") == done_at + timedelta(hours=48)
        future = await client.post(
            "/v1/complaints",
            json=new_complaint(received_at=(clock.now() + timedelta(hours=1)).isoformat()),
            headers=agent,
        )
        assert future.status_code == 422


async def test_second_long_milestones_warn_and_breach_exactly_once(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    clock = ShiftedClock()
    app = build_app(
        database_url("complaints"),
        clock,
        policy_dir=policy_dir_with(tmp_path, SECOND_POLICY),
        default_policy="fast",
    )
    agent = auth_header("agent", sub="agent-1")
    async with client_for(app) as client:
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()[
            "id"
        ]
        done = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
        await client.post(
            f"/v1/complaints/{done['id']}/accept",
            json={"category": "billing", "severity": "low"},
            headers=agent,
        )
        monitor = app.state.monitor
        # Real time, real seconds: pass the monitor repeatedly across the deadline.
        for _ in range(14):
            await asyncio.to_thread(monitor.run_once)
            await asyncio.sleep(0.25)
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        types = [e["type"] for e in history["events"]]
        assert types.count("SlaWarning") == 1
        assert types.count("SlaBreached") == 1
        assert types.index("SlaWarning") < types.index("SlaBreached")
        breach = history["events"][types.index("SlaBreached")]
        assert breach["data"]["milestone"] == "acceptance"
        assert breach["actor"]["role"] == "system"
        body = (await client.get(f"/v1/complaints/{cid}", headers=agent)).json()
        assert body["deadlines"]["acceptance"]["breached_at"] is not None
        # The accepted one: acceptance completed in time, so only investigation alarms.
        other = (await client.get(f"/v1/complaints/{done['id']}/history", headers=agent)).json()
        alarms = [
            (e["type"], e["data"]["milestone"])
            for e in other["events"]
            if e["type"].startswith("Sla")
        ]
        assert alarms == [("SlaWarning", "investigation"), ("SlaBreached", "investigation")]
        breached = (await client.get("/v1/complaints?breached=true", headers=agent)).json()
        assert {r["complaint_id"] for r in breached["items"]} == {cid, done["id"]}
        # A second monitor (another process) on the same database adds nothing.
        again = build_app(
            app.state.settings.database_url,
            clock,
            policy_dir=app.state.settings.policy_dir,
            default_policy="fast",
        )
        try:
            again.state.monitor.lease.ttl = 0.0
            app.state.monitor.lease.release()
            assert await asyncio.to_thread(again.state.monitor.run_once) == 0
        finally:
            again.state.queue.engine.dispose()
            again.state.complaints.close()


async def test_monitor_never_alarms_a_paused_milestone_and_resume_moves_the_due_time(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    clock = ShiftedClock()
    app = build_app(database_url("complaints"), clock)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(app) as client:
        created = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
        cid = created["id"]
        refused = await client.post(
            f"/v1/complaints/{cid}/pause", json={"reason": "awaiting_customer"}, headers=agent
        )
        assert refused.status_code == 409, "no pause before acceptance under the default policy"
        accepted = (
            await client.post(
                f"/v1/complaints/{cid}/accept",
                json={"category": "billing", "severity": "low"},
                headers=agent,
            )
        ).json()
        due_before = _due(accepted, "investigation")
        clock.advance(timedelta(hours=2))
        unknown = await client.post(
            f"/v1/complaints/{cid}/pause", json={"reason": "lunch"}, headers=agent
        )
        assert unknown.status_code == 422, "only the policy's reason codes"
        paused = (
            await client.post(
                f"/v1/complaints/{cid}/pause", json={"reason": "awaiting_customer"}, headers=agent
            )
        ).json()
        assert paused["deadlines"]["investigation"]["paused"] is True
        clock.advance(timedelta(hours=80))  # past the original due time
        await asyncio.to_thread(app.state.monitor.run_once)
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        alarms = [e for e in history["events"] if e["type"].startswith("Sla")]
        assert [a["data"]["milestone"] for a in alarms] == ["overall"], "only the unpaused clock"
        resumed = (await client.post(f"/v1/complaints/{cid}/resume", json={}, headers=agent)).json()
        moved = _due(resumed, "investigation") - due_before
        assert abs(moved - timedelta(hours=80)) < timedelta(seconds=5)
        assert (
            await client.post(f"/v1/complaints/{cid}/resume", json={}, headers=agent)
        ).status_code == 409
        clock.advance(timedelta(hours=71))
        await asyncio.to_thread(app.state.monitor.run_once)
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        assert [
            e["data"]["milestone"] for e in history["events"] if e["type"] == "SlaBreached"
        ] == ["overall", "investigation"], "after a gap the breach alone is recorded"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_business_calendar_skips_national_day_and_counts_a_makeup_saturday(
    backend: str, tmp_path: Path, auth_header: Headers
) -> None:
    clock = ShiftedClock()
    app = build_app(
        f"sqlite:///{tmp_path}/c.db",
        clock,
        policy_dir=policy_dir_with(tmp_path, BUSINESS_POLICY),
        default_policy="business",
    )
    async with client_for(app) as client:
        # Wednesday 30 Sep 2026, 17:00 in Shanghai: 1 h that day, 1-7 Oct is the
        # National Day holiday, Thu 8 and Fri 9 give 18 h, and Saturday 10 Oct is a
        # make-up working day: the last 5 h end at 14:00.
        body = new_complaint(received_at="2026-09-30T17:00:00+08:00")
        created = (
            await client.post("/v1/complaints", json=body, headers=auth_header("agent"))
        ).json()
        assert _due(created, "acceptance") == datetime.fromisoformat("2026-10-10T14:00:00+08:00")
        policies = (await client.get("/v1/policies", headers=auth_header("regulator"))).json()
        assert policies[0]["calendar"] == "cn-workdays"
        assert policies[0]["milestones"]["acceptance"] == "PT24H"


async def test_a_standby_monitor_does_nothing_while_the_active_one_holds_the_lease(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    clock = ShiftedClock()
    url = database_url("complaints")
    active, standby = build_app(url, clock), build_app(url, clock)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(active) as client, client_for(standby):
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()[
            "id"
        ]
        clock.advance(timedelta(hours=25))
        assert await asyncio.to_thread(active.state.monitor.lease.acquire)
        assert await asyncio.to_thread(standby.state.monitor.run_once) == 0
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        assert not [e for e in history["events"] if e["type"].startswith("Sla")]
        # Warning and breach both due after the gap: the breach alone (it supersedes).
        assert await asyncio.to_thread(active.state.monitor.run_once) == 1
        # The active one stops: the standby takes over at once, with nothing left to do.
        await asyncio.to_thread(active.state.monitor.lease.release)
        assert await asyncio.to_thread(standby.state.monitor.lease.acquire)
        assert await asyncio.to_thread(standby.state.monitor.run_once) == 0
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        types = [e["type"] for e in history["events"]]
        assert (types.count("SlaWarning"), types.count("SlaBreached")) == (0, 1)
