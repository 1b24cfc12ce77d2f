"""Customer history on encrypted data: a blind index, searched on record (issue 10, item 6)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url

from services.complaints.blind_index import IndexKeyRing, new_index_key
from services.complaints.customer_index import customer_index, index_position
from services.complaints.domain.clock import ShiftedClock
from services.complaints.rotate_index_key import rotate
from services.complaints.settings import ComplaintsSettings
from tests.conftest import INDEX_KEYS, MASTER_KEY
from tests.integration.complaints_fixtures import (
    CUSTOMER_ZH,
    Headers,
    build_app,
    client_for,
    new_complaint,
)

NUMBER = "13912345678"
FORMS = ("139 1234 5678", "+8613912345678", "8613912345678", "139-1234-5678")
OTHER_NUMBER = "13800001111"


def _customer(phone: str, **extra: Any) -> dict[str, Any]:
    return {
        **CUSTOMER_ZH,
        "phone": phone,
        "email": "Li.Si@Example.com",
        "account": "acc-778899",
        **extra,
    }


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], phone: str, **extra: Any
) -> str:
    response = await client.post(
        "/v1/complaints",
        json=new_complaint(customer=_customer(phone, **extra), category="billing"),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    return cid


async def _search(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> httpx.Response:
    params.setdefault("purpose", "incoming_contact")
    return await client.get("/v1/complaints", params=params, headers=headers)


def _found(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["complaint_id"] for item in response.json()["items"]]


def _stored_bytes(url: str) -> bytes:
    """Every byte the complaints service keeps: SQLite files (WAL included) or a pg_dump."""
    if url.startswith("sqlite"):
        path = Path(str(make_url(url).database))
        files = list(path.parent.glob(path.name + "*"))
        assert files
        return b"".join(p.read_bytes() for p in files)
    dump = subprocess.run(
        ["pg_dump", url.replace("+psycopg", "")], capture_output=True, check=True, timeout=60
    )
    return dump.stdout


def _phone_forms(number: str) -> list[bytes]:
    national = number
    return [
        f.encode()
        for f in (
            national,
            f"+86{national}",
            f"86{national}",
            f"{national[:3]} {national[3:7]} {national[7:]}",
            f"{national[:3]}-{national[3:7]}-{national[7:]}",
        )
    ]


async def test_a_phone_search_finds_three_complaints_across_a_contact_update(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    agent = auth_header("agent", sub="agent-1")
    other_agent = auth_header("agent", sub="agent-2")
    async with client_for(build_app(url, ShiftedClock())) as client:
        first = await _register(client, agent, FORMS[0])
        second = await _register(client, other_agent, FORMS[1])
        # The third came in under another number; the customer then gave this one.
        third = await _register(client, agent, OTHER_NUMBER)
        stranger = await _register(
            client, agent, "13700002222", email="x@example.net", account="ACC-1"
        )
        updated = await client.post(
            f"/v1/complaints/{third}/contact",
            json={"phone": FORMS[2], "reason": "customer's new number"},
            headers=agent,
        )
        assert updated.status_code == 200, updated.text

        for written in FORMS:
            found = _found(await _search(client, other_agent, phone=written))
            assert found == [first, second, third], written
        assert stranger not in found
        # The index follows the update: the old number no longer leads to the case.
        assert _found(await _search(client, agent, phone=OTHER_NUMBER)) == []
        # E-mail is matched case-insensitively, accounts whatever their case.
        by_email = _found(await _search(client, agent, email="li.si@example.COM"))
        assert by_email == [first, second, third]
        assert _found(await _search(client, agent, account="ACC-778899")) == [
            first,
            second,
            third,
        ]

        # Every search is on record, with its purpose and what it revealed.
        supervisor = auth_header("supervisor", sub="sup-1")
        searches = (await client.get("/v1/customer-searches", headers=supervisor)).json()
        assert searches["chain"]["ok"] is True
        assert searches["chain"]["entries"] == len(FORMS) + 3
        entry = searches["items"][0]
        assert entry["actor"] == {"id": "agent-2", "role": "agent"}
        assert entry["kind"] == "phone" and entry["purpose"] == "incoming_contact"
        assert entry["complaint_ids"] == [first, second, third]
        assert searches["items"][len(FORMS)]["found"] == 0

    raw = _stored_bytes(url)
    assert b"customer_index" in raw or url.startswith("sqlite")
    for number in (NUMBER, OTHER_NUMBER, "13700002222"):
        for form in _phone_forms(number):
            assert form not in raw, form
    for clear in (b"li.si@example.com", b"Li.Si@Example.com", b"acc-778899", b"ACC-778899"):
        assert clear not in raw, clear


async def test_a_search_needs_a_purpose_and_a_working_role(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(database_url("complaints"), ShiftedClock())) as client:
        await _register(client, agent, NUMBER)
        missing = await client.get("/v1/complaints", params={"phone": NUMBER}, headers=agent)
        assert missing.status_code == 400
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "incoming_contact" in missing.json()["allowed_purposes"]
        strange = await _search(client, agent, phone=NUMBER, purpose="curiosity")
        assert strange.status_code == 422
        both = await _search(client, agent, phone=NUMBER, email="a@b.example")
        assert both.status_code == 400
        for role in ("regulator", "admin", "service"):
            refused = await _search(client, auth_header(role, sub=f"{role}-1"), phone=NUMBER)
            assert refused.status_code == 403, role
        assert (await _search(client, auth_header("supervisor"), phone=NUMBER)).status_code == 200
        searches = (
            await client.get("/v1/customer-searches", headers=auth_header("regulator"))
        ).json()
        # Refused searches are not searches: only the supervisor's is on record.
        assert [e["actor"]["role"] for e in searches["items"]] == ["supervisor"]
        forbidden = await client.get("/v1/customer-searches", headers=agent)
        assert forbidden.status_code == 403


async def test_customer_history_is_off_without_an_index_key(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    app = build_app(database_url("complaints"), ShiftedClock(), index_keys=None)
    async with client_for(app) as client:
        response = await _search(client, auth_header("agent"), phone=NUMBER)
        assert response.status_code == 503


def test_the_index_key_may_not_be_the_master_key(tmp_path: Path) -> None:
    from services.complaints.app import create_app
    from services.complaints.blind_index import IndexKeyError

    with pytest.raises(IndexKeyError):
        create_app(
            ComplaintsSettings(
                database_url=f"sqlite:///{tmp_path}/c.db",
                master_key=SecretStr(MASTER_KEY),
                index_keys=SecretStr(f"1:{MASTER_KEY}"),
                monitor_enabled=False,
            )
        )


async def test_erasure_removes_the_index_entries(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    agent = auth_header("agent", sub="agent-1")
    supervisor = auth_header("supervisor", sub="sup-1")
    app = build_app(url, ShiftedClock())
    async with client_for(app) as client:
        kept = await _register(client, agent, NUMBER)
        erased = await _register(client, agent, NUMBER)
        for action, body in (("withdraw", {"reason": "sorted"}), ("erase", {"reason": "asked"})):
            done = await client.post(
                f"/v1/complaints/{erased}/{action}", json=body, headers=supervisor
            )
            assert done.status_code == 200, done.text
        assert _found(await _search(client, agent, phone=NUMBER)) == [kept]
        rows = [r for r in app.state.customer_index.rows() if r["complaint_id"] == erased]
        assert [(r["kind"], r["token"]) for r in rows] == [("erased", "")]
        # Rebuilding the index from the whole event log never brings it back.
        with app.state.customer_index.engine.begin() as conn:
            conn.execute(delete(index_position))
        app.state.customer_index.catch_up_fully()
        assert _found(await _search(client, agent, phone=NUMBER)) == [kept]


async def test_a_lost_index_is_rebuilt_from_the_event_log(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    app = build_app(database_url("complaints"), ShiftedClock())
    async with client_for(app) as client:
        ids = [await _register(client, agent, form) for form in FORMS[:2]]
        with app.state.customer_index.engine.begin() as conn:
            conn.execute(delete(customer_index))
            conn.execute(delete(index_position))
        assert _found(await _search(client, agent, phone=NUMBER)) == ids


async def test_key_rotation_recomputes_every_token(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    agent = auth_header("agent", sub="agent-1")
    async with client_for(build_app(url, ShiftedClock())) as client:
        ids = [await _register(client, agent, form) for form in FORMS[:3]]

    ring = f"2:{new_index_key()},{INDEX_KEYS}"
    app = build_app(url, ShiftedClock(), index_keys=SecretStr(ring))
    async with client_for(app) as client:
        # Both keys in the ring: found before the rotation has run.
        assert _found(await _search(client, agent, phone=NUMBER)) == ids
        settings = ComplaintsSettings(
            database_url=url, master_key=SecretStr(MASTER_KEY), index_keys=SecretStr(ring)
        )
        assert rotate(settings) == 3
        assert {r["key_version"] for r in app.state.customer_index.rows()} == {"2"}
        assert rotate(settings) == 0

    only_new = ring.split(",")[0]
    async with client_for(build_app(url, ShiftedClock(), index_keys=SecretStr(only_new))) as c:
        assert _found(await _search(c, agent, phone=NUMBER)) == ids


async def test_the_search_log_is_append_only_and_chained(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    app = build_app(database_url("complaints"), ShiftedClock())
    async with client_for(app) as client:
        await _register(client, agent, NUMBER)
        for _ in range(3):
            await _search(client, agent, phone=NUMBER)
        engine = app.state.search_log.engine
        for statement in (
            "UPDATE customer_searches SET purpose = 'quality_review'",
            "DELETE FROM customer_searches WHERE seq = 2",
        ):
            with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        # Someone drops the triggers and edits a row: the chain shows where.
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text("DROP TRIGGER customer_searches_append_only ON customer_searches")
                )
            else:
                conn.execute(text("DROP TRIGGER customer_searches_no_update"))
            conn.execute(text("UPDATE customer_searches SET found = 0 WHERE seq = 2"))
        chain = (
            await client.get("/v1/customer-searches", headers=auth_header("supervisor"))
        ).json()["chain"]
        assert chain == {**chain, "ok": False, "first_bad_seq": 2, "entries": 1}


def test_tokens_are_keyed_and_normalised() -> None:
    ring = IndexKeyRing.parse(INDEX_KEYS)
    other = IndexKeyRing.parse(f"1:{new_index_key()}")
    from services.complaints.blind_index import normalised_term

    terms = {normalised_term("phone", form) for form in FORMS}
    assert terms == {"+8613912345678"}
    token = ring.token("phone", "+8613912345678")
    assert len(token) == 64 and NUMBER not in token
    assert other.token("phone", "+8613912345678") != token
    assert ring.token("account", "+8613912345678") != token, "kinds never collide"
