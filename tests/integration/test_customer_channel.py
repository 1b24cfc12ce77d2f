"""The customer's channel on the complaints service: acts by role `customer`, codes, tokens.

Over HTTP (in-process ASGI) on SQLite and PostgreSQL; the routes take the
`service` role only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.complaints.domain.clock import ShiftedClock
from services.kernel.customer_tokens import CustomerTokenRefused, CustomerTokens
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint

CUSTOMER_SECRET = "customer-token-secret-for-tests-0123456789abcdef"
BASE = "/v1/customer-cases"


@pytest.fixture
async def api(database_url: Callable[[str], str]) -> Any:
    clock = ShiftedClock()
    app = build_app(
        database_url("complaints"),
        clock,
        customer_token_secret=CUSTOMER_SECRET,
        code_max_wrong_tries=3,
        code_lifetime_seconds=300,
    )
    async with client_for(app) as client:
        yield client, clock


async def _resolved(client: httpx.AsyncClient, auth_header: Headers) -> dict[str, Any]:
    agent = auth_header("agent", sub="agent-1")
    created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    steps = [
        ("accept", {"category": "billing", "severity": "medium"}),
        ("investigate", {"findings": "Double charge"}),
        ("resolve", {"resolution": "Refund issued", "remedy": "CNY 30 credit"}),
    ]
    for action, body in steps:
        r = await client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=agent)
        assert r.status_code == 200, r.text
    doc: dict[str, Any] = created.json()
    return doc


async def _history(client: httpx.AsyncClient, cid: str, auth_header: Headers) -> list[Any]:
    r = await client.get(
        f"/v1/complaints/{cid}/history",
        params={"purpose": "read the customer's message"},
        headers=auth_header("supervisor"),
    )
    # The read itself is on file (TextRead); the tests look at what came before it.
    events: list[Any] = [e for e in r.json()["events"] if e["type"] != "TextRead"]
    return events


async def test_staff_tokens_cannot_use_the_customer_routes(api: Any, auth_header: Headers) -> None:
    client, _ = api
    complaint = await _resolved(client, auth_header)
    for role in ("agent", "supervisor", "admin"):
        r = await client.get(f"{BASE}/{complaint['case_number']}", headers=auth_header(role))
        assert r.status_code == 403


async def test_customer_view_and_confirm_by_role_customer(api: Any, auth_header: Headers) -> None:
    client, _ = api
    complaint = await _resolved(client, auth_header)
    number, service = complaint["case_number"], auth_header("service", sub="portal")
    view = (await client.get(f"{BASE}/{number}", headers=service)).json()
    assert view["status"] == "resolved"
    assert view["customer"]["phone"] == "138****5678"
    assert view["result"] == {"resolution": "Refund issued", "remedy": "CNY 30 credit"}
    assert view["allowed_actions"] == ["confirm", "dispute"]
    r = await client.post(
        f"{BASE}/{number}/confirm", json={"satisfaction": 4, "comment": "fine"}, headers=service
    )
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] is True and r.json()["allowed_actions"] == []
    last = (await _history(client, complaint["id"], auth_header))[-1]
    assert last["type"] == "Confirmed"
    assert last["actor"] == {"id": "customer", "role": "customer", "via": "portal"}
    assert last["data"]["satisfaction"] == 4
    again = await client.post(f"{BASE}/{number}/confirm", json={"satisfaction": 5}, headers=service)
    assert again.status_code == 409


async def test_dispute_by_sms_and_survey_after_close(api: Any, auth_header: Headers) -> None:
    client, _ = api
    service = auth_header("service", sub="notifications")
    first = await _resolved(client, auth_header)
    r = await client.post(
        f"{BASE}/{first['case_number']}/dispute",
        params={"via": "sms"},
        json={"reason": "不满意"},
        headers=service,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disputed"
    last = (await _history(client, first["id"], auth_header))[-1]
    assert (last["type"], last["actor"]["role"], last["actor"]["via"]) == (
        "Disputed",
        "customer",
        "sms",
    )
    # Closed without confirmation: the rating answers the survey, once.
    second = await _resolved(client, auth_header)
    closed = await client.post(
        f"/v1/complaints/{second['id']}/close",
        # Before the confirmation window ends: an early close, with its reason (issue 9).
        json={"outcome": "Refunded", "reason": "customer agreed by phone"},
        headers=auth_header("supervisor"),
    )
    assert closed.status_code == 200, closed.text
    rated = await client.post(
        f"{BASE}/{second['case_number']}/confirm", json={"satisfaction": 5}, headers=service
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["satisfaction"] == 5
    last = (await _history(client, second["id"], auth_header))[-1]
    assert (last["type"], last["actor"]["role"]) == ("SurveyAnswered", "customer")
    twice = await client.post(
        f"{BASE}/{second['case_number']}/confirm", json={"satisfaction": 1}, headers=service
    )
    assert twice.status_code == 409


async def test_message_is_sealed_out_of_the_feed(api: Any, auth_header: Headers) -> None:
    client, _ = api
    complaint = await _resolved(client, auth_header)
    r = await client.post(
        f"{BASE}/{complaint['case_number']}/messages",
        params={"via": "sms"},
        json={"text": "请回电 13812345678"},
        headers=auth_header("service"),
    )
    assert r.status_code == 202
    feed = await client.get("/v1/events", headers=auth_header("service"))
    item = feed.json()["items"][-1]
    assert item["type"] == "CustomerMessaged"
    assert "13812345678" not in feed.text
    history = await _history(client, complaint["id"], auth_header)
    assert history[-1]["data"]["text"] == "请回电 13812345678"  # staff on the case read it


async def test_link_tokens_are_for_one_case(api: Any, auth_header: Headers) -> None:
    client, _ = api
    one, other = await _resolved(client, auth_header), await _resolved(client, auth_header)
    r = await client.post(
        f"{BASE}/{one['case_number']}/link-tokens", headers=auth_header("service")
    )
    assert r.status_code == 201
    tokens = CustomerTokens([CUSTOMER_SECRET])
    assert tokens.verify(r.json()["token"], one["case_number"]).case_number == one["case_number"]
    with pytest.raises(CustomerTokenRefused):
        tokens.verify(r.json()["token"], other["case_number"])
    # A customer token is no staff token.
    staff = await client.get(
        f"/v1/complaints/{one['id']}", headers={"Authorization": f"Bearer {r.json()['token']}"}
    )
    assert staff.status_code == 401
    missing = await client.post(f"{BASE}/000000-000000/link-tokens", headers=auth_header("service"))
    assert missing.status_code == 404


async def test_one_time_code_flow(api: Any, auth_header: Headers) -> None:
    client, clock = api
    service = auth_header("service", sub="portal")
    complaint = await _resolved(client, auth_header)
    number, cid = complaint["case_number"], complaint["id"]
    # The phone on file is 13812345678: written with +86, spaces and dashes it still matches.
    r = await client.post(
        f"{BASE}/{number}/codes", json={"phone": "+86 138-1234-5678"}, headers=service
    )
    assert r.status_code == 202
    issued = (await _history(client, cid, auth_header))[-1]
    assert issued["type"] == "AccessCodeIssued"
    sent = await client.get(f"{BASE}/by-id/{cid}/codes/{issued['version']}", headers=service)
    assert sent.status_code == 200
    code = sent.json()["code"]
    assert len(code) == 6 and code.isdigit()
    assert code not in str(await _history(client, cid, auth_header))
    wrong = "000000" if code != "000000" else "111111"
    bad = await client.post(f"{BASE}/{number}/tokens", json={"code": wrong}, headers=service)
    assert bad.status_code == 401
    good = await client.post(f"{BASE}/{number}/tokens", json={"code": code}, headers=service)
    assert good.status_code == 201, good.text
    CustomerTokens([CUSTOMER_SECRET]).verify(good.json()["token"], number)
    reused = await client.post(f"{BASE}/{number}/tokens", json={"code": code}, headers=service)
    assert reused.status_code == 401  # single use
    types = [e["type"] for e in await _history(client, cid, auth_header)]
    assert types[-4:] == [
        "AccessCodeIssued",
        "AccessCodeRefused",
        "AccessCodeUsed",
        "AccessCodeRefused",
    ]
    gone = await client.get(f"{BASE}/by-id/{cid}/codes/{issued['version']}", headers=service)
    assert gone.status_code == 410
    # Expiry: a code older than its lifetime is refused.
    await client.post(f"{BASE}/{number}/codes", json={"phone": "13812345678"}, headers=service)
    version = (await _history(client, cid, auth_header))[-1]["version"]
    late = (await client.get(f"{BASE}/by-id/{cid}/codes/{version}", headers=service)).json()["code"]
    clock.advance(timedelta(seconds=301))
    expired = await client.post(f"{BASE}/{number}/tokens", json={"code": late}, headers=service)
    assert expired.status_code == 401


async def test_wrong_tries_lock_the_case(api: Any, auth_header: Headers) -> None:
    client, clock = api
    service = auth_header("service", sub="portal")
    complaint = await _resolved(client, auth_header)
    number, cid = complaint["case_number"], complaint["id"]
    # A wrong phone is a wrong try too, and answers the same 202.
    r = await client.post(f"{BASE}/{number}/codes", json={"phone": "13900000000"}, headers=service)
    assert r.status_code == 202
    assert (await _history(client, cid, auth_header))[-1]["data"]["reason"] == "phone-mismatch"
    await client.post(f"{BASE}/{number}/codes", json={"phone": "13812345678"}, headers=service)
    version = (await _history(client, cid, auth_header))[-1]["version"]
    code = (await client.get(f"{BASE}/by-id/{cid}/codes/{version}", headers=service)).json()["code"]
    wrong = "000000" if code != "000000" else "111111"
    first = await client.post(f"{BASE}/{number}/tokens", json={"code": wrong}, headers=service)
    assert first.status_code == 401
    locked = await client.post(f"{BASE}/{number}/tokens", json={"code": wrong}, headers=service)
    assert locked.status_code == 429  # the third wrong try locks
    right = await client.post(f"{BASE}/{number}/tokens", json={"code": code}, headers=service)
    assert right.status_code == 429  # even the right code, while locked
    before = len(await _history(client, cid, auth_header))
    await client.post(f"{BASE}/{number}/codes", json={"phone": "13812345678"}, headers=service)
    assert len(await _history(client, cid, auth_header)) == before  # no code while locked
    clock.advance(timedelta(hours=1))
    await client.post(f"{BASE}/{number}/codes", json={"phone": "13812345678"}, headers=service)
    assert (await _history(client, cid, auth_header))[-1]["type"] == "AccessCodeIssued"


async def test_unknown_case_answers_like_a_known_one(api: Any, auth_header: Headers) -> None:
    client, _ = api
    service = auth_header("service")
    r = await client.post(
        f"{BASE}/991231-000001/codes", json={"phone": "13812345678"}, headers=service
    )
    assert r.status_code == 202
    t = await client.post(f"{BASE}/991231-000001/tokens", json={"code": "123456"}, headers=service)
    assert t.status_code == 401
