"""Need-to-know on a case (issue 8, item 1; S-4, S-11).

Only a case's owner, its assignee (an agent, or a member of the assigned
team per the staff directory) and supervisors act on it and read its clear
contact; taking over someone else's case is a supervisor's transfer, or a
claim of an unassigned case where the operator allows claims. The
customer's words are opened only for those people and regulators, each
opening on record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.workflow import Action
from services.complaints.http.actions import ACTION_BODIES, ACTION_ROLES
from services.complaints.http.exchange import WORKERS
from services.kernel.auth import Role
from tests.integration.complaints_fixtures import (
    CUSTOMER_ZH,
    Headers,
    build_app,
    client_for,
    new_complaint,
)
from tests.integration.test_complaints_workflow import STEP_BODIES

DESCRIPTION = "手机没有信号 / no signal at home"
STAFF = """
[staff.agent-1]
email = "agent-1@operator.example"
[staff.agent-3]
email = "agent-3@operator.example"
[staff.agent-9]
email = "agent-9@operator.example"
[staff.sup-1]
email = "sup-1@operator.example"
role = "supervisor"

[teams.billing]
members = ["agent-3"]
"""

ACTIONS: dict[str, dict[str, Any]] = {
    "accept": {"category": "billing", "severity": "low"},
    "transfer": {"to_agent": "agent-9", "reason": "x"},
    "notes": {"text": "looked at it"},
    "pause": {"reason": "awaiting_customer"},
    "withdraw": {"reason": "x"},
    "contact": {"phone": "13900001111"},
}


def _staff_file(tmp_path: Path) -> Path:
    path = tmp_path / "staff.toml"
    path.write_text(STAFF, encoding="utf-8")
    return path


async def _register(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/v1/complaints", json=new_complaint(), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _forbidden(response: httpx.Response, what: str) -> None:
    assert response.status_code == 403, (what, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", what


async def test_an_agent_cannot_take_or_touch_someone_elses_case(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    """The review's reproduction: a self-transfer opened the clear contact (then changed it)."""
    owner = auth_header("agent", sub="agent-1")
    other = auth_header("agent", sub="agent-9")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        cid = (await _register(client, owner))["id"]
        _forbidden(
            await client.post(
                f"/v1/complaints/{cid}/transfer",
                json={"to_agent": "agent-9", "reason": "x"},
                headers=other,
            ),
            "self-transfer",
        )
        _forbidden(
            await client.get(
                f"/v1/complaints/{cid}/contact", params={"purpose": "x" * 3}, headers=other
            ),
            "contact",
        )
        for action, body in ACTIONS.items():
            _forbidden(
                await client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=other),
                action,
            )
        view = (await client.get(f"/v1/complaints/{cid}", headers=owner)).json()
        assert view["version"] == 1, "nothing was written"
        assert view["assignee"] is None
        # The owner works it; a supervisor may also hand it over.
        accepted = await client.post(
            f"/v1/complaints/{cid}/accept", json=ACTIONS["accept"], headers=owner
        )
        assert accepted.status_code == 200
        taken = await client.post(
            f"/v1/complaints/{cid}/transfer",
            json={"to_agent": "agent-9", "reason": "owner on leave"},
            headers=auth_header("supervisor", sub="sup-1"),
        )
        assert taken.status_code == 200 and taken.json()["assignee"]["id"] == "agent-9"
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "call back"}, headers=other
        )
        assert contact.status_code == 200, "now the assignee"
        assert contact.json()["customer"]["phone"] == CUSTOMER_ZH["phone"]
        still = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "accountable"}, headers=owner
        )
        assert still.status_code == 200, "the owner stays accountable (S-4)"


async def test_a_case_transferred_to_a_team_is_worked_by_its_members(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    owner = auth_header("agent", sub="agent-1")
    member = auth_header("agent", sub="agent-3")
    outsider = auth_header("agent", sub="agent-9")
    app = build_app(
        database_url("complaints"), ShiftedClock(), staff_directory=_staff_file(tmp_path)
    )
    async with client_for(app) as client:
        cid = (await _register(client, owner))["id"]
        to_team = await client.post(
            f"/v1/complaints/{cid}/transfer",
            json={"to_team": "billing", "reason": "billing specialists"},
            headers=auth_header("supervisor", sub="sup-1"),
        )
        assert to_team.status_code == 200, to_team.text
        accepted = await client.post(
            f"/v1/complaints/{cid}/accept", json=ACTIONS["accept"], headers=member
        )
        assert accepted.status_code == 200, "a member of the assigned team works the case"
        mine = await client.post(
            f"/v1/complaints/{cid}/transfer",
            json={"to_agent": "agent-3", "reason": "I take it"},
            headers=member,
        )
        assert mine.status_code == 200, "a team member takes it from the team's queue"
        _forbidden(
            await client.post(f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers=outsider),
            "outsider's note",
        )
        _forbidden(
            await client.get(
                f"/v1/complaints/{cid}/contact", params={"purpose": "curious"}, headers=outsider
            ),
            "outsider's contact read",
        )


async def test_the_customers_words_are_opened_on_record_for_those_with_need(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    owner = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        registered = await _register(client, owner)
        cid = registered["id"]
        assert registered["description"] == "[withheld]", "a write's answer opens nothing"
        for sub, roles in (("agent-9", ("agent",)), ("ops", ("admin",)), ("portal", ("service",))):
            headers = auth_header(*roles, sub=sub)
            plain = (await client.get(f"/v1/complaints/{cid}", headers=headers)).json()
            assert plain["description"] == "[withheld]", sub
            for url in (f"/v1/complaints/{cid}", f"/v1/complaints/{cid}/history"):
                _forbidden(
                    await client.get(url, params={"purpose": "curious"}, headers=headers),
                    f"{sub} {url}",
                )
        plain = (await client.get(f"/v1/complaints/{cid}", headers=owner)).json()
        assert plain["description"] == "[withheld]", "without a purpose, withheld to anyone"
        assert plain["version"] == 1, "and nothing recorded"
        opened = await client.get(
            f"/v1/complaints/{cid}", params={"purpose": "handling the case"}, headers=owner
        )
        assert opened.status_code == 200
        assert opened.json()["description"] == DESCRIPTION
        assert opened.headers["etag"] == '"2"', "the answer is the case after the read"
        regulator = auth_header("regulator", sub="miit-1")
        reviewed = await client.get(
            f"/v1/complaints/{cid}/history", params={"purpose": "appeal review"}, headers=regulator
        )
        assert reviewed.json()["events"][0]["data"]["description"] == DESCRIPTION
        reads = (await client.get(f"/v1/complaints/{cid}/contact-reads", headers=regulator)).json()
        assert [(r["actor"]["id"], r["purpose"], r["scope"]) for r in reads["text_reads"]] == [
            ("agent-1", "handling the case", "complaint"),
            ("miit-1", "appeal review", "history"),
        ]
        feed = (await client.get("/v1/events", headers=auth_header("service"))).json()["items"]
        assert [i["data"]["scope"] for i in feed if i["type"] == "TextRead"] == [
            "complaint",
            "history",
        ]
        assert DESCRIPTION not in str(feed)


async def test_claiming_an_unassigned_case_only_where_allowed_and_on_record(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    owner = auth_header("agent", sub="agent-1")
    claimer = auth_header("agent", sub="agent-9")
    url = database_url("complaints")
    async with client_for(build_app(url, ShiftedClock())) as client:
        cid = (await _register(client, owner))["id"]
        _forbidden(
            await client.post(
                f"/v1/complaints/{cid}/claim", json={"reason": "queue overflow"}, headers=claimer
            ),
            "claims off by default",
        )
    async with client_for(build_app(url, ShiftedClock(), allow_claims=True)) as client:
        claimed = await client.post(
            f"/v1/complaints/{cid}/claim", json={"reason": "queue overflow"}, headers=claimer
        )
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["assignee"] == {"type": "agent", "id": "agent-9"}
        assert claimed.json()["owner"] == "agent-1", "the owner stays accountable"
        assert "claim" not in claimed.json()["allowed_actions"]
        again = await client.post(
            f"/v1/complaints/{cid}/claim",
            json={"reason": "me too"},
            headers=auth_header("agent", sub="agent-8"),
        )
        assert again.status_code == 409, "an assigned case is a supervisor's to transfer"
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "call back"}, headers=claimer
        )
        assert contact.status_code == 200
        history = (
            await client.get(
                f"/v1/complaints/{cid}/history",
                params={"purpose": "audit the claim"},
                headers=auth_header("supervisor", sub="sup-1"),
            )
        ).json()["events"]
        claim = next(e for e in history if e["type"] == "Claimed")
        assert claim["actor"] == {"id": "agent-9", "role": "agent"}
        assert claim["data"]["reason"] == "queue overflow"
        feed = (await client.get("/v1/events", headers=auth_header("service"))).json()["items"]
        item = next(i for i in feed if i["type"] == "Claimed")
        assert item["data"]["assignee"] == {"type": "agent", "id": "agent-9"}
        assert item["data"]["sealed"]["reason"].startswith("sha256:"), "a commitment only"
        assert "queue overflow" not in str(feed)


async def test_claim_is_offered_only_where_claims_are_allowed(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    """`allowed_actions` never offers a claim the deployment would refuse (claims off)."""
    owner = auth_header("agent", sub="agent-1")
    url = database_url("complaints")

    async def offered(client: httpx.AsyncClient, cid: str) -> dict[str, list[str]]:
        read = await client.get(f"/v1/complaints/{cid}", headers=owner)
        by_number = await client.get(
            f"/v1/complaints/by-number/{read.json()['case_number']}", headers=owner
        )
        noted = await client.post(
            f"/v1/complaints/{cid}/notes", json={"text": "called back"}, headers=owner
        )
        refused = await client.post(
            f"/v1/complaints/{cid}/investigate", json=STEP_BODIES["investigate"], headers=owner
        )
        assert refused.status_code == 409, refused.text
        return {
            "read": read.json()["allowed_actions"],
            "by number": by_number.json()["allowed_actions"],
            "written": noted.json()["allowed_actions"],
            "refusal": refused.json()["allowed_actions"],
        }

    async with client_for(build_app(url, ShiftedClock())) as client:
        registered = await _register(client, owner)
        assert registered["assignee"] is None, "an unassigned case: claimable where allowed"
        assert "claim" not in registered["allowed_actions"], "claims are off by default"
        for where, actions in (await offered(client, registered["id"])).items():
            assert "claim" not in actions, where
            assert "accept" in actions, where
    async with client_for(build_app(url, ShiftedClock(), allow_claims=True)) as client:
        registered = await _register(client, owner)
        assert "claim" in registered["allowed_actions"]
        for where, actions in (await offered(client, registered["id"])).items():
            assert "claim" in actions, where


async def test_every_action_an_agent_may_take_is_refused_on_someone_elses_case(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    """Route by route: being an agent is not enough, the case must be yours."""
    owner = auth_header("agent", sub="agent-1")
    other = auth_header("agent", sub="agent-9")
    agent_actions = [
        action
        for action in ACTION_BODIES
        if Role.AGENT in ACTION_ROLES.get(action, WORKERS) and action is not Action.CLAIM
    ]
    assert len(agent_actions) >= 14
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        cid = (await _register(client, owner))["id"]
        for action in agent_actions:
            _forbidden(
                await client.post(
                    f"/v1/complaints/{cid}/{action.value}",
                    json=STEP_BODIES[action.value],
                    headers=other,
                ),
                action.value,
            )
        view = (await client.get(f"/v1/complaints/{cid}", headers=owner)).json()
        assert view["version"] == 1, "nothing was written"
