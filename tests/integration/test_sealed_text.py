"""Staff free text is sealed like the customer's words; the feed carries commitments (S-11).

Every free-text field a case can hold is typed with a phone number and an
ID-card number. The event store holds none of it in clear, the feed holds
only commitments, and the case file's text and salt recompute each feed
commitment; after erasure the text and the salts are gone, the commitments stay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text

from services.complaints.domain.clock import ShiftedClock
from services.complaints.feed import SEALED_FIELDS
from services.complaints.vault import Vault, commit, commitment_of
from services.kernel.database import create_database_engine
from tests.conftest import MASTER_KEY
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint

CUSTOMER_SECRET = "customer-token-secret-for-tests-0123456789abcdef"
PHONE = "13987654321"
ID_CARD = "11010519900307771X"


def words(field: str) -> str:
    """Distinct text per field, each holding both numbers."""
    return f"{field}: ring {PHONE}, ID card {ID_CARD}"


def salted_sha256(salt_hex: str, clear: str) -> str:
    return "sha256:" + hashlib.sha256(bytes.fromhex(salt_hex) + clear.encode()).hexdigest()


async def walk_every_free_text_field(
    client: httpx.AsyncClient,
    auth: Headers,
    customer: dict[str, Any] | None = None,
    claims: bool = False,
) -> list[str]:
    """Cases through every action that takes words, between them; returns their ids.

    A network-fault case goes the long way (restore, pause, follow-up, dispute,
    appeal, reopen, confirmation, closure); a second closes early unrated so the
    customer answers the survey; a third is withdrawn (claimed first, with
    `claims`: the service must allow claims).
    """
    agent = auth("agent", sub="agent-1")
    sup = auth("supervisor", sub="sup-1")
    service = auth("service", sub="notifications")

    async def register(tag: str, **overrides: Any) -> tuple[str, str]:
        if customer is not None:
            overrides["customer"] = customer
        body = new_complaint(description=words(f"description-{tag}"), **overrides)
        created = await client.post("/v1/complaints", json=body, headers=agent)
        assert created.status_code == 201, created.text
        return str(created.json()["id"]), str(created.json()["case_number"])

    async def run(cid: str, steps: list[tuple[str, dict[str, Any], dict[str, str]]]) -> None:
        for action, payload, who in steps:
            url = f"/v1/complaints/{cid}/{action}"
            for _ in range(10):
                response = await client.post(url, json=payload, headers=who)
                # With the other services running, a send-time contact read can win the race.
                if response.status_code != 409 or response.json()["title"] != "Conflict":
                    break
            assert response.status_code == 200, (action, response.text)

    long_way, number = await register("long", category="network_fault")
    await run(
        long_way,
        [
            ("contact", {"email": "new@example.cn", "reason": words("contact")}, agent),
            (
                "accept",
                {"category": "network_fault", "severity": "high", "reason": words("a")},
                agent,
            ),
            ("restore", {"how": words("how")}, agent),
            ("transfer", {"to_agent": "agent-2", "reason": words("transfer")}, sup),
            ("pause", {"reason": "awaiting_customer", "note": words("note")}, agent),
            ("resume", {"reason": words("resume")}, agent),
            ("follow_up", {"text": words("demand"), "within": "PT2H"}, sup),
            ("answer_follow_up", {"text": words("answer")}, agent),
            ("notes", {"text": words("notes")}, agent),
            ("investigate", {"findings": words("findings")}, agent),
            ("resolve", {"resolution": words("resolution"), "remedy": words("remedy")}, agent),
            ("dispute", {"reason": words("dispute")}, agent),
            ("escalate", {"body": "MIIT 12300", "reference": "APL-9", "reason": words("e")}, sup),
            ("return", {"decision": words("decision"), "reference": "APL-9"}, sup),
            ("reopen", {"reason": words("reopen")}, sup),
            ("investigate", {"findings": words("findings-2")}, agent),
            ("resolve", {"resolution": words("resolution-2")}, agent),
            ("confirm", {"satisfaction": 4, "comment": words("comment")}, agent),
            ("close", {"outcome": words("outcome"), "reason": words("close")}, sup),
        ],
    )
    read = await client.get(
        f"/v1/complaints/{long_way}/contact", params={"purpose": words("purpose")}, headers=agent
    )
    assert read.status_code == 200, read.text
    said = await client.post(
        f"/v1/customer-cases/{number}/messages", json={"text": words("message")}, headers=service
    )
    assert said.status_code == 202, said.text

    surveyed, number = await register("survey")
    await run(
        surveyed,
        [
            ("accept", {"category": "billing", "severity": "low"}, agent),
            ("investigate", {"findings": words("findings-s")}, agent),
            ("resolve", {"resolution": words("resolution-s")}, agent),
            ("close", {"outcome": words("outcome-s"), "reason": words("early")}, sup),
        ],
    )
    survey = await client.post(
        f"/v1/customer-cases/{number}/confirm",
        json={"satisfaction": 5, "comment": words("survey")},
        headers=service,
    )
    assert survey.is_success, survey.text

    withdrawn, _ = await register("withdrawn")
    if claims:
        claimer = auth("agent", sub="agent-3")
        await run(withdrawn, [("claim", {"reason": words("claim")}, claimer)])
    await run(withdrawn, [("withdraw", {"reason": words("withdraw")}, agent)])
    return [long_way, surveyed, withdrawn]


async def feed_of(client: httpx.AsyncClient, auth: Headers, cid: str) -> list[dict[str, Any]]:
    page = await client.get("/v1/events?limit=1000", headers=auth("service", sub="audit"))
    return [i for i in page.json()["items"] if i["complaint_id"] == cid]


def stored_rows(url: str) -> bytes:
    """Every row of every table of the complaints database, as bytes."""
    engine = create_database_engine(url)
    chunks: list[bytes] = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        chunks.append(value if isinstance(value, bytes) else str(value).encode())
    finally:
        engine.dispose()
    return b"\n".join(chunks)


async def test_every_free_text_field_is_sealed_and_committed(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    sup = auth_header("supervisor", sub="sup-1")
    app = build_app(url, ShiftedClock(), customer_token_secret=CUSTOMER_SECRET, allow_claims=True)
    async with client_for(app) as client:
        ids = await walk_every_free_text_field(client, auth_header, claims=True)
        checked: set[tuple[str, str]] = set()
        for cid in ids:
            # Opening the words is a recorded read (TextRead), whose purpose is sealed too.
            history = (
                await client.get(
                    f"/v1/complaints/{cid}/history",
                    params={"purpose": words("read")},
                    headers=sup,
                )
            ).json()
            items = await feed_of(client, auth_header, cid)
            published = json.dumps(items)
            assert PHONE not in published and ID_CARD not in published

            # Each committed field of the case file recomputes the feed's commitment.
            by_version = {i["version"]: i for i in items}
            for event in history["events"]:
                for field, opening in event["sealed"].items():
                    clear = event["data"][field]
                    assert PHONE in clear and ID_CARD in clear, (event["type"], field)
                    recomputed = salted_sha256(opening["salt"], clear)
                    assert recomputed == opening["commitment"]
                    assert by_version[event["version"]]["data"]["sealed"][field] == recomputed
                    checked.add((event["type"], field))

            erased = await client.post(
                f"/v1/complaints/{cid}/erase", json={"reason": words("erase")}, headers=sup
            )
            assert erased.status_code == 200, erased.text
            after = (await client.get(f"/v1/complaints/{cid}/history", headers=sup)).json()
            assert PHONE not in json.dumps(after) and ID_CARD not in json.dumps(after)
            for event in after["events"]:
                for field, opening in event["sealed"].items():
                    assert opening["salt"] is None and event["data"][field] == "[erased]"
            again = await feed_of(client, auth_header, cid)
            commitments = [i["data"].get("sealed") for i in items]
            assert [i["data"].get("sealed") for i in again[:-1]] == commitments, (
                "the feed's commitments do not change with erasure"
            )
            assert again[-1]["data"]["sealed"]["reason"].startswith("sha256:")
    # Every free-text field of every event type was typed, sealed and checked.
    assert checked == {
        (kind, field) for kind, fields in SEALED_FIELDS.items() for field in fields
    } - {("Erased", "reason")}
    stored = stored_rows(url)
    assert b"APL-9" in stored, "the scan reads the events' clear fields"
    assert PHONE.encode() not in stored and ID_CARD.encode() not in stored


async def test_a_note_on_an_erased_case_makes_no_new_data_key(
    tmp_path: Path, auth_header: Headers
) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    agent, sup = auth_header("agent", sub="agent-1"), auth_header("supervisor", sub="sup-1")
    async with client_for(build_app(url, ShiftedClock())) as client:
        cid = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()[
            "id"
        ]
        for action, body in [("withdraw", {"reason": "x"}), ("erase", {"reason": "asked"})]:
            assert (
                await client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=sup)
            ).is_success
        note = await client.post(f"/v1/complaints/{cid}/notes", json={"text": PHONE}, headers=sup)
        assert note.status_code in (409, 410), note.text
        assert (await client.get(f"/v1/complaints/{cid}", headers=sup)).status_code == 200
    engine = create_database_engine(url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT count(*) FROM data_keys")).scalar_one()
        assert keys == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("clear", ["", "x", "欧阳 13987654321\nline two"])
def test_a_commitment_opens_with_its_salt_and_never_without(tmp_path: Path, clear: str) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/v.db")
    try:
        vault = Vault(engine, [MASTER_KEY])
        sealed = vault.seal_text("c-1", clear)
        opened = vault.open_text("c-1", sealed)
        assert opened is not None and opened.text == clear
        assert (
            commitment_of(sealed) == opened.commitment == commit(bytes.fromhex(opened.salt), clear)
        )
        assert salted_sha256(opened.salt, clear) == opened.commitment
        assert vault.seal_text("c-1", clear) != sealed, "a fresh salt every time"
        assert commitment_of(vault.seal("c-1", clear)) is None, "v1 values carry none"
        vault.destroy("c-1")
        assert vault.open_text("c-1", sealed) is None
        assert commitment_of(sealed) == opened.commitment, "readable without the key"
    finally:
        engine.dispose()
