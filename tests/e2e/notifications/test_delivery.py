"""End to end: complaints and notifications as real processes, a real SMTP server,
a real webhook receiver. Customers get their receipt in their own language;
webhooks arrive signed; contact reads are recorded in the case file."""

from __future__ import annotations

import re

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e.notifications.conftest import (
    NotificationsFactory,
    SmtpServer,
    WebhookReceiver,
    bearer,
    eventually,
    messages_of,
    register,
)
from tests.processes import ServiceProcess

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_receipts_in_the_customers_language_and_signed_webhooks(
    complaints: ServiceProcess,
    notifications: NotificationsFactory,
    smtp: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    service = notifications(smtp.port)
    subscribed = httpx.post(
        f"{service.url}/v1/webhooks",
        json={
            "url": webhook_receiver.url,
            "event_types": ["Registered", "Accepted"],
            "secret": SECRET,
        },
        headers=bearer("admin"),
    )
    assert subscribed.status_code == 201

    zh = register(complaints.url, "张三", "zhang.san@example.com", "zh-CN")
    en = register(complaints.url, "John Smith", "john.smith@example.com", "en")

    [zh_mail] = eventually(lambda: smtp.to("zhang.san@example.com"))
    [en_mail] = eventually(lambda: smtp.to("john.smith@example.com"))

    assert zh["case_number"] in zh_mail["Subject"] and "登记" in zh_mail["Subject"]
    zh_body = zh_mail.get_content()
    assert zh["case_number"] in zh_body and "受理" in zh_body
    assert zh_mail["Content-Language"] == "zh-CN"
    assert en["case_number"] in en_mail["Subject"] and "registered" in en_mail["Subject"]
    en_body = en_mail.get_content()
    assert en["case_number"] in en_body and "What happens next" in en_body
    assert not re.search(r"[\u4e00-\u9fff]", en_body)
    for mail, name in ((zh_mail, "张三"), (en_mail, "John")):
        assert name not in mail.get_content()
        assert "13800138000" not in mail.get_content()

    # Message-ID carries the delivery key the outbox shows.
    outbox = {m["complaint_id"]: m for m in messages_of(service.url, status="sent")}
    assert zh_mail["Message-ID"] == f"<{outbox[zh['id']]['id']}@operator.example>"
    assert zh_mail["X-Delivery-Key"] == outbox[zh["id"]]["id"]
    assert outbox[en["id"]]["recipient_masked"] == "j***@example.com"

    # Acceptance, told in English, and the webhook for it.
    accepted = httpx.post(
        f"{complaints.url}/v1/complaints/{en['id']}/accept",
        json={"category": "billing", "severity": "medium"},
        headers=bearer("agent", sub="agent-1"),
    )
    assert accepted.status_code == 200
    eventually(lambda: len(smtp.to("john.smith@example.com")) == 2)
    assert "accepted" in smtp.to("john.smith@example.com")[1]["Subject"]

    hooks = eventually(
        lambda: webhook_receiver.requests if len(webhook_receiver.requests) >= 3 else None
    )
    assert sorted(h.json()["event"]["type"] for h in hooks) == [
        "Accepted",
        "Registered",
        "Registered",
    ]
    for hook in hooks:
        # A stock Standard Webhooks verifier accepts the real delivery, not a tampered one.
        assert Webhook(SECRET).verify(hook.body, hook.headers) == hook.json()
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(hook.body[:-1] + b" }", hook.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(hook.body, {**hook.headers, "webhook-id": "replayed-id"})
        assert hook.headers["webhook-id"] == hook.headers["x-delivery-key"]
        assert hook.headers["x-delivery-key"] == hook.json()["delivery_key"]
        assert hook.headers["x-event-type"] == hook.json()["event"]["type"]
        assert "zhang.san" not in hook.body.decode() and "张三" not in hook.body.decode()
    assert len({h.headers["x-delivery-key"] for h in hooks}) == 3

    # Each send read the contact through the complaints service, which recorded it.
    history = httpx.get(
        f"{complaints.url}/v1/complaints/{zh['id']}/history", headers=bearer("supervisor")
    ).json()
    reads = [e for e in history["events"] if e["type"] == "ContactRead"]
    assert len(reads) == 1 and reads[0]["actor"]["role"] == "service"

    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["feed_lag"] is not None
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'notification_messages{channel="email",status="sent"} 3.0' in metrics
    assert 'notification_attempts_total{channel="webhook",outcome="sent"} 3.0' in metrics
