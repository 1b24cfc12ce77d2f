"""The complaint workflow over HTTP, on SQLite and PostgreSQL (S-1, S-4, S-5, S-6)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.workflow import Action
from tests.integration.complaints_fixtures import (
    CUSTOMER_EN,
    Headers,
    build_app,
    client_for,
    new_complaint,
)

STEP_BODIES: dict[str, dict[str, Any]] = {
    "accept": {"category": "billing", "severity": "medium"},
    "transfer": {"to_agent": "agent-2", "reason": "billing specialist"},
    "claim": {"reason": "the owner is on leave"},
    "investigate": {"findings": "Double charge confirmed"},
    "resolve": {"resolution": "Refund issued", "remedy": "CNY 30 credit"},
    "confirm": {"satisfaction": 4, "comment": "ok"},
    "dispute": {"reason": "Refund too small"},
    "reopen": {"reason": "New evidence"},
    "escalate": {"body": "MIIT appeal centre", "reference": "APL-1"},
    "return": {"decision": "Refund the full amount", "reference": "12300-2026-1"},
    "restore": {"how": "Base station rebooted"},
    "follow_up": {"text": "Call the customer today", "within": "PT2H"},
    "answer_follow_up": {"text": "Called"},
    "close": {"outcome": "Resolved with refund", "reason": "Customer agreed by phone"},
    "withdraw": {"reason": "Customer withdrew"},
    "notes": {"text": "Called the customer back"},
    "pause": {"reason": "awaiting_customer", "note": "Awaiting bill copy"},
    "resume": {"reason": "Bill copy received"},
    "contact": {"email": "new@example.com"},
    "erase": {"reason": "Customer asked for erasure"},
}


@pytest.fixture
async def api(database_url: Callable[[str], str], auth_header: Headers) -> Any:
    clock = ShiftedClock()
    app = build_app(database_url("complaints"), clock)
    async with client_for(app) as client:
        yield client, clock, app


@pytest.fixture
async def claims_api(database_url: Callable[[str], str]) -> Any:
    """A client where agents may claim, so the workflow's whole table is offered."""
    app = build_app(database_url("complaints"), ShiftedClock(), allow_claims=True)
    async with client_for(app) as client:
        yield client


async def _register(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post("/v1/complaints", json=new_complaint(**body), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _act(
    client: httpx.AsyncClient, cid: str, action: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/v1/complaints/{cid}/{action}", json=STEP_BODIES[action], headers=headers
    )


async def test_walks_a_complaint_from_registration_to_closure(
    api: Any, auth_header: Headers
) -> None:
    client, _, _ = api
    agent = auth_header("agent", sub="agent-1")
    supervisor = auth_header("supervisor", sub="sup-1")
    created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
    assert created.status_code == 201
    body = created.json()
    cid = body["id"]
    assert created.headers["location"] == f"/v1/complaints/{cid}"
    assert created.headers["etag"] == '"1"'
    assert body["status"] == "received"
    assert body["owner"] == "agent-1"
    assert body["customer"]["phone"] == "138****5678"
    assert body["customer"]["name"] == "张*"
    assert body["policy"] == {"id": "cn-service-spec", "version": 2}

    for action, who, status in [
        ("accept", agent, "accepted"),
        ("transfer", agent, "accepted"),
        ("investigate", agent, "investigated"),
        ("resolve", agent, "resolved"),
        ("confirm", agent, "resolved"),
        ("close", supervisor, "closed"),
    ]:
        response = await _act(client, cid, action, who)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == status
    final = response.json()
    assert final["owner"] == "agent-1", "first-contact agent stays owner after a transfer"
    assert final["assignee"] == {"type": "agent", "id": "agent-2"}
    assert final["confirmed"] is True and final["satisfaction"] == 4
    assert final["allowed_actions"] == ["dispute", "notes", "erase"], "within the window"
    deadlines = final["deadlines"]
    started = {k: d for k, d in deadlines.items() if d["due_at"]}
    assert set(started) == {"acceptance", "investigation", "result", "overall"}
    assert all(d["completed_at"] for d in started.values())
    assert deadlines["dispute"]["due_at"] is None, "never disputed: no dispute clock"

    by_number = await client.get(f"/v1/complaints/by-number/{final['case_number']}", headers=agent)
    assert by_number.json()["id"] == cid

    history = (
        await client.get(
            f"/v1/complaints/{cid}/history", params={"purpose": "case review"}, headers=agent
        )
    ).json()
    assert [e["type"] for e in history["events"]] == [
        "Registered",
        "Accepted",
        "Transferred",
        "Investigated",
        "Resolved",
        "Confirmed",
        "Closed",
        "TextRead",  # this very read of the words, on record
    ]
    assert [e["version"] for e in history["events"]] == list(range(1, 9))
    assert history["events"][-2]["actor"] == {"id": "sup-1", "role": "supervisor"}
    assert history["events"][-1]["actor"] == {"id": "agent-1", "role": "agent"}
    assert history["events"][2]["data"]["reason"] == "billing specialist"
    assert "13812345678" not in str(history)


async def test_dispute_reopens_with_fresh_clocks_then_escalates(
    api: Any, auth_header: Headers
) -> None:
    client, clock, _ = api
    agent = auth_header("agent", sub="agent-1")
    supervisor = auth_header("supervisor", sub="sup-1")
    cid = (await _register(client, agent))["id"]
    for action in ("accept", "investigate", "resolve", "dispute"):
        assert (await _act(client, cid, action, agent)).status_code == 200
    clock.advance(timedelta(hours=10))
    reopened = (await _act(client, cid, "reopen", agent)).json()
    assert reopened["status"] == "accepted"
    investigation = reopened["deadlines"]["investigation"]
    assert investigation["completed_at"] is None
    due = datetime.fromisoformat(investigation["due_at"])
    assert abs(due - (clock.now() + timedelta(hours=72))) < timedelta(seconds=5)
    assert reopened["deadlines"]["result"]["due_at"] is None, "the result clock restarts later"
    for action in ("investigate", "resolve", "dispute"):
        assert (await _act(client, cid, action, agent)).status_code == 200
    escalated = await _act(client, cid, "escalate", supervisor)
    assert escalated.json()["status"] == "escalated"
    assert escalated.json()["escalation"] == {"body": "MIIT appeal centre", "reference": "APL-1"}
    assert (await _act(client, cid, "close", supervisor)).json()["status"] == "closed"


async def test_every_refused_transition_names_the_status_and_the_allowed_actions(
    claims_api: httpx.AsyncClient, auth_header: Headers
) -> None:
    # Claims allowed: with them off, `claim` is never offered (test_need_to_know).
    client = claims_api
    agent = auth_header("agent", sub="agent-1")
    supervisor = auth_header("supervisor", sub="sup-1")
    # One complaint parked in each status.
    paths = {
        "received": [],
        "accepted": ["accept"],
        "investigated": ["accept", "investigate"],
        "resolved": ["accept", "investigate", "resolve"],
        "disputed": ["accept", "investigate", "resolve", "dispute"],
        "escalated": ["accept", "investigate", "resolve", "dispute", "escalate"],
        "returned": ["accept", "investigate", "resolve", "dispute", "escalate", "return"],
        "closed": ["accept", "investigate", "resolve", "close"],
        "withdrawn": ["withdraw"],
    }
    expected_allowed = {
        "received": {
            "follow_up",
            "claim",
            "accept",
            "transfer",
            "withdraw",
            "notes",
            "pause",
            "resume",
            "contact",
        },
        "accepted": {
            "follow_up",
            "claim",
            "transfer",
            "investigate",
            "withdraw",
            "notes",
            "pause",
            "resume",
            "contact",
        },
        "investigated": {
            "follow_up",
            "claim",
            "transfer",
            "resolve",
            "withdraw",
            "notes",
            "pause",
            "resume",
            "contact",
        },
        "resolved": {
            "follow_up",
            "claim",
            *("transfer", "confirm", "dispute", "escalate", "close", "withdraw", "notes"),
            "contact",
        },
        "disputed": {
            "follow_up",
            "claim",
            "transfer",
            "reopen",
            "escalate",
            "close",
            "withdraw",
            "notes",
            "contact",
        },
        "escalated": {
            *("follow_up", "claim", "transfer", "return", "close", "withdraw", "notes", "contact"),
        },
        "returned": {
            *("follow_up", "claim", "transfer", "reopen", "close", "withdraw", "notes", "contact"),
        },
        "closed": {"dispute", "notes", "erase"},
        "withdrawn": {"notes", "erase"},
    }
    for status, steps in paths.items():
        cid = (await _register(client, agent))["id"]
        for step in steps:
            assert (await _act(client, cid, step, supervisor)).status_code == 200, step
        current = (await client.get(f"/v1/complaints/{cid}", headers=agent)).json()
        assert current["status"] == status
        assert set(current["allowed_actions"]) == expected_allowed[status]
        for action in Action:
            if action.value in expected_allowed[status]:
                continue
            refused = await _act(client, cid, action.value, supervisor)
            assert refused.status_code == 409, (status, action)
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["status_name"] == status
            assert set(problem["allowed_actions"]) == expected_allowed[status]
        after = (await client.get(f"/v1/complaints/{cid}", headers=agent)).json()
        assert after["version"] == current["version"], "a refused action writes nothing"


async def test_role_rules_for_supervisor_only_actions(api: Any, auth_header: Headers) -> None:
    client, _, _ = api
    agent = auth_header("agent", sub="agent-1")
    cid = (await _register(client, agent))["id"]
    team = await client.post(
        f"/v1/complaints/{cid}/transfer",
        json={"to_team": "network-ops", "reason": "fault"},
        headers=agent,
    )
    assert team.status_code == 403
    for action in ("accept", "investigate", "resolve"):
        await _act(client, cid, action, agent)
    assert (await _act(client, cid, "close", agent)).status_code == 403
    assert (await _act(client, cid, "escalate", agent)).status_code == 403
    sup_team = await client.post(
        f"/v1/complaints/{cid}/transfer",
        json={"to_team": "network-ops", "reason": "fault"},
        headers=auth_header("supervisor"),
    )
    assert sup_team.json()["assignee"] == {"type": "team", "id": "network-ops"}


async def test_reads_as_of_a_moment_and_at_a_version(api: Any, auth_header: Headers) -> None:
    client, clock, _ = api
    agent = auth_header("agent", sub="agent-1")
    cid = (await _register(client, agent, customer=CUSTOMER_EN))["id"]
    clock.advance(timedelta(hours=1))
    await _act(client, cid, "accept", agent)
    between = clock.now() + timedelta(minutes=30)
    clock.advance(timedelta(hours=1))
    await _act(client, cid, "investigate", agent)

    v1 = (await client.get(f"/v1/complaints/{cid}?version=1", headers=agent)).json()
    assert (v1["status"], v1["version"]) == ("received", 1)
    v2 = (await client.get(f"/v1/complaints/{cid}?version=2", headers=agent)).json()
    assert v2["status"] == "accepted"
    as_of = await client.get(
        f"/v1/complaints/{cid}", params={"as_of": between.isoformat()}, headers=agent
    )
    assert (as_of.json()["status"], as_of.json()["version"]) == ("accepted", 2)
    before = await client.get(
        f"/v1/complaints/{cid}",
        params={"as_of": (clock.now() - timedelta(days=1)).isoformat()},
        headers=agent,
    )
    assert before.status_code == 404
    missing = await client.get(f"/v1/complaints/{cid}?version=9", headers=agent)
    assert missing.status_code == 404


async def test_idempotent_replay_and_key_reuse(api: Any, auth_header: Headers) -> None:
    client, _, _ = api
    agent = auth_header("agent", sub="agent-1")
    key = {"Idempotency-Key": "create-1"}
    first = await client.post("/v1/complaints", json=new_complaint(), headers={**agent, **key})
    again = await client.post("/v1/complaints", json=new_complaint(), headers={**agent, **key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/v1/complaints", json=new_complaint(description="different"), headers={**agent, **key}
    )
    assert other.status_code == 422
    page = (await client.get("/v1/complaints", headers=agent)).json()
    assert len(page["items"]) == 1, "the replay registered nothing new"

    cid = first.json()["id"]
    note_key = {**agent, "Idempotency-Key": "note-1"}
    n1 = await client.post(f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers=note_key)
    n2 = await client.post(f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers=note_key)
    assert n1.json()["version"] == n2.json()["version"] == 2


async def test_if_match_and_concurrent_writes(api: Any, auth_header: Headers) -> None:
    client, _, _ = api
    agent = auth_header("agent", sub="agent-1")
    cid = (await _register(client, agent))["id"]
    stale = await client.post(
        f"/v1/complaints/{cid}/notes", json={"text": "a"}, headers={**agent, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    ok = await client.post(
        f"/v1/complaints/{cid}/notes", json={"text": "a"}, headers={**agent, "If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'

    responses = await asyncio.gather(
        *[
            client.post(f"/v1/complaints/{cid}/notes", json={"text": f"n{i}"}, headers=agent)
            for i in range(12)
        ]
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
    notes = [e for e in history["events"] if e["type"] == "NoteAdded"]
    assert len(notes) == 1 + statuses.count(200)


async def test_work_queue_filters_and_cursor(api: Any, auth_header: Headers) -> None:
    client, clock, _ = api
    a1 = auth_header("agent", sub="agent-1")
    a2 = auth_header("agent", sub="agent-2")
    ids = []
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        ids.append((await _register(client, a1 if i % 2 == 0 else a2, category="billing"))["id"])
    await _act(client, ids[0], "accept", a1)
    mine = (await client.get("/v1/complaints?owner=agent-1", headers=a1)).json()["items"]
    assert {r["complaint_id"] for r in mine} == {ids[0], ids[2], ids[4]}
    accepted = (await client.get("/v1/complaints?status=accepted", headers=a1)).json()["items"]
    assert [r["complaint_id"] for r in accepted] == [ids[0]]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/complaints", params=params, headers=a1)).json()
        seen += [r["complaint_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    soon = (clock.now() + timedelta(hours=25)).isoformat()
    due = (await client.get("/v1/complaints", params={"due_before": soon}, headers=a1)).json()
    assert {r["complaint_id"] for r in due["items"]} == set(ids[1:])
    bad = await client.get("/v1/complaints?cursor=!!!", headers=a1)
    assert bad.status_code == 400


async def test_data_survives_a_service_restart(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(url, ShiftedClock())) as client:
        cid = (await _register(client, agent))["id"]
        await _act(client, cid, "accept", agent)
    async with client_for(build_app(url, ShiftedClock())) as client:
        again = await client.get(f"/v1/complaints/{cid}", headers=agent)
        assert again.status_code == 200
        assert (again.json()["status"], again.json()["version"]) == ("accepted", 2)
        queue = (await client.get("/v1/complaints", headers=agent)).json()["items"]
        assert [r["complaint_id"] for r in queue] == [cid]


def test_received_at_defaults_to_now() -> None:
    assert datetime.now(UTC).tzinfo is UTC


async def test_long_histories_are_snapshotted_and_every_version_still_reads(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    app = build_app(database_url("complaints"), ShiftedClock(), snapshot_interval=5)
    async with client_for(app) as client:
        cid = (await _register(client, agent))["id"]
        for i in range(12):
            note = await client.post(
                f"/v1/complaints/{cid}/notes", json={"text": f"call {i}"}, headers=agent
            )
            assert note.status_code == 200
        snapshots = list(app.state.complaints.snapshots.get(uuid.UUID(cid)))
        assert [s.originator_version for s in snapshots] == [5, 10]
        for version in (3, 7, 13):
            old = await client.get(f"/v1/complaints/{cid}?version={version}", headers=agent)
            assert old.json()["version"] == version
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        assert len(history["events"]) == 13, "snapshots never replace the case file"


async def test_a_write_that_loses_the_race_is_a_409_and_writes_nothing(
    database_url: Callable[[str], str], auth_header: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url("complaints")
    first, second = build_app(url, ShiftedClock()), build_app(url, ShiftedClock())
    agent = {**auth_header("agent", sub="agent-1")}
    async with client_for(first) as one, client_for(second) as two:
        cid = (await _register(one, agent))["id"]
        # The second replica loaded the complaint just before the first one wrote.
        stale = second.state.complaints.get(uuid.UUID(cid))
        assert (await _act(one, cid, "notes", agent)).status_code == 200
        monkeypatch.setattr(second.state.complaints, "get", lambda *a, **k: stale)
        # With If-Match the caller named the version it saw, so a lost race is
        # not retried for it (without If-Match it is: tests/integration/test_lost_races.py).
        keyed = {**agent, "Idempotency-Key": "race-1"}
        lost = await two.post(
            f"/v1/complaints/{cid}/notes", json={"text": "b"}, headers={**keyed, "If-Match": '"1"'}
        )
        assert lost.status_code == 409
        assert lost.headers["content-type"] == "application/problem+json"
        monkeypatch.undo()
        history = (await one.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        assert [e["type"] for e in history["events"]] == ["Registered", "NoteAdded"]
        retried = await two.post(f"/v1/complaints/{cid}/notes", json={"text": "b"}, headers=keyed)
        assert retried.status_code == 200, "a lost race is not replayed to a retry"
        assert retried.json()["version"] == 3
