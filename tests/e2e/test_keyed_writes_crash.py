"""End to end: the complaints process is SIGKILLed over and over during keyed writes (issue 8).

Writer threads register complaints and add one note to each, every request
with an `Idempotency-Key`, retrying the same key until it is answered, as a
client would. The service is killed at random moments (at least 20 times)
and restarted on the same database. At the end every key is sent once more:
each must replay the answer first given, no complaint may exist twice, no
note may be added twice, and no request may have been answered 500 (or 409:
once a command has committed, its key answers with it).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import ServiceProcess

KILLS = 20
WRITERS = 4
AGENT = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'agent-crash', ['agent'])}"}


def _registration(key: str) -> dict[str, Any]:
    return {
        "customer": {"name": "客户", "phone": "+8613800138000"},
        "channel": "phone",
        "description": f"No signal since the outage ({key}).",
        "category": "network_fault",
    }


@dataclass
class Ledger:
    """What the writers were told, shared between their threads."""

    registered: dict[str, str] = field(default_factory=dict)  # key -> complaint id
    noted: dict[str, int] = field(default_factory=dict)  # key -> version answered
    refusals: list[str] = field(default_factory=list)  # any 409 or 5xx, with its text
    lock: threading.Lock = field(default_factory=threading.Lock)


def _until_answered(
    send: Callable[[], httpx.Response], ledger: Ledger, stop: threading.Event
) -> httpx.Response | None:
    """Send one keyed request until it has an answer (a kill only interrupts it)."""
    while not stop.is_set():
        try:
            response = send()
        except httpx.HTTPError:
            time.sleep(0.05)  # Killed, or not yet restarted: retry with the same key.
            continue
        if response.status_code == 409 or response.status_code >= 500:
            with ledger.lock:
                ledger.refusals.append(f"{response.status_code} {response.text[:300]}")
            time.sleep(0.05)
            continue
        return response
    return None


def _writer(url: str, name: str, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=AGENT, timeout=10) as client:
        n = 0
        while not stop.is_set():
            key = f"{name}-{n}"
            n += 1
            created = _until_answered(
                lambda key=key: client.post(  # type: ignore[misc]
                    "/v1/complaints",
                    json=_registration(key),
                    headers={"Idempotency-Key": f"reg-{key}"},
                ),
                ledger,
                stop,
            )
            if created is None:
                return
            assert created.status_code == 201, created.text
            cid = created.json()["id"]
            with ledger.lock:
                ledger.registered[key] = cid
            noted = _until_answered(
                lambda key=key, cid=cid: client.post(  # type: ignore[misc]
                    f"/v1/complaints/{cid}/notes",
                    json={"text": f"called back {key}"},
                    headers={"Idempotency-Key": f"note-{key}"},
                ),
                ledger,
                stop,
            )
            if noted is None:
                return
            assert noted.status_code == 200, noted.text
            with ledger.lock:
                ledger.noted[key] = noted.json()["version"]


def _all_complaints(client: httpx.Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"owner": "agent-crash", "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/complaints", params=params).json()
        rows.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return rows


@pytest.fixture(params=["sqlite", "postgres"])
def complaints_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'complaints.db'}"
    create: Callable[[], str] = request.getfixturevalue("postgres_database")
    return create()


@pytest.mark.timeout(240)
def test_sigkill_during_keyed_writes_duplicates_and_loses_nothing(
    complaints_db: str, tmp_path: Path
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    env = {
        "COMPLAINTS_DATABASE_URL": complaints_db,
        "COMPLAINTS_MONITOR_ENABLED": "false",
        # One token sends every write and then every replay as fast as it can; the
        # limiter's 429 would be a refusal this test is not about.
        "AUTH_RATE_LIMIT_PER_SECOND": "0",
    }
    service = ServiceProcess("complaints", env, tmp_path / "complaints.log").start()
    ledger = Ledger()
    stop = threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(service.url, f"w{i}", ledger, stop))
        for i in range(WRITERS)
    ]
    try:
        for writer in writers:
            writer.start()
        for _ in range(KILLS):
            # Kill in the middle of writes: requests are in flight at any moment.
            time.sleep(rng.uniform(0.1, 0.4))
            service.kill()
            service.restart()
        time.sleep(0.5)
        stop.set()
        for writer in writers:
            writer.join(30)

        assert not ledger.refusals, f"seed {seed}: {ledger.refusals[:5]}"
        assert len(ledger.registered) >= KILLS, f"seed {seed}: too few writes to mean anything"
        with httpx.Client(base_url=service.url, headers=AGENT, timeout=10) as client:
            # Every key once more: the first answer, replayed.
            for key, cid in ledger.registered.items():
                again = client.post(
                    "/v1/complaints",
                    json=_registration(key),
                    headers={"Idempotency-Key": f"reg-{key}"},
                )
                assert again.status_code == 201, f"seed {seed}: {again.text}"
                assert again.json()["id"] == cid, f"seed {seed}: {key} registered twice"
                assert again.headers["idempotent-replayed"] == "true"
            for key, version in ledger.noted.items():
                cid = ledger.registered[key]
                again = client.post(
                    f"/v1/complaints/{cid}/notes",
                    json={"text": f"called back {key}"},
                    headers={"Idempotency-Key": f"note-{key}"},
                )
                assert again.status_code == 200, f"seed {seed}: {again.text}"
                assert again.json()["version"] == version == 2, f"seed {seed}: {key}"
            rows = _all_complaints(client)
    finally:
        stop.set()
        service.stop()

    # No complaint the writers were not told of (a duplicate), none they were told of lost.
    stored = {row["complaint_id"]: row["version"] for row in rows}
    answered = set(ledger.registered.values())
    assert answered <= set(stored), f"seed {seed}: acknowledged complaints lost"
    # Every registration was retried with its key until answered, so any other one is a
    # duplicate: a retry that ran the command again.
    duplicates = set(stored) - answered
    assert not duplicates, f"seed {seed}: {len(duplicates)} duplicate complaints"
    assert all(version <= 2 for version in stored.values()), f"seed {seed}: a note added twice"
    for key in ledger.noted:
        assert stored[ledger.registered[key]] == 2, f"seed {seed}: note of {key} lost"
