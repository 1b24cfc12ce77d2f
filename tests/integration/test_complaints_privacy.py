"""Personal data in the complaints service: sealed, masked, read on record, erasable (S-11)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr

from services.complaints.domain.clock import ShiftedClock
from services.complaints.vault import Vault, new_master_key
from services.kernel.auth import AuthSettings
from services.kernel.database import create_database_engine
from tests.conftest import JWT_SECRET, MASTER_KEY
from tests.integration.complaints_fixtures import (
    CUSTOMER_EN,
    CUSTOMER_ZH,
    Headers,
    build_app,
    client_for,
    new_complaint,
    policy_dir_with,
)

RETENTION_POLICY = """
id = "short-retention"
version = 1
effective_from = "2026-01-01T00:00:00+00:00"
source = "test"
calendar = "24x7"
warning_at = 0.8
pausable = ["acceptance"]
retention_after_close = "PT1H"
[milestones]
acceptance = "PT24H"
investigation = "PT72H"
result = "PT48H"
"""


async def _closed(client: httpx.AsyncClient, agent: dict[str, str], sup: dict[str, str]) -> str:
    cid: str = (
        await client.post("/v1/complaints", json=new_complaint(customer=CUSTOMER_EN), headers=agent)
    ).json()["id"]
    for action, body in [
        ("accept", {"category": "billing", "severity": "low"}),
        ("investigate", {"findings": "f"}),
        ("resolve", {"resolution": "r"}),
        ("close", {"outcome": "done", "reason": "customer agreed by phone"}),
    ]:
        response = await client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=sup)
        assert response.status_code == 200, response.text
    return cid


async def test_clear_contact_only_with_need_and_every_read_on_record(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    owner = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=owner)).json()[
            "id"
        ]
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "call back"}, headers=owner
        )
        assert contact.status_code == 200
        assert contact.json()["customer"]["phone"] == CUSTOMER_ZH["phone"]
        assert contact.json()["customer"]["name"] == "张三"
        other = auth_header("agent", sub="agent-9")
        refused = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "curious"}, headers=other
        )
        assert refused.status_code == 403
        for role in ("regulator", "admin"):
            denied = await client.get(
                f"/v1/complaints/{cid}/contact",
                params={"purpose": "x" * 5},
                headers=auth_header(role),
            )
            assert denied.status_code == 403, role
        service = await client.get(
            f"/v1/complaints/{cid}/contact",
            params={"purpose": "send receipt"},
            headers=auth_header("service", sub="notifications"),
        )
        assert service.status_code == 200
        reads = (
            await client.get(
                f"/v1/complaints/{cid}/contact-reads", headers=auth_header("regulator")
            )
        ).json()["reads"]
        assert [(r["actor"]["id"], r["purpose"]) for r in reads] == [
            ("agent-1", "call back"),
            ("notifications", "send receipt"),
        ]
        view = (await client.get(f"/v1/complaints/{cid}", headers=auth_header("regulator"))).json()
        assert view["customer"]["phone"] == "138****5678"
        assert view["description"] == "[withheld]", "regulators never see the customer's words"
        feed = (await client.get("/v1/events", headers=auth_header("regulator"))).json()
        assert "13812345678" not in str(feed) and "张三" not in str(feed)
        assert [i["type"] for i in feed["items"]].count("ContactRead") == 2


async def test_contact_update_is_an_event_masked_in_the_feed(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    owner = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=owner)).json()[
            "id"
        ]
        updated = await client.post(
            f"/v1/complaints/{cid}/contact",
            json={"phone": "13900001111", "reason": "customer moved"},
            headers=owner,
        )
        assert updated.status_code == 200
        assert updated.json()["customer"]["phone"] == "139****1111"
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "verify"}, headers=owner
        )
        assert contact.json()["customer"]["phone"] == "13900001111"
        assert contact.json()["customer"]["email"] == CUSTOMER_ZH["email"], "others unchanged"
        feed = (await client.get("/v1/events", headers=auth_header("service"))).json()["items"]
        change = next(i for i in feed if i["type"] == "ContactUpdated")
        assert change["data"]["customer"]["phone"] == "139****1111"
        assert "13900001111" not in str(feed)


async def test_erasure_keeps_the_case_file_and_destroys_the_person(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    sup = auth_header("supervisor", sub="sup-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        open_case = (
            await client.post("/v1/complaints", json=new_complaint(), headers=agent)
        ).json()["id"]
        early = await client.post(
            f"/v1/complaints/{open_case}/erase", json={"reason": "asked"}, headers=sup
        )
        assert early.status_code == 409, "only after closure or withdrawal"
        cid = await _closed(client, agent, sup)
        assert (
            await client.post(f"/v1/complaints/{cid}/erase", json={"reason": "x"}, headers=agent)
        ).status_code == 403
        before = (await client.get(f"/v1/complaints/{cid}/history", headers=sup)).json()
        erased = await client.post(
            f"/v1/complaints/{cid}/erase", json={"reason": "PIPL request"}, headers=sup
        )
        assert erased.status_code == 200
        body = erased.json()
        assert body["erased"] is True
        assert body["customer"]["name"] == "[erased]"
        assert body["customer"]["phone"] == "[erased]"
        assert body["customer"]["language"] == "en", "non-personal facts stay"
        assert body["description"] == "[erased]"
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "check"}, headers=sup
        )
        assert contact.status_code == 410
        update = await client.post(
            f"/v1/complaints/{cid}/contact", json={"phone": "13900001111"}, headers=sup
        )
        assert update.status_code in (409, 410)
        after = (await client.get(f"/v1/complaints/{cid}/history", headers=sup)).json()
        assert [e["type"] for e in after["events"]] == [
            *(e["type"] for e in before["events"]),
            "Erased",
        ]
        assert after["events"][0]["data"]["customer"]["email"] == "[erased]"
        # The reason is free text like any other: sealed, so erased with the rest;
        # its commitment stays (without the salt, which went with the key).
        assert after["events"][-1]["data"]["reason"] == "[erased]"
        erased = after["events"][-1]["sealed"]["reason"]
        assert erased["commitment"].startswith("sha256:") and erased["salt"] is None
        old = await client.get(f"/v1/complaints/{cid}?version=1", headers=sup)
        assert old.json()["customer"]["name"] == "[erased]", "erased as of every moment"
        feed = (await client.get("/v1/events", headers=auth_header("service"))).json()["items"]
        registered = next(i for i in feed if i["complaint_id"] == cid and i["type"] == "Registered")
        assert registered["data"]["customer"]["name"] == "[erased]"


async def test_retention_sweeper_erases_on_record(tmp_path: Path, auth_header: Headers) -> None:
    clock = ShiftedClock()
    app = build_app(
        f"sqlite:///{tmp_path}/c.db",
        clock,
        policy_dir=policy_dir_with(tmp_path, RETENTION_POLICY),
        default_policy="short-retention",
    )
    agent = auth_header("agent", sub="agent-1")
    sup = auth_header("supervisor", sub="sup-1")
    async with client_for(app) as client:
        cid = await _closed(client, agent, sup)
        await asyncio.to_thread(app.state.monitor.run_once)
        assert (await client.get(f"/v1/complaints/{cid}", headers=sup)).json()["erased"] is False
        clock.advance(timedelta(hours=2))
        await asyncio.to_thread(app.state.monitor.run_once)
        await asyncio.to_thread(app.state.monitor.run_once)
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=sup)).json()
        erasures = [e for e in history["events"] if e["type"] == "Erased"]
        assert len(erasures) == 1
        assert erasures[0]["actor"] == {"id": "retention-sweeper", "role": "system"}


async def test_master_key_rotation_rewraps_without_touching_events(
    tmp_path: Path, auth_header: Headers
) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(url, ShiftedClock())) as client:
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()[
            "id"
        ]
    new_key = new_master_key()
    engine = create_database_engine(url)
    try:
        assert Vault(engine, [new_key, MASTER_KEY]).rotate() == 1
    finally:
        engine.dispose()
    from services.complaints.app import create_app
    from services.complaints.settings import ComplaintsSettings

    rotated = create_app(
        ComplaintsSettings(database_url=url, monitor_enabled=False, master_key=SecretStr(new_key)),
        AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
    )
    async with client_for(rotated) as client:
        contact = await client.get(
            f"/v1/complaints/{cid}/contact", params={"purpose": "after rotation"}, headers=agent
        )
        assert contact.json()["customer"]["phone"] == CUSTOMER_ZH["phone"]


def test_personal_data_is_not_in_the_database_file(tmp_path: Path) -> None:
    async def register() -> None:
        app = build_app(f"sqlite:///{tmp_path}/c.db", ShiftedClock())
        headers = {"Authorization": "Bearer " + _agent_token()}
        async with client_for(app) as client:
            for customer in (CUSTOMER_ZH, CUSTOMER_EN):
                response = await client.post(
                    "/v1/complaints",
                    json=new_complaint(customer=customer, description="my secret words"),
                    headers={**headers, "Idempotency-Key": customer["phone"][-4:]},
                )
                assert response.status_code == 201
                withdrawn = await client.post(
                    f"/v1/complaints/{response.json()['id']}/withdraw",
                    json={"reason": "customer says: my neighbour read my bill"},
                    headers=headers,
                )
                assert withdrawn.status_code == 200

    asyncio.run(register())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("c.db*"))
    for customer in (CUSTOMER_ZH, CUSTOMER_EN):
        for field in ("name", "phone", "email", "account"):
            assert customer[field].encode() not in raw, field
    assert b"my secret words" not in raw
    assert b"my neighbour read my bill" not in raw


def _agent_token() -> str:
    from services.kernel.auth import mint_token

    return mint_token(JWT_SECRET, "agent-1", ["agent"])


async def test_a_flooding_token_is_rate_limited(tmp_path: Path, auth_header: Headers) -> None:
    from services.complaints.app import create_app
    from services.complaints.settings import ComplaintsSettings

    app = create_app(
        ComplaintsSettings(
            database_url=f"sqlite:///{tmp_path}/c.db",
            monitor_enabled=False,
            master_key=SecretStr(MASTER_KEY),
        ),
        AuthSettings(jwt_secret=SecretStr(JWT_SECRET), rate_limit_per_second=1, rate_limit_burst=5),
    )
    flooder = auth_header("agent", sub="flood")
    async with client_for(app) as client:
        statuses = [
            (await client.get("/v1/policies", headers=flooder)).status_code for _ in range(8)
        ]
        assert statuses[:5] == [200] * 5
        assert 429 in statuses[5:]
        limited = await client.get("/v1/policies", headers=flooder)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        other = await client.get("/v1/policies", headers=auth_header("agent", sub="calm"))
        assert other.status_code == 200, "other tokens are not affected"
