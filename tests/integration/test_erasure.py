"""Erasure is final and safe (issue 8, item 3).

After erasure nothing new that could carry personal data goes on file (a
note was a 500 that re-created the data key and broke the case and every
feed page holding it); reads and the feed never fail because of an erased
complaint, and a consumer keeps going across it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from services.audit.app import create_app as create_audit_app
from services.audit.tables import entries
from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.complaint import Actor
from services.complaints.domain.errors import PersonalDataErased
from services.complaints.vault import Vault, data_keys, erased_keys
from services.kernel.auth import AuthSettings
from tests.conftest import JWT_SECRET, MASTER_KEY
from tests.integration.audit.conftest import AuditHarness, audit_settings
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint


@pytest.fixture
def make_audit(
    database_url: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[[], AuditHarness]]:
    """An audit app on the parametrised backend, its feed played by the test."""
    built: list[AuditHarness] = []

    def make() -> AuditHarness:
        settings = audit_settings(database_url("audit"), tmp_path)
        harness = AuditHarness(
            create_audit_app(settings, AuthSettings(jwt_secret=SecretStr(JWT_SECRET)))
        )
        built.append(harness)
        return harness

    yield make
    for harness in built:
        harness.engine.dispose()


async def _erased(client: httpx.AsyncClient, agent: dict[str, str], sup: dict[str, str]) -> str:
    """register → withdraw → erase (supervisor): the review's reproduction."""
    cid: str = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()[
        "id"
    ]
    withdrawn = await client.post(
        f"/v1/complaints/{cid}/withdraw", json={"reason": "asked by phone"}, headers=agent
    )
    assert withdrawn.status_code == 200, withdrawn.text
    erased = await client.post(
        f"/v1/complaints/{cid}/erase", json={"reason": "PIPL request"}, headers=sup
    )
    assert erased.status_code == 200, erased.text
    return cid


async def _whole_feed(client: httpx.AsyncClient, service: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await client.get("/v1/events", params={"after": after, "limit": 2}, headers=service)
        assert page.status_code == 200, page.text
        body = page.json()
        if body["last_position"] == after:
            return items
        items.extend(body["items"])
        after = body["last_position"]


async def test_a_note_on_an_erased_complaint_is_refused_and_breaks_nothing(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    agent = auth_header("agent", sub="agent-1")
    sup = auth_header("supervisor", sub="sup-1")
    service = auth_header("service", sub="audit")
    app = build_app(database_url("complaints"), ShiftedClock())
    async with client_for(app) as client:
        cid = await _erased(client, agent, sup)
        for headers in (sup, agent):
            note = await client.post(
                f"/v1/complaints/{cid}/notes", json={"text": "x"}, headers=headers
            )
            assert note.status_code == 410, note.text
            assert note.headers["content-type"] == "application/problem+json"
            assert "erased" in note.json()["detail"]
        view = await client.get(f"/v1/complaints/{cid}", headers=sup)
        assert view.status_code == 200, view.text
        assert view.json()["allowed_actions"] == [], "an erased case is final"
        assert view.json()["description"] == "[erased]"
        assert (await client.get(f"/v1/complaints/{cid}/history", headers=sup)).status_code == 200
        later = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
        feed = await _whole_feed(client, service)
        assert {i["complaint_id"] for i in feed} == {cid, later["id"]}
        assert [i["type"] for i in feed if i["complaint_id"] == cid][-1] == "Erased"
        again = await client.post(
            f"/v1/complaints/{cid}/erase", json={"reason": "again"}, headers=sup
        )
        assert again.status_code == 200, "erasing again finishes an interrupted erasure"
        vault: Vault = app.state.complaints.vault
        with vault.engine.connect() as conn:
            keys = conn.execute(select(data_keys.c.complaint_id)).scalars().all()
            tombstones = conn.execute(select(erased_keys.c.complaint_id)).scalars().all()
        assert cid not in keys, "no data key was made again"
        assert later["id"] in keys
        assert tombstones == [cid]


async def test_no_data_key_is_ever_made_again_after_erasure(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    app = build_app(database_url("complaints"), ShiftedClock())
    async with client_for(app) as client:
        cid = await _erased(
            client, auth_header("agent", sub="agent-1"), auth_header("supervisor", sub="sup-1")
        )
        # A second vault (another replica, nothing cached) refuses too.
        other = Vault(app.state.complaints.vault.engine, [MASTER_KEY])
        for vault in (app.state.complaints.vault, other):
            with pytest.raises(PersonalDataErased):
                vault.seal(cid, "a phone number 13812345678")
            with pytest.raises(PersonalDataErased):
                vault.seal_text(cid, "a phone number 13812345678")
            assert vault.open_fields(cid, {"sealed": "sealed:v1:AAAA"}) is None


async def test_the_feed_and_a_consumer_keep_going_across_a_damaged_erased_case(
    database_url: Callable[[str], str],
    auth_header: Headers,
    make_audit: Callable[..., AuditHarness],
    tmp_path: Path,
) -> None:
    """A case damaged before erasure was final (a key made again, a note sealed under it).

    The review's database: its case and every feed page holding it answered
    500, and an audit replica stalled on it. Now the sealed values no key
    opens read as erased, and later events flow on.
    """
    agent = auth_header("agent", sub="agent-1")
    sup = auth_header("supervisor", sub="sup-1")
    service = auth_header("service", sub="audit")
    app = build_app(database_url("complaints"), ShiftedClock())
    audit = make_audit()
    async with client_for(app) as client:
        cid = await _erased(client, agent, sup)
        complaints = app.state.complaints
        vault: Vault = complaints.vault
        with vault.engine.begin() as conn:  # what the old code left behind
            conn.execute(erased_keys.delete())
        complaint = complaints.get(uuid.UUID(cid))
        complaint.trigger_event(
            complaint.NoteAdded,
            timestamp=complaints.clock.now(),
            actor=Actor("agent-1", "agent").as_dict(),
            text=vault.seal(cid, "x"),  # sealed under a new key, unlike everything before
        )
        complaints.save(complaint)
        later = (await client.post("/v1/complaints", json=new_complaint(), headers=agent)).json()
        for url in (f"/v1/complaints/{cid}", f"/v1/complaints/{cid}/history"):
            response = await client.get(url, headers=sup)
            assert response.status_code == 200, (url, response.text)
        view = (await client.get(f"/v1/complaints/{cid}", headers=sup)).json()
        assert view["customer"]["name"] == "[erased]"
        feed = await _whole_feed(client, service)
        assert later["id"] in {i["complaint_id"] for i in feed}
        registered = next(i for i in feed if i["complaint_id"] == cid and i["type"] == "Registered")
        assert registered["data"]["customer"]["phone"] == "[erased]"
        audit.feed(feed)
        with audit.engine.connect() as conn:
            ledger = (
                conn.execute(select(entries.c.complaint_id).order_by(entries.c.entry_index))
                .scalars()
                .all()
            )
        assert len(ledger) == len(feed), "the audit consumer applied every event, past the case"
        assert ledger[-1] == later["id"]
        repaired = await client.post(
            f"/v1/complaints/{cid}/erase", json={"reason": "finish"}, headers=sup
        )
        assert repaired.status_code == 200
        with vault.engine.connect() as conn:
            assert cid not in conn.execute(select(data_keys.c.complaint_id)).scalars().all()
