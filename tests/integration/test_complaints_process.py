"""The whole complaint process over HTTP with second-long policies (issue 9, S-1, S-2, S-8).

Time is moved with the injectable clock, and the deadline monitor's passes are
run by the test itself, so every window and clock is crossed exactly where
the test says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.complaints.domain.clock import ShiftedClock
from tests.integration.complaints_fixtures import (
    Headers,
    build_app,
    client_for,
    new_complaint,
    policy_dir_with,
)

FAST = """
id = "fast"
version = 1
effective_from = "2026-01-01T00:00:00+00:00"
source = "test"
calendar = "24x7"
warning_at = 0.5
pausable = ["investigation", "result"]

[milestones]
acceptance = "PT60S"
investigation = "PT60S"
result = "PT60S"
dispute = "PT2S"
appeal = "PT2S"

[categories.network_fault.milestones]
repair = "PT60S"

[[overrides]]
tier = "vip"
milestones = { repair = "PT30S" }

[[overrides]]
severity = "critical"
milestones = { investigation = "PT10S" }

[windows]
confirmation = "PT2S"
dispute_after_close = "PT3S"

[pause]
reasons = ["awaiting_customer", "site_visit_booked"]
max_per_milestone = "PT2S"
before_acceptance = false
"""

AGENT = "agent-1"


class Case:
    """One app, its clock and two callers, with short-hands for the steps."""

    def __init__(
        self, client: httpx.AsyncClient, app: FastAPI, clock: ShiftedClock, headers: Headers
    ) -> None:
        self.client = client
        self.app = app
        self.clock = clock
        self.agent = headers("agent", sub=AGENT)
        self.sup = headers("supervisor", sub="sup-1")

    async def new(self, **body: Any) -> str:
        response = await self.client.post(
            "/v1/complaints", json=new_complaint(**body), headers=self.agent
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def act(
        self, cid: str, action: str, body: dict[str, Any] | None = None, *, sup: bool = False
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/complaints/{cid}/{action}",
            json=body or {},
            headers=self.sup if sup else self.agent,
        )

    async def ok(
        self, cid: str, action: str, body: dict[str, Any] | None = None, *, sup: bool = False
    ) -> dict[str, Any]:
        response = await self.act(cid, action, body, sup=sup)
        assert response.status_code == 200, (action, response.text)
        result: dict[str, Any] = response.json()
        return result

    async def resolved(self, cid: str, **accept: str) -> dict[str, Any]:
        await self.ok(cid, "accept", {"category": "billing", "severity": "low", **accept})
        await self.ok(cid, "investigate", {"findings": "double charge"})
        return await self.ok(cid, "resolve", {"resolution": "refunded"})

    async def get(self, cid: str) -> dict[str, Any]:
        result: dict[str, Any] = (
            await self.client.get(f"/v1/complaints/{cid}", headers=self.agent)
        ).json()
        return result

    async def events(self, cid: str) -> list[dict[str, Any]]:
        history = (
            await self.client.get(
                f"/v1/complaints/{cid}/history",
                params={"purpose": "handling the case"},  # a recorded read of the words
                headers=self.sup,
            )
        ).json()
        # The read itself is on file (TextRead); the tests look at the handling.
        result: list[dict[str, Any]] = [e for e in history["events"] if e["type"] != "TextRead"]
        return result

    async def types(self, cid: str) -> list[str]:
        return [e["type"] for e in await self.events(cid)]

    async def later(self, seconds: float) -> None:
        """Move the clock on, then let the monitor make its pass."""
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.to_thread(self.app.state.monitor.run_once)


def clock_at(moment: str | None = None) -> ShiftedClock:
    if moment is None:
        return ShiftedClock()
    return ShiftedClock(datetime.fromisoformat(moment) - datetime.now(UTC))


@pytest.fixture
async def case(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> AsyncIterator[Case]:
    clock = clock_at()
    app = build_app(
        database_url("complaints"),
        clock,
        policy_dir=policy_dir_with(tmp_path, FAST),
        default_policy="fast",
    )
    async with client_for(app) as client:
        yield Case(client, app, clock, auth_header)


async def test_deemed_acceptance_closes_a_silent_case_exactly_once(case: Case) -> None:
    silent = await case.new()
    rated = await case.new()
    resolved = await case.resolved(silent)
    assert resolved["confirmation_due_at"] is not None
    await case.resolved(rated)
    await case.ok(rated, "confirm", {"satisfaction": 5})
    confirmed = (await case.client.get("/v1/complaints?confirmed=true", headers=case.agent)).json()
    assert [r["complaint_id"] for r in confirmed["items"]] == [rated]
    await case.later(1)
    assert (await case.get(silent))["status"] == "resolved", "the window is still open"
    await case.later(1.5)
    await case.later(5)
    closed = await case.get(silent)
    assert (closed["status"], closed["outcome"]) == ("closed", "deemed_accepted")
    events = await case.events(silent)
    deemed = [e for e in events if e["type"] == "DeemedAccepted"]
    assert len(deemed) == 1 and deemed[0]["actor"]["role"] == "system"
    assert "Closed" not in [e["type"] for e in events]
    assert (await case.get(rated))["status"] == "resolved", "a confirmed result is not 'deemed'"


async def test_closing_before_the_window_ends_needs_a_recorded_reason(case: Case) -> None:
    cid = await case.new()
    await case.resolved(cid)
    early = await case.act(cid, "close", {"outcome": "refunded"}, sup=True)
    assert early.status_code == 422 and "reason" in early.json()["detail"]
    closed = await case.ok(
        cid, "close", {"outcome": "refunded", "reason": "customer agreed by phone"}, sup=True
    )
    assert closed["status"] == "closed"
    close_event = (await case.events(cid))[-1]
    assert close_event["data"]["early"] is True
    assert close_event["data"]["reason"] == "customer agreed by phone"


async def test_a_dispute_within_the_post_closure_window_reopens_and_one_after_is_refused(
    case: Case,
) -> None:
    soon, late = await case.new(), await case.new()
    for cid in (soon, late):
        await case.resolved(cid)
    await case.later(2.5)  # both deemed accepted
    assert (await case.get(soon))["dispute_until"] is not None
    clock_before = case.clock.now()
    reopened = await case.ok(soon, "dispute", {"reason": "still double charged"})
    assert reopened["status"] == "disputed"
    assert reopened["outcome"] is None
    due = datetime.fromisoformat(reopened["deadlines"]["dispute"]["due_at"])
    assert abs(due - (clock_before + timedelta(seconds=2))) < timedelta(seconds=1), "fresh clock"
    disputed = (await case.events(soon))[-1]
    assert (disputed["type"], disputed["data"]["after_close"]) == ("Disputed", True)
    await case.later(4)  # past the 3 s window of `late`
    refused = await case.act(late, "dispute", {"reason": "too late"})
    assert refused.status_code == 409 and "window" in refused.json()["detail"]
    assert (await case.get(late))["status"] == "closed"


async def test_a_disputed_case_closes_as_upheld_with_a_reason(case: Case) -> None:
    cid = await case.new()
    await case.resolved(cid)
    await case.ok(cid, "dispute", {"reason": "not enough"})
    wrong = await case.act(cid, "close", {"outcome": "refunded", "reason": "x"}, sup=True)
    assert wrong.status_code == 422
    bare = await case.act(cid, "close", {"outcome": "upheld"}, sup=True)
    assert bare.status_code == 422
    closed = await case.ok(
        cid, "close", {"outcome": "upheld", "reason": "the charge was correct"}, sup=True
    )
    assert (closed["status"], closed["outcome"]) == ("closed", "[withheld]")
    opened = await case.client.get(
        f"/v1/complaints/{cid}", params={"purpose": "check the outcome"}, headers=case.sup
    )
    assert opened.json()["outcome"] == "upheld", "sealed staff text, opened on record"
    assert closed["deadlines"]["dispute"]["completed_at"] is not None, "the dispute was answered"
    assert "dispute" not in closed["allowed_actions"], "the appeal body is the next instance"


async def test_escalated_returned_and_resolved_again_with_fresh_clocks(case: Case) -> None:
    cid = await case.new()
    await case.resolved(cid)
    await case.ok(cid, "confirm", {"satisfaction": 2})
    unexplained = await case.act(cid, "escalate", {"body": "12300", "reference": "A-1"}, sup=True)
    assert unexplained.status_code == 422, "after a confirmation only with a reason"
    escalated = await case.ok(
        cid,
        "escalate",
        {"body": "12300", "reference": "A-1", "reason": "appeal centre forwarded it"},
        sup=True,
    )
    assert escalated["deadlines"]["appeal"]["due_at"] is not None
    agent_try = await case.act(cid, "return", {"decision": "d", "reference": "R-1"})
    assert agent_try.status_code == 403
    returned = await case.ok(
        cid, "return", {"decision": "refund the full amount", "reference": "R-1"}, sup=True
    )
    assert returned["status"] == "returned"
    assert returned["appeal_return"] == {"reference": "R-1"}
    case.clock.advance(timedelta(seconds=1))
    reopened = await case.ok(cid, "reopen", {"reason": "the appeal body's decision"})
    assert reopened["status"] == "accepted"
    assert reopened["deadlines"]["appeal"]["completed_at"] is not None
    assert reopened["deadlines"]["investigation"]["completed_at"] is None, "fresh clock"
    await case.ok(cid, "investigate", {"findings": "refund short by CNY 10"})
    again = await case.ok(cid, "resolve", {"resolution": "full refund"})
    assert again["status"] == "resolved"
    events = await case.events(cid)
    returned_event = next(e for e in events if e["type"] == "Returned")
    assert returned_event["data"]["decision"] == "refund the full amount", "staff read it"


async def test_a_returned_case_may_close_with_the_appeal_bodys_decision(case: Case) -> None:
    cid = await case.new()
    await case.resolved(cid)
    await case.ok(cid, "dispute", {"reason": "no"})
    await case.ok(cid, "escalate", {"body": "12300", "reference": "A-2"}, sup=True)
    await case.ok(cid, "return", {"decision": "complaint not upheld", "reference": "R-2"}, sup=True)
    closed = await case.ok(
        cid, "close", {"outcome": "appeal_decided", "reason": "R-2: not upheld"}, sup=True
    )
    assert closed["status"] == "closed"
    assert "dispute" not in closed["allowed_actions"]


async def test_dispute_and_appeal_clocks_warn_and_breach_once_each(case: Case) -> None:
    cid = await case.new()
    await case.resolved(cid)
    await case.ok(cid, "dispute", {"reason": "no"})
    for step in (1.2, 1.2, 1.0, 1.0):
        await case.later(step)
    await case.ok(cid, "escalate", {"body": "12300", "reference": "A-3"}, sup=True)
    for step in (1.2, 1.2, 1.0):
        await case.later(step)
    alarms = [
        (e["type"], e["data"]["milestone"])
        for e in await case.events(cid)
        if e["type"].startswith("Sla")
    ]
    assert alarms == [
        ("SlaWarning", "dispute"),
        ("SlaBreached", "dispute"),
        ("SlaWarning", "appeal"),
        ("SlaBreached", "appeal"),
    ]


async def test_restore_completes_repair_before_the_result(case: Case) -> None:
    cid = await case.new(category="network_fault")
    billing = await case.new()
    refused = await case.act(billing, "restore", {"how": "nothing to restore"})
    assert refused.status_code == 409
    await case.ok(cid, "accept", {"category": "network_fault", "severity": "high"})
    case.clock.advance(timedelta(seconds=20))
    future = (case.clock.now() + timedelta(minutes=5)).isoformat()
    assert (await case.act(cid, "restore", {"how": "x", "restored_at": future})).status_code == 422
    restored_at = case.clock.now() - timedelta(seconds=5)
    restored = await case.ok(
        cid, "restore", {"how": "base station rebooted", "restored_at": restored_at.isoformat()}
    )
    repair = restored["deadlines"]["repair"]
    assert datetime.fromisoformat(repair["completed_at"]) == restored_at
    assert restored["deadlines"]["result"]["completed_at"] is None
    received = datetime.fromisoformat(restored["received_at"])
    assert restored["time_to_restore_seconds"] == (restored_at - received).total_seconds()
    assert "restore" not in restored["allowed_actions"]
    await case.ok(cid, "investigate", {"findings": "antenna fault"})
    resolved = await case.ok(cid, "resolve", {"resolution": "antenna replaced"})
    assert resolved["deadlines"]["repair"]["completed_at"] == repair["completed_at"]
    feed_item = next(e for e in await case.events(cid) if e["type"] == "Restored")
    assert feed_item["data"]["restored_at"] == restored_at.isoformat()


async def test_an_over_long_pause_resumes_itself_and_resume_at_is_honoured(case: Case) -> None:
    cid = await case.new()
    refused = await case.act(cid, "pause", {"reason": "awaiting_customer"})
    assert refused.status_code == 409, "no pause before acceptance"
    accepted = await case.ok(cid, "accept", {"category": "billing", "severity": "low"})
    due_before = datetime.fromisoformat(accepted["deadlines"]["investigation"]["due_at"])
    paused = await case.ok(
        cid, "pause", {"reason": "awaiting_customer", "note": "copy of the bill, by Friday"}
    )
    assert paused["paused"] is True and paused["pause_ends_at"] is not None
    await case.later(5)  # beyond the 2 s limit
    after = await case.get(cid)
    assert after["paused"] is False
    moved = datetime.fromisoformat(after["deadlines"]["investigation"]["due_at"]) - due_before
    assert abs(moved - timedelta(seconds=2)) < timedelta(milliseconds=200), "the limit, not 5 s"
    resumed = (await case.events(cid))[-1]
    assert (resumed["type"], resumed["data"]["trigger"]) == ("AutoResumed", "limit")
    assert (await case.act(cid, "pause", {"reason": "awaiting_customer"})).status_code == 409, (
        "the milestone's pause allowance is used up"
    )

    other = await case.new()
    await case.ok(other, "accept", {"category": "billing", "severity": "low"})
    resume_at = case.clock.now() + timedelta(seconds=1)
    await case.ok(
        other, "pause", {"reason": "site_visit_booked", "resume_at": resume_at.isoformat()}
    )
    await case.later(1.5)
    last = (await case.events(other))[-1]
    assert (last["type"], last["data"]["trigger"]) == ("AutoResumed", "resume_at")
    assert last["data"]["resumed_at"] == resume_at.isoformat()


async def test_severity_and_tier_specific_durations_win_over_the_categorys(case: Case) -> None:
    vip = await case.client.post(
        "/v1/complaints",
        json=new_complaint(category="network_fault", tier="vip"),
        headers=case.agent,
    )
    body = vip.json()
    received = datetime.fromisoformat(body["received_at"])
    assert body["tier"] == "vip"
    due = datetime.fromisoformat(body["deadlines"]["repair"]["due_at"])
    assert due == received + timedelta(seconds=30), "the tier's repair time, not the category's"
    standard = await case.get(await case.new(category="network_fault"))
    due = datetime.fromisoformat(standard["deadlines"]["repair"]["due_at"])
    assert due == datetime.fromisoformat(standard["received_at"]) + timedelta(seconds=60)
    accepted = await case.ok(
        body["id"], "accept", {"category": "network_fault", "severity": "critical"}
    )
    investigation = accepted["deadlines"]["investigation"]
    started = datetime.fromisoformat(accepted["deadlines"]["acceptance"]["completed_at"])
    assert datetime.fromisoformat(investigation["due_at"]) == started + timedelta(seconds=10)
    vips = (await case.client.get("/v1/complaints?tier=vip", headers=case.agent)).json()
    assert [r["complaint_id"] for r in vips["items"]] == [body["id"]]


BUSINESS = """
id = "business"
version = 1
effective_from = "2026-01-01T00:00:00+08:00"
source = "test"
calendar = "cn-workdays"
warning_at = 0.8
pausable = []
[milestones]
acceptance = "P2D"
investigation = "PT4H"
result = "PT48H"
[calendars]
result = "24x7"
"""


async def test_two_working_days_across_qingming_and_a_makeup_saturday(
    auth_header: Headers, tmp_path: Path
) -> None:
    clock = clock_at("2026-06-01T10:00:00+08:00")
    app = build_app(
        f"sqlite:///{tmp_path}/c.db",
        clock,
        policy_dir=policy_dir_with(tmp_path, BUSINESS),
        default_policy="business",
    )
    agent = auth_header("agent")
    async with client_for(app) as client:

        async def due(received: str) -> datetime:
            body = (
                await client.post(
                    "/v1/complaints", json=new_complaint(received_at=received), headers=agent
                )
            ).json()
            return datetime.fromisoformat(body["deadlines"]["acceptance"]["due_at"])

        # Friday 17:30 before Qingming (4-6 April): Tuesday 7 and Wednesday 8.
        assert await due("2026-04-03T17:30:00+08:00") == datetime.fromisoformat(
            "2026-04-08T17:30:00+08:00"
        )
        # Friday 8 May 17:30: Saturday 9 May is a make-up working day, then Monday 11.
        assert await due("2026-05-08T17:30:00+08:00") == datetime.fromisoformat(
            "2026-05-11T17:30:00+08:00"
        )
        # Saturday noon stands where Friday closed: two working days end Tuesday 18:00.
        assert await due("2026-04-11T12:00:00+08:00") == datetime.fromisoformat(
            "2026-04-14T18:00:00+08:00"
        )
        policies = (await client.get("/v1/policies", headers=agent)).json()
        assert policies[0]["milestones"]["acceptance"] == "P2D"
        assert policies[0]["calendars"] == {"result": "24x7"}
        ready = (await client.get("/readyz")).json()
        assert "calendars_running_out" not in ready, "more than 60 days of calendar left"


def test_a_calendar_that_does_not_cover_next_year_is_refused(tmp_path: Path) -> None:
    from services.complaints.domain.policy import PolicyError

    long = BUSINESS.replace('investigation = "PT4H"', 'investigation = "P30D"')
    with pytest.raises(PolicyError) as refused:
        build_app(
            f"sqlite:///{tmp_path}/c.db",
            clock_at("2026-12-10T10:00:00+08:00"),
            policy_dir=policy_dir_with(tmp_path, long),
            default_policy="business",
        )
    message = str(refused.value)
    assert "policy.toml" in message and "milestones.investigation" in message
    assert "2027" in message and "cn-workdays" in message


async def test_readyz_reports_a_calendar_running_out_within_60_days(
    auth_header: Headers, tmp_path: Path
) -> None:
    app = build_app(
        f"sqlite:///{tmp_path}/c.db",
        clock_at("2026-11-20T10:00:00+08:00"),
        policy_dir=policy_dir_with(tmp_path, BUSINESS),
        default_policy="business",
    )
    async with client_for(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["calendars_running_out"] == {"cn-workdays": "2026-12-31"}


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        (('result = "PT48H"', 'result = "PT48H"\nhandling = "PT48H"'), "milestones.handling"),
        (('result = "PT48H"', 'result = "P1M"'), "milestones.result"),
        (('[calendars]\nresult = "24x7"', '[calendars]\nresult = "nowhere"'), "calendars.result"),
        (("pausable = []", 'pausable = ["handling"]'), "pausable"),
    ],
)
def test_bad_policies_are_refused_at_load_naming_file_key_and_reason(
    tmp_path: Path, replace: tuple[str, str], key: str
) -> None:
    from services.complaints.domain.policy import PolicyError

    text = BUSINESS.replace(*replace)
    assert text != BUSINESS
    with pytest.raises(PolicyError) as refused:
        build_app(
            f"sqlite:///{tmp_path}/c.db",
            clock_at("2026-06-01T10:00:00+08:00"),
            policy_dir=policy_dir_with(tmp_path, text),
            default_policy="business",
        )
    assert key in str(refused.value)
    assert "policy" in str(refused.value)


async def test_the_case_number_carries_the_operators_local_date(
    auth_header: Headers, tmp_path: Path
) -> None:
    # 17:30 UTC on 1 June is 01:30 on 2 June in Shanghai.
    app = build_app(f"sqlite:///{tmp_path}/c.db", clock_at("2026-06-01T17:30:00+00:00"))
    async with client_for(app) as client:
        body = (
            await client.post("/v1/complaints", json=new_complaint(), headers=auth_header("agent"))
        ).json()
        assert body["case_number"].startswith("260602-")


async def test_a_supervisors_follow_up_demand_runs_its_own_clock(case: Case) -> None:
    cid = await case.new()
    agent_try = await case.act(cid, "follow_up", {"text": "call back", "within": "PT2S"})
    assert agent_try.status_code == 403
    demanded = await case.ok(
        cid, "follow_up", {"text": "call the customer back", "within": "PT2S"}, sup=True
    )
    assert demanded["deadlines"]["follow_up"]["due_at"] is not None
    assert "answer_follow_up" in demanded["allowed_actions"]
    again = await case.act(cid, "follow_up", {"text": "again", "within": "PT2S"}, sup=True)
    assert again.status_code == 409, "one open demand at a time"
    await case.later(1.2)
    await case.later(1.2)
    answered = await case.ok(cid, "answer_follow_up", {"text": "called, bill explained"})
    assert answered["deadlines"]["follow_up"]["completed_at"] is not None
    events = await case.events(cid)
    alarms = [(e["type"], e["data"]["milestone"]) for e in events if e["type"].startswith("Sla")]
    assert alarms == [("SlaWarning", "follow_up"), ("SlaBreached", "follow_up")]
    demand = next(e for e in events if e["type"] == "FollowUpDemanded")
    assert demand["data"]["text"] == "call the customer back", "in the case file for staff"


LADDER = (
    FAST
    + """
[[ladder]]
at = "warning"
notify = "owner"

[[ladder]]
at = "breach"
notify = "team_lead"

[[ladder]]
at = "breach"
after = "PT2S"
notify = "department_head"
milestones = ["acceptance"]
"""
)


async def test_the_escalation_ladder_tells_each_level_once_in_order(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    clock = clock_at()
    app = build_app(
        database_url("complaints"),
        clock,
        policy_dir=policy_dir_with(tmp_path, LADDER),
        default_policy="fast",
    )
    async with client_for(app) as client:
        case = Case(client, app, clock, auth_header)
        cid = await case.new()
        policies = (await client.get("/v1/policies", headers=case.agent)).json()
        assert len(policies[0]["ladder"]) == 3
        for step in (31, 30, 1, 1.5, 5):
            await case.later(step)
        steps = [
            (e["data"]["milestone"], e["data"]["level"], e["data"]["notify"])
            for e in await case.events(cid)
            if e["type"] == "LadderStepReached"
        ]
        assert steps == [
            ("acceptance", 1, "owner"),
            ("acceptance", 2, "team_lead"),
            ("acceptance", 3, "department_head"),
        ]
        types = await case.types(cid)
        assert types.index("SlaBreached") < types.index("LadderStepReached", 4)
