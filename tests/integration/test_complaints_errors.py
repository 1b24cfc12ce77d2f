"""Authentication, roles and problem+json errors of the complaints API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from services.complaints.domain.clock import ShiftedClock
from tests.conftest import JWT_SECRET, TokenFactory
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint


@pytest.fixture
async def client(tmp_path: Any) -> Any:
    async with client_for(build_app(f"sqlite:///{tmp_path}/c.db", ShiftedClock())) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_that_are_refused(client: Any, token: TokenFactory) -> None:
    now = int(time.time())
    bad = {
        "none": None,
        "expired": token("agent", ttl=-120),
        "wrong secret": jwt.encode({"sub": "a", "roles": ["agent"], "exp": now + 60}, "x" * 40),
        "alg none": jwt.encode({"sub": "a", "roles": ["agent"], "exp": now + 60}, "", "none"),
        "malformed": "not.a.jwt",
        "no exp": jwt.encode({"sub": "a", "roles": ["agent"]}, JWT_SECRET),
        "not yet valid": jwt.encode(
            {"sub": "a", "roles": ["agent"], "exp": now + 600, "nbf": now + 300}, JWT_SECRET
        ),
    }
    for name, value in bad.items():
        headers = _bearer(value) if value else {}
        response = await client.get("/v1/complaints", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json"


async def test_roles_per_route(client: Any, auth_header: Headers) -> None:
    for role in ("regulator", "service", "admin"):
        refused = await client.post(
            "/v1/complaints", json=new_complaint(), headers=auth_header(role)
        )
        assert refused.status_code == 403, role
    created = await client.post(
        "/v1/complaints", json=new_complaint(), headers=auth_header("agent")
    )
    cid = created.json()["id"]
    for role in ("agent", "supervisor", "regulator", "service", "admin"):
        assert (
            await client.get(f"/v1/complaints/{cid}", headers=auth_header(role))
        ).status_code == 200
    for role in ("regulator", "service", "admin"):
        note = await client.post(
            f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers=auth_header(role)
        )
        assert note.status_code == 403, role
    for role in ("agent", "supervisor"):
        feed = await client.get("/v1/events", headers=auth_header(role))
        assert feed.status_code == 403, role
    assert (await client.get("/v1/events", headers=auth_header("service"))).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"customer": {}, "channel": "phone", "description": "x"}', 422),
        (b'{"customer": 1, "channel": "phone", "description": "x"}', 422),
        (b'{"channel": "pigeon", "description": "x"}', 422),
        (b"[]", 422),
    ],
)
async def test_bad_bodies_are_problems(
    client: Any, auth_header: Headers, body: bytes, status: int
) -> None:
    response = await client.post(
        "/v1/complaints",
        content=body,
        headers={**auth_header("agent"), "Content-Type": "application/json"},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    assert "Traceback" not in response.text


async def test_unknown_fields_types_sizes_and_ids(client: Any, auth_header: Headers) -> None:
    agent = auth_header("agent")
    unknown = await client.post("/v1/complaints", json=new_complaint(colour="red"), headers=agent)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["location"][-1] == "colour"
    wrong_type = await client.post(
        "/v1/complaints", json=new_complaint(description=["x"]), headers=agent
    )
    assert wrong_type.status_code == 422
    huge = await client.post(
        "/v1/complaints", json=new_complaint(description="x" * 200_000), headers=agent
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    missing = await client.get("/v1/complaints/00000000-0000-0000-0000-000000000000", headers=agent)
    assert missing.status_code == 404
    not_uuid = await client.get("/v1/complaints/banana", headers=agent)
    assert not_uuid.status_code == 422
    no_route = await client.get("/v1/nothing-here", headers=agent)
    assert no_route.status_code == 404
    assert no_route.headers["content-type"] == "application/problem+json"
    bad_sat = await client.post(
        "/v1/complaints/00000000-0000-0000-0000-000000000000/confirm",
        json={"satisfaction": 9},
        headers=agent,
    )
    assert bad_sat.status_code == 422
    page = (await client.get("/v1/complaints", headers=agent)).json()
    assert page["items"] == [], "nothing was half-written by any refused request"


async def test_probes_and_metrics(client: Any, auth_header: Headers) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    await client.post("/v1/complaints", json=new_complaint(), headers=auth_header("agent"))
    metrics = (await client.get("/metrics")).text
    assert "complaint_events_appended_total 1.0" in metrics
    assert 'http_requests_total{method="POST",route="/v1/complaints",status="201"}' in metrics


Factory = Callable[..., str]


async def test_control_characters_long_subjects_chunked_bodies_and_huge_numbers(
    client: Any, auth_header: Headers, token: TokenFactory
) -> None:
    agent = auth_header("agent", sub="agent-1")
    cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()["id"]
    nul = await client.post(
        f"/v1/complaints/{cid}/transfer",
        json={"to_agent": "a\u0000b", "reason": "x"},
        headers=agent,
    )
    assert nul.status_code == 400, "NUL is refused before any handler"
    bell = await client.post(
        f"/v1/complaints/{cid}/transfer",
        json={"to_agent": "a\u0007b", "reason": "x"},
        headers=agent,
    )
    assert bell.status_code == 422, "other control characters fail validation"
    long_sub = await client.get("/v1/policies", headers=_bearer(token("agent", sub="x" * 150)))
    assert long_sub.status_code == 401
    blank = await client.post(
        "/v1/complaints",
        json=new_complaint(customer={"name": "   ", "phone": "13812345678"}),
        headers=agent,
    )
    assert blank.status_code == 422, "whitespace is stripped before the length check"
    chinese_spaces = await client.post(
        "/v1/complaints", json=new_complaint(description="信号\u3000很差\n第二行"), headers=agent
    )
    assert chinese_spaces.status_code == 201

    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 2048

    chunked = await client.post(
        "/v1/complaints",
        content=chunks(),
        headers={**agent, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    for url in (
        f"/v1/complaints/{cid}?version=9223372036854775808",
        "/v1/events?after=9223372036854775808",
    ):
        huge = await client.get(url, headers=auth_header("admin"))
        assert huge.status_code == 422, url
    queue = (await client.get("/v1/complaints", headers=agent)).json()["items"]
    assert len(queue) == 2, "nothing refused was written"


async def test_if_match_accepts_any_listed_version(client: Any, auth_header: Headers) -> None:
    agent = auth_header("agent", sub="agent-1")
    cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()["id"]
    listed = await client.post(
        f"/v1/complaints/{cid}/notes",
        json={"text": "x"},
        headers={**agent, "If-Match": '"7", W/"1"'},
    )
    assert listed.status_code == 200
    garbage = await client.post(
        f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers={**agent, "If-Match": "abc"}
    )
    assert garbage.status_code == 400


@pytest.mark.parametrize(
    "cursor",
    [
        "W1tb" * 400,  # the review's: "[[[" nested past the parser's recursion limit
        "W1tb" * 40,
        "e30",  # {}
        "WzEsMl0",  # [1,2]
        "WyJ4IiwieSJd",  # ["x","y"]: not a time
        "WyIyMDI2LTAzLTAxVDAwOjAwOjAwKzAwOjAwIiwiYiIsImMiXQ",  # three items
        "\u00e9\u00e9\u00e9\u00e9",
        "A" * 5000,
    ],
)
async def test_a_malformed_cursor_is_a_400_problem(
    client: Any, auth_header: Headers, cursor: str
) -> None:
    response = await client.get(
        "/v1/complaints", params={"cursor": cursor}, headers=auth_header("agent")
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
