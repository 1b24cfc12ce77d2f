"""Channels against real local servers: what goes on the wire, and how failures are classed."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook, WebhookVerificationError

from services.kernel.backoff import Backoff
from services.notifications.addressing import AddressBook
from services.notifications.channels import Delivery, PermanentFailure, TransientFailure
from services.notifications.channels.email import EmailChannel
from services.notifications.channels.sms import SmsChannel
from services.notifications.channels.webhook import WebhookChannel
from services.notifications.contacts import ContactReader
from services.notifications.destinations import DestinationRules, IPAddress
from services.notifications.dispatcher import Dispatcher
from services.notifications.outbox import MessageFilter
from services.notifications.templating import Renderer
from tests.integration.notifications.conftest import DIRECTORY, FakeContacts, Feed, Stack
from tests.processes import free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = "2f1c9d1e-6a55-5b0c-9d8a-0f3e6c0b7a41"
DELIVERY = Delivery(
    key=KEY,
    address="+8613800138000",
    subject="您的投诉已登记，案件编号 260301-004217",
    body="您好！案件编号：260301-004217。\n",
    language="zh-CN",
    event_type="Registered",
)


@dataclass
class Server:
    """An HTTP server answering every request with `status` and `reply`, recording requests."""

    status: int = 200
    reply: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((self.path, dict(self.headers.items()), body))
            payload = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_sms_posts_the_documented_json_with_an_idempotency_key(server: Server) -> None:
    channel = SmsChannel(f"{server.url}/sms", token="gateway-token")
    assert channel.send(DELIVERY) == "HTTP 200"
    [(path, headers, body)] = server.requests
    assert path == "/sms"
    assert headers["Idempotency-Key"] == KEY
    assert headers["Authorization"] == "Bearer gateway-token"
    assert json.loads(body) == {
        "to": "+8613800138000",
        "text": "您好！案件编号：260301-004217。",
        "language": "zh-CN",
        "reference": KEY,
    }


@pytest.mark.parametrize(
    ("status", "failure", "reason"),
    [
        (500, TransientFailure, None),
        (503, TransientFailure, None),
        (429, TransientFailure, None),
        (400, PermanentFailure, "rejected"),
        (410, PermanentFailure, "gone"),
    ],
)
def test_gateway_answers_are_retried_or_final(
    server: Server, status: int, failure: type[Exception], reason: str | None
) -> None:
    server.status = status
    with pytest.raises(failure) as raised:
        SmsChannel(server.url).send(DELIVERY)
    if reason:
        assert getattr(raised.value, "reason", None) == reason


def test_an_unreachable_gateway_is_retried() -> None:
    with pytest.raises(TransientFailure):
        SmsChannel(f"http://127.0.0.1:{free_port()}", timeout=2).send(DELIVERY)


def test_webhooks_are_signed_over_the_exact_body(server: Server) -> None:
    delivery = Delivery(
        key=KEY,
        address=f"{server.url}/hook",
        subject="Registered",
        body='{"delivery_key":"k","event":{"type":"Registered"}}',
        language="",
        event_type="Registered",
        secret=SECRET,
    )
    WebhookChannel(rules=DestinationRules(allow_private=True)).send(delivery)
    [(_, headers, body)] = server.requests
    assert body == delivery.body.encode()
    assert headers["X-Delivery-Key"] == KEY and headers["X-Event-Type"] == "Registered"
    assert headers["webhook-id"] == KEY
    Webhook(SECRET).verify(body, dict(headers))  # the stock Standard Webhooks verifier
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"Registered", b"Closed"), dict(headers))


def test_contact_reads_name_their_purpose_and_treat_erasure_as_final(server: Server) -> None:
    server.reply = {"customer": {"phone": "+8613800138000", "email": "z@example.com"}}
    reader = ContactReader(server.url, lambda: "service-token")
    contact = reader.read("c-1", "notification:receipt")
    assert (contact.phone, contact.email) == ("+8613800138000", "z@example.com")
    path, headers, _ = server.requests[0]
    assert path == "/v1/complaints/c-1/contact?purpose=notification%3Areceipt"
    assert headers["Authorization"] == "Bearer service-token"
    server.status = 410
    with pytest.raises(PermanentFailure) as raised:
        reader.read("c-1", "notification:receipt")
    assert raised.value.reason == "erased"
    server.status = 503
    with pytest.raises(TransientFailure):
        reader.read("c-1", "notification:receipt")


class _Inbox:
    def __init__(self, code: str = "250 OK") -> None:
        self.code = code
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.code.startswith("250"):
            return self.code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 OK"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("250 OK", "sent"), ("550 No such user", "rejected"), ("450 Try later", "retry")],
)
def test_email_carries_the_key_as_message_id(code: str, outcome: str) -> None:
    inbox = _Inbox(code)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = EmailChannel("127.0.0.1", port, sender="care@operator.example", timeout=5)
        delivery = Delivery(KEY, "zhang@example.com", DELIVERY.subject, DELIVERY.body, "zh-CN")
        if outcome == "sent":
            channel.send(delivery)
            [mail] = inbox.messages
            assert mail["Message-ID"] == f"<{KEY}@operator.example>"
            assert mail["X-Delivery-Key"] == KEY
            assert mail["Subject"] == DELIVERY.subject
            assert mail["Content-Language"] == "zh-CN"
            assert mail.get_content().replace("\r\n", "\n") == DELIVERY.body
        elif outcome == "rejected":
            with pytest.raises(PermanentFailure):
                channel.send(delivery)
        else:
            with pytest.raises(TransientFailure):
                channel.send(delivery)
    finally:
        controller.stop()


def test_smtp_down_is_retried() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), sender="care@operator.example", timeout=2)
    with pytest.raises(TransientFailure):
        channel.send(Delivery(KEY, "zhang@example.com", "s", "b", "en"))


def _hook(address: str) -> Delivery:
    return Delivery(
        key=KEY,
        address=address,
        subject="Registered",
        body='{"delivery_key":"k","event":{"type":"Registered"}}',
        language="",
        event_type="Registered",
        secret=SECRET,
    )


def test_webhooks_connect_to_the_checked_address_keeping_the_host(server: Server) -> None:
    # The name is the receiver's own; only the checked address (this server) is dialled,
    # never a second lookup that a rebinding DNS server could answer differently.
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[IPAddress]:
        looked_up.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    channel = WebhookChannel(rules=DestinationRules(allow_private=True, resolver=resolve))
    assert channel.send(_hook(f"http://hooks.receiver.example:{server.port}/in")) == "HTTP 200"
    [(path, headers, _)] = server.requests
    assert path == "/in" and headers["Host"] == f"hooks.receiver.example:{server.port}"
    assert looked_up == ["hooks.receiver.example"]


def test_every_delivery_checks_the_destination_again(server: Server) -> None:
    answers = iter(["127.0.0.1", "127.0.0.1"])

    def rebinding(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(next(answers))]

    allowed = WebhookChannel(rules=DestinationRules(allow_private=True, resolver=rebinding))
    allowed.send(_hook(f"http://hooks.receiver.example:{server.port}/in"))
    strict = WebhookChannel(rules=DestinationRules(resolver=rebinding))
    with pytest.raises(PermanentFailure) as refused:
        strict.send(_hook(f"http://hooks.receiver.example:{server.port}/in"))
    assert refused.value.reason == "destination-refused"
    assert len(server.requests) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_receiver_is_refused_once_private_addresses_are_off(
    server: Server, host: str
) -> None:
    with pytest.raises(PermanentFailure) as refused:
        WebhookChannel().send(_hook(f"http://{host}:{server.port}/in"))
    assert refused.value.reason == "destination-refused"
    assert server.requests == []


def test_redirects_are_not_followed(server: Server) -> None:
    server.status = 307
    with pytest.raises(PermanentFailure):
        WebhookChannel(rules=DestinationRules(allow_private=True)).send(_hook(f"{server.url}/in"))
    assert len(server.requests) == 1


def test_a_name_that_does_not_resolve_is_retried() -> None:
    channel = WebhookChannel(timeout=2)
    with pytest.raises(TransientFailure):
        channel.send(_hook("http://no-such-host.invalid/in"))


def test_a_loopback_subscription_stops_delivering_when_private_addresses_are_off(
    server: Server, stack: Stack, feed: Feed
) -> None:
    # Made while private addresses were allowed; the service now runs without.
    stack.subscriptions.create(f"{server.url}/hook", ["Registered"], SECRET)
    stack.apply([feed.registered(channel="sms")])
    dispatcher = Dispatcher(
        stack.outbox,
        {"webhook": WebhookChannel(rules=DestinationRules(allow_private=False))},
        AddressBook(FakeContacts(), DIRECTORY, stack.subscriptions),
        Renderer(),
        Backoff(base=10.0, maximum=100.0),
    )
    dispatcher.dispatch_once()
    [message] = [m for m in stack.outbox.list(MessageFilter(), 10)[0] if m.channel == "webhook"]
    assert message.status == "dead" and message.dead_reason == "destination-refused"
    assert "127.0.0.1" in (message.last_error or "")
    [attempt] = stack.outbox.attempts_of(message.id)
    assert attempt.outcome == "dead"
    assert server.requests == []
