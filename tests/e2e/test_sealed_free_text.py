"""Free text typed by staff (and the customer) leaves no trace after erasure (issue 8, item 4).

The three services run as real processes. A phone number and an ID-card
number are typed into every free-text field a case can hold, over the real
HTTP API. Before erasure a regulator checks the text the complaints service
shows against the commitments the audit ledger holds; the customer's result
e-mail still quotes the resolution (read at send time). After erasure
neither number is in any feed page, ledger entry, webhook delivery, database
file (SQLite with its WAL, or a PostgreSQL dump) or log of the three
services, and the standalone verifier still passes.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.e2e.notifications.conftest import WebhookReceiver
from tests.e2e.test_personal_data import Inbox, _env, _stored_bytes, eventually
from tests.integration.complaints_fixtures import CUSTOMER_EN
from tests.integration.test_sealed_text import ID_CARD, PHONE, walk_every_free_text_field
from tests.processes import ROOT, ServiceProcess, free_port

CUSTOMER_SECRET = "customer-token-secret-for-tests-0123456789abcdef"
NEEDLES = (PHONE.encode(), ID_CARD.encode())


def auth(role: str, sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, sub, [role])}"}


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver().start()
    yield started
    started.stop()


def mail_text(raw: bytes) -> str:
    """The decoded text of every part of one e-mail."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
    return "\n".join(str(p) for p in parts)


def feed(complaints: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{complaints}/v1/events",
            params={"after": after, "limit": 1000},
            headers=auth("service", "audit"),
            timeout=30,
        ).json()
        if not page["items"]:
            return items
        items += page["items"]
        after = page["last_position"]


def ledger(audit: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = httpx.get(
            f"{audit}/v1/audit/entries",
            params={"start": start},
            headers=auth("regulator", "reg-1"),
            timeout=30,
        ).json()
        entries += page["entries"]
        start = page["next_start"]
    return entries


def verify(audit: str, key: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """The standalone verifier, run as a regulator would."""
    token = mint_token(JWT_SECRET, "reg-1", ["regulator"])
    return subprocess.run(
        [
            *(sys.executable, "-m", "services.audit.verify"),
            *("--url", audit, "--key", str(key), "--token", token, *more),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def signed_up_to(audit: str, size: int) -> bool:
    note = httpx.get(
        f"{audit}/v1/audit/checkpoint", headers=auth("regulator", "reg-1"), timeout=10
    ).text
    return note.count("\n") > 2 and int(note.split("\n")[1]) == size


def regulator_checks_case_file(complaints: str, audit: str, cid: str) -> int:
    """The text shown by the complaints service opens the ledger's commitments; returns how many."""
    case = httpx.get(
        f"{complaints}/v1/complaints/{cid}/history",
        params={"purpose": "checking the case file against the ledger"},
        headers=auth("regulator", "reg-1"),
        timeout=30,
    ).json()
    entries = httpx.get(
        f"{audit}/v1/audit/cases/{cid}", headers=auth("regulator", "reg-1"), timeout=30
    ).json()["entries"]
    in_ledger = {e["version"]: e["data"].get("sealed", {}) for e in entries}
    checked = 0
    for event in case["events"]:
        if event["version"] not in in_ledger:
            continue  # a recorded read (contact, words) newer than the checkpoint
        for field, opening in event["sealed"].items():
            text = event["data"][field]
            digest = hashlib.sha256(bytes.fromhex(opening["salt"]) + text.encode()).hexdigest()
            assert in_ledger[event["version"]][field] == f"sha256:{digest}", (event["type"], field)
            checked += 1
    return checked


async def test_free_text_is_nowhere_after_erasure(
    database_url: Callable[[str], str],
    tmp_path: Path,
    mail: tuple[Inbox, int],
    receiver: WebhookReceiver,
) -> None:
    mailbox, smtp_port = mail
    urls = {name: database_url(name) for name in ("complaints", "notifications", "audit")}
    complaints = ServiceProcess("complaints", {}, tmp_path / "complaints.log")
    complaints.env = {
        **_env(urls, tmp_path, smtp_port, complaints.url),
        "COMPLAINTS_CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET,
        "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver runs on loopback
    }
    notifications = ServiceProcess("notifications", complaints.env, tmp_path / "notif.log")
    audit = ServiceProcess("audit", complaints.env, tmp_path / "audit.log")
    processes = [complaints, notifications, audit]
    try:
        for process in processes:
            process.start()
        subscribed = httpx.post(
            f"{notifications.url}/v1/webhooks",
            json={"url": receiver.url, "event_types": []},
            headers=auth("admin"),
            timeout=10,
        )
        assert subscribed.status_code == 201, subscribed.text

        def headers(role: str, sub: str = "tester") -> dict[str, str]:
            return auth(role, sub)

        async with httpx.AsyncClient(base_url=complaints.url, timeout=30) as client:
            ids = await walk_every_free_text_field(client, headers, customer=CUSTOMER_EN)

        # Before erasure: the regulator's check, and the customer told the result's words.
        eventually(lambda: signed_up_to(audit.url, len(feed(complaints.url))), timeout=60)
        checked = sum(regulator_checks_case_file(complaints.url, audit.url, cid) for cid in ids)
        assert checked >= 30
        key = tmp_path / "audit.pub"
        key.write_text(
            httpx.get(f"{audit.url}/v1/audit/public-key", headers=auth("regulator")).text
        )
        # The same check by the standalone verifier, from a saved case file, and its failure.
        case_file = httpx.get(
            f"{complaints.url}/v1/complaints/{ids[0]}/history",
            params={"purpose": "case file for the verifier"},  # the words, opened on record
            headers=auth("regulator", "reg-1"),
            timeout=30,
        ).json()
        # That read (TextRead) is an event too: let the ledger take it in first.
        eventually(lambda: signed_up_to(audit.url, len(feed(complaints.url))), timeout=60)
        saved = tmp_path / "case.json"
        saved.write_text(json.dumps(case_file))
        verified = verify(audit.url, key, "--case", ids[0], "--texts", str(saved))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert " texts opening their commitments" in verified.stdout
        findings = next(e for e in case_file["events"] if e["type"] == "Investigated")
        findings["data"]["findings"] = findings["data"]["findings"].replace("ring", "call")
        saved.write_text(json.dumps(case_file))
        forged = verify(audit.url, key, "--case", ids[0], "--texts", str(saved))
        assert forged.returncode == 1 and "does not open" in forged.stderr, forged.stderr
        told = eventually(
            lambda: [t for t in map(mail_text, mailbox.raw) if "resolution" in t], timeout=60
        )
        assert PHONE in told[0], "the result message quotes the resolution, read at send time"

        for cid in ids:
            for _ in range(10):  # a send-time contact read may win the race: try again
                erased = httpx.post(
                    f"{complaints.url}/v1/complaints/{cid}/erase",
                    json={"reason": f"erase: {PHONE} {ID_CARD}"},
                    headers=auth("supervisor", "sup-1"),
                    timeout=30,
                )
                if erased.status_code != 409:
                    break
            assert erased.status_code == 200, erased.text

        items = feed(complaints.url)
        eventually(lambda: signed_up_to(audit.url, len(items)), timeout=60)
        entries = ledger(audit.url)
        assert len(entries) == len(items)
        assert all("sealed" in e["data"] for e in entries if e["type"] == "Investigated")
        deliveries = eventually(
            lambda: receiver.requests if len(receiver.requests) >= len(items) else None,
            timeout=60,
        )
        public = json.dumps([items, entries]).encode() + b"".join(r.body for r in deliveries)
        for needle in NEEDLES:
            assert needle not in public, "free text in the feed, the ledger or a webhook"
        for cid in ids:
            case = httpx.get(
                f"{complaints.url}/v1/complaints/{cid}/history",
                headers=auth("supervisor", "sup-1"),
                timeout=30,
            ).text
            assert PHONE not in case and ID_CARD not in case, "free text readable after erasure"

        verified = verify(audit.url, key)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        time.sleep(1)  # the consumers' last page committed and logged
    finally:
        for process in processes:
            process.stop()

    stored = _stored_bytes(urls, tmp_path)
    assert len(stored) > 10_000, "the scan read the databases and logs"
    # pg_dump writes byte columns (event states, ledger leaves) as hex: look for both forms.
    assert b"APL-9" in stored or b"APL-9".hex().encode() in stored, "the scan reads the events"
    for needle in NEEDLES:
        assert needle not in stored, "free text in a database, WAL or log"
        assert needle.hex().encode() not in stored, "free text in a database (as bytes)"
