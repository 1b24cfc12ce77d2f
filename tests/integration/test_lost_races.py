"""A command without If-Match survives losing a race to a recorded read.

Staff write without If-Match and mean "do this to the case as it is". A
contact read (notifications reads the contact to send each message) records an
event on the same complaint, so it can be saved between a command's read and
its save. Two replicas on one database make that interleaving certain: the
command must then be carried out on the fresh state, not answered 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from services.complaints.application import ComplaintsApplication
from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.complaint import Actor, Complaint
from tests.integration.complaints_fixtures import build_app, client_for, new_complaint

Headers = Callable[..., dict[str, str]]


async def test_a_note_after_a_racing_contact_read_is_saved_once(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    clock = ShiftedClock()
    first, second = build_app(url, clock), build_app(url, clock)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(first) as client, client_for(second) as other:
        created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
        cid = created.json()["id"]
        complaints: ComplaintsApplication = first.state.complaints
        racer: ComplaintsApplication = second.state.complaints
        original = complaints.get
        raced: list[int] = []

        def get_then_lose_the_race(complaint_id: UUID, *args: Any, **kwargs: Any) -> Complaint:
            stale = original(complaint_id, *args, **kwargs)
            if not raced:  # Once: the other replica records a read before our save.
                raced.append(stale.version)
                racer.read_contact(complaint_id, Actor("notifications", "service"), "receipt")
            return stale

        complaints.get = get_then_lose_the_race  # type: ignore[method-assign]
        note = await client.post(
            f"/v1/complaints/{cid}/notes", json={"text": "rang back"}, headers=agent
        )
        assert raced, "the race was not run"
        assert note.status_code == 200, note.text
        history = await other.get(f"/v1/complaints/{cid}/history", headers=agent)
        types = [e["type"] for e in history.json()["events"]]
        assert types.count("NoteAdded") == 1
        assert types.count("ContactRead") == 1

        # With If-Match the caller named the version it saw: the lost race is theirs.
        raced.clear()
        version = note.json()["version"]
        stale = await client.post(
            f"/v1/complaints/{cid}/notes",
            json={"text": "again"},
            headers={**agent, "If-Match": f'"{version}"'},
        )
        assert stale.status_code == 409, stale.text
