"""Real processes and real receivers for the notifications end-to-end tests.

An aiosmtpd server and a small HTTP webhook receiver run in the test
process on free loopback ports; the complaints and notifications services
run as child processes (tests/processes.py). Everything is written under
tmp_path and stopped at the end.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.fernet import Fernet

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import ServiceProcess, free_port

T = TypeVar("T")

STAFF_TOML = """
[staff.agent-1]
email = "agent-1@operator.example"
language = "zh-CN"

[staff.supervisor-1]
email = "supervisor-1@operator.example"
language = "en"
role = "supervisor"
"""


def eventually(probe: Callable[[], T | None], timeout: float = 20.0, every: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def bearer(*roles: str, sub: str = "tester") -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, sub, roles)}"}


class _Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self, delay: float) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow server widens the windows the tests probe
        content = envelope.content
        raw = content.encode() if isinstance(content, str) else bytes(content or b"")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be taken down and brought back."""

    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        self.inbox = _Inbox(delay)
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        """Listen (again) on the same port."""
        if self.controller is None:
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
            self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far."""
        with self.inbox.lock:
            return list(self.inbox.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to `address`."""
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Received:
    """One webhook request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server that records what it is sent."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)

    def start(self) -> WebhookReceiver:
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/complaints"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A running SMTP server."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running webhook receiver."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def complaints(tmp_path: Path) -> Iterator[ServiceProcess]:
    """The complaints service as a real process on SQLite."""
    env = {
        "COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path / 'complaints.db'}",
        "AUTH_JWT_SECRET": JWT_SECRET,
        # Contacts are stored encrypted; a key of our own keeps the test self-contained.
        "COMPLAINTS_MASTER_KEY": Fernet.generate_key().decode(),
    }
    with ServiceProcess("complaints", env, tmp_path / "complaints.log") as process:
        yield process


NotificationsFactory = Callable[..., ServiceProcess]


@pytest.fixture
def notifications(tmp_path: Path, complaints: ServiceProcess) -> Iterator[NotificationsFactory]:
    """Start notifications processes: `notifications(smtp_port, **overrides)`."""
    started: list[ServiceProcess] = []
    staff = tmp_path / "staff.toml"
    staff.write_text(STAFF_TOML)

    def start(smtp_port: int, name: str = "notifications", **overrides: str) -> ServiceProcess:
        env = {
            "AUTH_JWT_SECRET": JWT_SECRET,
            "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'notifications.db'}",
            "NOTIFICATIONS_FEED_URL": complaints.url,
            "NOTIFICATIONS_STAFF_DIRECTORY": str(staff),
            "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver runs on loopback
            "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "NOTIFICATIONS_SMTP_PORT": str(smtp_port),
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
            **{f"NOTIFICATIONS_{k.upper()}": v for k, v in overrides.items()},
        }
        process = ServiceProcess("notifications", env, tmp_path / f"{name}.log")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def register(
    complaints_url: str, name: str, email_address: str, language: str, agent: str = "agent-1"
) -> dict[str, Any]:
    """File a complaint whose customer prefers e-mail; the complaint as returned."""
    body = {
        "customer": {
            "name": name,
            "phone": "+8613800138000",
            "email": email_address,
            "language": language,
            "preferred_channel": "email",
        },
        "channel": "phone",
        "description": "Charged twice for the same month.",
        "category": "billing",
    }
    response = httpx.post(
        f"{complaints_url}/v1/complaints", json=body, headers=bearer("agent", sub=agent), timeout=10
    )
    assert response.status_code == 201, response.text
    doc: dict[str, Any] = response.json()
    return doc


def messages_of(notifications_url: str, **query: str) -> list[dict[str, Any]]:
    """Every message in the outbox matching `query` (follows the cursor)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {**query, "limit": "200", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{notifications_url}/v1/notifications",
            params=params,
            headers=bearer("supervisor"),
            timeout=10,
        ).json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


def all_sent(notifications_url: str, count: int) -> list[dict[str, Any]] | None:
    """The outbox when it holds `count` messages, every one sent; else None."""
    found = messages_of(notifications_url)
    if len(found) == count and all(m["status"] == "sent" for m in found):
        return found
    return None
