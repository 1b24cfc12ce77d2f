"""Group commit (issue 13): concurrent commands share a transaction, each keeps its own answer.

Run on SQLite and PostgreSQL with group commit on: many registrations at
once all succeed as distinct complaints, with their keys replayable; many
notes at once on one complaint give each caller its own 200 or 409, and the
case file holds exactly the notes answered 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.complaints.domain.clock import ShiftedClock
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint

GROUP = {"group_commit_max": 16, "group_commit_window_ms": 5.0}


async def test_concurrent_registrations_share_transactions_and_keep_their_answers(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    app = build_app(database_url("complaints"), ShiftedClock(), **GROUP)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(app) as client:
        keys = [f"burst-{i}" for i in range(24)]
        responses = await asyncio.gather(
            *[
                client.post(
                    "/v1/complaints",
                    json=new_complaint(description=key),
                    headers={**agent, "Idempotency-Key": key},
                )
                for key in keys
            ]
        )
        assert [r.status_code for r in responses] == [201] * len(keys)
        ids = [r.json()["id"] for r in responses]
        assert len(set(ids)) == len(keys)
        committer = app.state.complaints.group_commit
        assert committer.batches < committer.saved, "no two commands shared a transaction"
        again = await client.post(
            "/v1/complaints",
            json=new_complaint(description=keys[5]),
            headers={**agent, "Idempotency-Key": keys[5]},
        )
        assert again.json()["id"] == ids[5]
        assert again.headers["idempotent-replayed"] == "true"
        page = (await client.get("/v1/complaints", headers=agent)).json()
        assert {row["complaint_id"] for row in page["items"]} == set(ids), "queue rows committed"


async def test_racing_notes_get_their_own_200_or_409(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    url = database_url("complaints")
    first = build_app(url, ShiftedClock(), **GROUP)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(first) as client:
        created = await client.post("/v1/complaints", json=new_complaint(), headers=agent)
        cid = created.json()["id"]
        responses = await asyncio.gather(
            *[
                client.post(
                    f"/v1/complaints/{cid}/notes",
                    json={"text": f"n{i}"},
                    headers={**agent, "Idempotency-Key": f"note-{i}"},
                )
                for i in range(16)
            ]
        )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 409}, statuses
        assert 200 in statuses
        history = (await client.get(f"/v1/complaints/{cid}/history", headers=agent)).json()
        notes = [e for e in history["events"] if e["type"] == "NoteAdded"]
        assert len(notes) == statuses.count(200), "every 200 saved once, no 409 saved"
        versions = [r.json()["version"] for r in responses if r.status_code == 200]
        assert len(set(versions)) == len(versions), "each caller answered with its own version"
        # A lost race is not kept: the same key, retried, now succeeds.
        lost = statuses.index(409) if 409 in statuses else None
        if lost is not None:
            retried = await client.post(
                f"/v1/complaints/{cid}/notes",
                json={"text": f"n{lost}"},
                headers={**agent, "Idempotency-Key": f"note-{lost}"},
            )
            assert retried.status_code == 200
            assert "idempotent-replayed" not in retried.headers


async def test_keys_answered_twice_in_a_batch_leave_the_connections_usable(
    database_url: Callable[[str], str], auth_header: Headers
) -> None:
    """Same-key pairs in one batch fail it on the key; every later commit still works.

    A row failing before the library's prepared statements in PostgreSQL's
    pipeline made psycopg believe they were prepared: later commits on that
    connection answered 500 (prepared statement "_pg3_…" does not exist).
    """
    app = build_app(database_url("complaints"), ShiftedClock(), **GROUP)
    agent = auth_header("agent", sub="agent-1")
    async with client_for(app) as client:
        for round_ in range(12):
            keys = [f"pair-{round_}-{i // 2}" for i in range(8)]  # each key sent twice at once
            responses = await asyncio.gather(
                *[
                    client.post(
                        "/v1/complaints",
                        json=new_complaint(description=key),
                        headers={**agent, "Idempotency-Key": key},
                    )
                    for key in keys
                ]
            )
            assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
            by_key: dict[str, set[str]] = {}
            for key, response in zip(keys, responses, strict=True):
                by_key.setdefault(key, set()).add(response.json()["id"])
            assert all(len(ids) == 1 for ids in by_key.values()), "a key registered twice"
