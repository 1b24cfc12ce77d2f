"""Real processes for the portal's end-to-end tests: complaints, notifications, portal.

Each runs as a child process on a free loopback port (tests/processes.py),
with a real SMTP server (aiosmtpd) and a real SMS gateway receiver in the
test process; everything lives under tmp_path and is stopped at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.e2e.notifications.conftest import (  # noqa: F401 - `smtp`: the same fixture here
    STAFF_TOML,
    WebhookReceiver,
    bearer,
    smtp,
)
from tests.processes import ServiceProcess

CUSTOMER_SECRET = "customer-token-secret-for-e2e-tests-0123456789abcdef"
INBOUND_SECRET = "inbound-sms-secret-for-e2e-tests-0123456789"


@dataclass
class System:
    """The running services."""

    complaints: ServiceProcess
    portal: ServiceProcess
    notifications: ServiceProcess | None


SystemFactory = Callable[..., System]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[SystemFactory]:
    """Start the services: `system(smtp_port=..., sms_url=...)`; no port, no notifications."""
    started: list[ServiceProcess] = []

    def start(
        smtp_port: int | None = None, sms_url: str | None = None, **portal_env: str
    ) -> System:
        complaints = ServiceProcess(
            "complaints",
            {
                "COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path / 'complaints.db'}",
                "COMPLAINTS_MASTER_KEY": Fernet.generate_key().decode(),
                "COMPLAINTS_CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET,
                "COMPLAINTS_CODE_MAX_WRONG_TRIES": "3",
            },
            tmp_path / "complaints.log",
        )
        started.append(complaints)
        complaints.start()
        portal = ServiceProcess(
            "portal",
            {
                "PORTAL_COMPLAINTS_URL": complaints.url,
                "PORTAL_CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET,
                **portal_env,
            },
            tmp_path / "portal.log",
        )
        # The link in notices must name the portal's own port.
        portal.env["PORTAL_PUBLIC_URL"] = portal.url
        started.append(portal)
        portal.start()
        notifications = None
        if smtp_port is not None or sms_url is not None:
            staff = tmp_path / "staff.toml"
            staff.write_text(STAFF_TOML)
            env = {
                "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'notifications.db'}",
                "NOTIFICATIONS_FEED_URL": complaints.url,
                "NOTIFICATIONS_STAFF_DIRECTORY": str(staff),
                "NOTIFICATIONS_PORTAL_PUBLIC_URL": portal.url,
                "NOTIFICATIONS_INBOUND_SMS_SECRET": INBOUND_SECRET,
                "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                "NOTIFICATIONS_SMTP_PORT": str(smtp_port or 9),
                "NOTIFICATIONS_SMTP_FROM": "care@operator.example",
                "NOTIFICATIONS_SMTP_TIMEOUT_SECONDS": "2",
                "NOTIFICATIONS_HTTP_TIMEOUT_SECONDS": "2",
                "NOTIFICATIONS_CLAIM_LEASE_SECONDS": "9",
                "NOTIFICATIONS_QUIET_HOURS": "",
                "NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS": "0.1",
                "NOTIFICATIONS_BACKOFF_BASE_SECONDS": "0.2",
                "NOTIFICATIONS_BACKOFF_MAX_SECONDS": "1",
                "NOTIFICATIONS_FEED_WAIT_SECONDS": "1",
                "NOTIFICATIONS_FEED_LEASE_SECONDS": "2",
            }
            if sms_url:
                env["NOTIFICATIONS_SMS_URL"] = sms_url
            notifications = ServiceProcess("notifications", env, tmp_path / "notifications.log")
            started.append(notifications)
            notifications.start()
        return System(complaints, portal, notifications)

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def sms_gateway() -> Iterator[WebhookReceiver]:
    """A running HTTP receiver standing in for the SMS gateway."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def register(
    complaints_url: str,
    *,
    language: str = "en",
    channel: str = "email",
    email: str = "jane@example.org",
    phone: str = "13812345678",
) -> dict[str, Any]:
    """File a complaint as agent-1; the complaint as returned."""
    body = {
        "customer": {
            "name": "Jane Doe" if language == "en" else "张三",
            "phone": phone,
            "email": email,
            "language": language,
            "preferred_channel": channel,
        },
        "channel": "phone",
        "description": "Charged twice for the same month.",
        "category": "billing",
    }
    r = httpx.post(
        f"{complaints_url}/v1/complaints", json=body, headers=bearer("agent", sub="agent-1")
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def resolve(complaints_url: str, complaint_id: str) -> None:
    """Accept, investigate and resolve as agent-1."""
    steps = [
        ("accept", {"category": "billing", "severity": "medium"}),
        ("investigate", {"findings": "Double charge confirmed"}),
        ("resolve", {"resolution": "Refund issued", "remedy": "CNY 30 credit"}),
    ]
    for action, body in steps:
        r = httpx.post(
            f"{complaints_url}/v1/complaints/{complaint_id}/{action}",
            json=body,
            headers=bearer("agent", sub="agent-1"),
        )
        assert r.status_code == 200, r.text


def history(complaints_url: str, complaint_id: str) -> list[dict[str, Any]]:
    """The case file, as a supervisor reads it, words opened (a recorded read, left out here)."""
    r = httpx.get(
        f"{complaints_url}/v1/complaints/{complaint_id}/history",
        params={"purpose": "checking the customer's channel"},
        headers=bearer("supervisor"),
    )
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = [e for e in r.json()["events"] if e["type"] != "TextRead"]
    return events


def link_token(complaints_url: str, case_number: str) -> str:
    """A link token, minted as the notifications service would."""
    r = httpx.post(
        f"{complaints_url}/v1/customer-cases/{case_number}/link-tokens",
        headers=bearer("service", sub="notifications"),
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def last_act(complaints_url: str, complaint_id: str) -> dict[str, Any]:
    """The latest event other than a contact read (notices read the contact as they go out)."""
    return [e for e in history(complaints_url, complaint_id) if e["type"] != "ContactRead"][-1]
