"""Personal data across the three services, run as real processes (S-11).

Complaints are filed for customers with known names, phones and e-mails in
Chinese and English; after the system has worked them (receipts e-mailed by
a real SMTP server, the audit ledger checkpointed), every database (SQLite
files, or PostgreSQL dumps) and every captured log is scanned: none of those
values may appear in clear. Then a closed complaint is erased: its contact is
gone (410), its case file complete and masked, the audit verifier still
passes, and the notifications service can no longer send to that customer.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import make_url

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import ROOT, ServiceProcess, free_port

T = TypeVar("T")

CUSTOMERS = [
    {
        "name": "欧阳明华",
        "phone": "13912345678",
        "email": "ouyang.minghua@example.cn",
        "account": "ACCT-CN-55501234",
        "language": "zh-CN",
        "preferred_channel": "email",
    },
    {
        "name": "Margaret Thornbury",
        "phone": "+447700900456",
        "email": "margaret.thornbury@example.co.uk",
        "account": "ACCT-UK-77709876",
        "language": "en",
        "preferred_channel": "email",
    },
]
SECRET_WORDS = "my neighbour Mr Wu knows my PIN 9137"


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, sub, [role])}"}


def eventually(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


class Inbox:
    """A real SMTP server's mailbox (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        data = content.encode() if isinstance(content, str) else bytes(content or b"")
        with self.lock:
            self.raw.append(data)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def _env(urls: dict[str, str], tmp_path: Path, smtp_port: int, complaints: str) -> dict[str, str]:
    staff = tmp_path / "staff.toml"
    staff.write_text('[staff.agent-1]\nemail = "agent-1@operator.example"\nlanguage = "en"\n')
    return {
        "COMPLAINTS_DATABASE_URL": urls["complaints"],
        "NOTIFICATIONS_DATABASE_URL": urls["notifications"],
        "NOTIFICATIONS_FEED_URL": complaints,
        "NOTIFICATIONS_STAFF_DIRECTORY": str(staff),
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "NOTIFICATIONS_QUIET_HOURS": "",
        "NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS": "0.2",
        "NOTIFICATIONS_FEED_WAIT_SECONDS": "1",
        "NOTIFICATIONS_FEED_LEASE_SECONDS": "2",
        "AUDIT_DATABASE_URL": urls["audit"],
        "AUDIT_FEED_URL": complaints,
        "AUDIT_SIGNING_KEY": str(tmp_path / "audit.pem"),
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS": "0.5",
        "AUDIT_FEED_WAIT_SECONDS": "1",
        "AUDIT_LEASE_TTL_SECONDS": "2",
    }


def _walk_to_closure(client: httpx.Client, cid: str) -> None:
    agent, sup = bearer("agent", "agent-1"), bearer("supervisor", "sup-1")
    for action, body, who in [
        ("accept", {"category": "billing", "severity": "low"}, agent),
        ("investigate", {"findings": "double charge"}, agent),
        ("resolve", {"resolution": "refunded"}, agent),
        ("confirm", {"satisfaction": 5, "comment": SECRET_WORDS}, agent),
        ("close", {"outcome": "refunded"}, sup),
    ]:
        response = client.post(f"/v1/complaints/{cid}/{action}", json=body, headers=who)
        assert response.status_code == 200, response.text


def _stored_bytes(urls: dict[str, str], tmp_path: Path) -> bytes:
    """Everything the services wrote: SQLite files and logs, or PostgreSQL dumps and logs."""
    chunks = [p.read_bytes() for p in tmp_path.glob("*.log")]
    for url in urls.values():
        if url.startswith("sqlite"):
            path = Path(str(make_url(url).database))
            chunks += [p.read_bytes() for p in path.parent.glob(path.name + "*")]
        else:
            dump = subprocess.run(
                ["pg_dump", "--data-only", url.replace("+psycopg", "")],
                capture_output=True,
                check=True,
                timeout=60,
            )
            chunks.append(dump.stdout)
    return b"\n".join(chunks)


def test_no_clear_personal_data_anywhere_and_erasure_end_to_end(
    database_url: Callable[[str], str], tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    mailbox, smtp_port = inbox
    urls = {name: database_url(name) for name in ("complaints", "notifications", "audit")}
    complaints = ServiceProcess("complaints", {}, tmp_path / "complaints.log")
    complaints.env = _env(urls, tmp_path, smtp_port, complaints.url)
    notifications = ServiceProcess("notifications", complaints.env, tmp_path / "notif.log")
    audit = ServiceProcess("audit", complaints.env, tmp_path / "audit.log")
    processes = [complaints, notifications, audit]
    try:
        for process in processes:
            process.start()
        agent = bearer("agent", "agent-1")
        client = httpx.Client(base_url=complaints.url, timeout=30)
        ids = []
        for customer in CUSTOMERS:
            body = {"customer": customer, "channel": "phone", "description": SECRET_WORDS}
            created = client.post("/v1/complaints", json=body, headers=agent)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        eventually(lambda: len(mailbox.raw) >= 2)  # both receipts reached the SMTP server
        for cid in ids:
            client.get(
                f"/v1/complaints/{cid}/contact", params={"purpose": "call back"}, headers=agent
            )

        # Erase one complaint while the notifications service is down, so the
        # closure survey is decided after the erasure and must not be sent.
        notifications.stop()
        erased_id = ids[0]
        _walk_to_closure(client, erased_id)
        sup = bearer("supervisor", "sup-1")
        erase = client.post(
            f"/v1/complaints/{erased_id}/erase", json={"reason": "customer request"}, headers=sup
        )
        assert erase.status_code == 200, erase.text
        notifications.start()

        contact = client.get(
            f"/v1/complaints/{erased_id}/contact", params={"purpose": "check"}, headers=sup
        )
        assert contact.status_code == 410
        history = client.get(f"/v1/complaints/{erased_id}/history", headers=sup).json()
        types = [e["type"] for e in history["events"]]
        assert types[0] == "Registered" and types[-1] == "Erased"
        assert {"Accepted", "Resolved", "Confirmed", "Closed", "ContactRead"} <= set(types)
        assert history["events"][0]["data"]["customer"]["name"] == "[erased]"

        def survey_is_dead() -> dict[str, Any] | None:
            found = httpx.get(
                f"{notifications.url}/v1/notifications",
                params={"complaint_id": erased_id},
                headers=sup,
                timeout=10,
            ).json()["items"]
            survey = [m for m in found if m["audience"] == "customer" and m["status"] != "sent"]
            dead = [m for m in survey if m["status"] == "dead"]
            return dead[0] if dead and len(dead) == len(survey) else None

        dead = eventually(survey_is_dead)
        assert dead["dead_reason"] == "erased"

        # The audit ledger holds every event and still verifies.
        regulator = bearer("regulator", "reg-1")
        feed_size = len(client.get("/v1/events?limit=1000", headers=regulator).json()["items"])

        def checkpointed() -> bool:
            note = httpx.get(f"{audit.url}/v1/audit/checkpoint", headers=regulator).text
            return note.count("\n") > 2 and int(note.split("\n")[1]) == feed_size

        eventually(checkpointed)
        key = tmp_path / "audit.pub"
        key.write_text(httpx.get(f"{audit.url}/v1/audit/public-key", headers=regulator).text)
        token = regulator["Authorization"].removeprefix("Bearer ")
        verify = ["services.audit.verify", "--url", audit.url, "--key", str(key)]
        verified = subprocess.run(
            [sys.executable, "-m", *verify, "--token", token],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        client.close()
    finally:
        for process in processes:
            process.stop()

    stored = _stored_bytes(urls, tmp_path)
    assert len(stored) > 10_000, "the scan read the databases"
    for customer in CUSTOMERS:
        for field in ("name", "phone", "email", "account"):
            assert customer[field].encode() not in stored, f"{field} found in clear"
    assert SECRET_WORDS.encode() not in stored, "the customer's own words found in clear"
    # The clear values did travel where they must: to the customer's mailbox.
    assert any(CUSTOMERS[1]["email"].encode() in raw for raw in mailbox.raw)
