"""SMS replies end to end: a result SMS goes out through a real gateway receiver, the reply
comes back signed to the notifications service, and the case file shows the customer's act."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from services.notifications.replies import signature_for
from tests.e2e.notifications.conftest import WebhookReceiver, eventually
from tests.e2e.portal.conftest import (
    INBOUND_SECRET,
    SystemFactory,
    history,
    last_act,
    register,
    resolve,
)

PHONE = "13812345678"


def _sms_texts(gateway: WebhookReceiver) -> list[str]:
    return [str(r.json()["text"]) for r in list(gateway.requests)]


def _reply(url: str, text: str, *, secret: str = INBOUND_SECRET, at: int | None = None) -> Any:
    body = json.dumps(
        {"from": "+86 138 1234 5678", "text": text, "received_at": datetime.now(UTC).isoformat()},
        ensure_ascii=False,
    ).encode()
    stamp = str(at if at is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": "sha256=" + signature_for(secret, stamp, body),
    }
    return httpx.post(f"{url}/v1/inbound/sms", content=body, headers=headers), body, headers


def _resolved_by_sms(s: Any, gateway: WebhookReceiver, language: str = "zh-CN") -> dict[str, Any]:
    complaint = register(s.complaints.url, language=language, channel="sms", phone=PHONE)
    resolve(s.complaints.url, complaint["id"])
    number = complaint["case_number"]
    eventually(
        lambda: [t for t in _sms_texts(gateway) if number in t and ("处理结果" in t)], timeout=30
    )
    return complaint


def test_replies_confirm_dispute_and_are_recorded(
    system: SystemFactory, sms_gateway: WebhookReceiver
) -> None:
    s = system(sms_url=sms_gateway.url)
    assert s.notifications is not None
    inbound = s.notifications.url
    first = _resolved_by_sms(s, sms_gateway)
    result_sms = next(t for t in _sms_texts(sms_gateway) if "处理结果" in t)
    assert f"{s.portal.url}/c/{first['case_number']}?t=" in result_sms

    r, _, _ = _reply(inbound, "4")
    assert r.status_code == 202, r.text
    assert r.json() == {"outcome": "confirmed", "case_number": first["case_number"]}
    last = last_act(s.complaints.url, first["id"])
    assert last["type"] == "Confirmed"
    assert last["actor"] == {"id": "customer", "role": "customer", "via": "sms"}
    assert last["data"]["satisfaction"] == 4
    eventually(lambda: [t for t in _sms_texts(sms_gateway) if "确认和评价已登记" in t], timeout=30)

    # A reply answers the latest result sent to that number.
    second = _resolved_by_sms(s, sms_gateway)
    r, _, _ = _reply(inbound, "不满意")
    assert r.json() == {"outcome": "disputed", "case_number": second["case_number"]}
    last = last_act(s.complaints.url, second["id"])
    assert (last["type"], last["actor"]["role"], last["actor"]["via"]) == (
        "Disputed",
        "customer",
        "sms",
    )
    eventually(lambda: [t for t in _sms_texts(sms_gateway) if "异议已登记" in t], timeout=30)

    r, _, _ = _reply(inbound, "请尽快给我回电话")
    assert r.json()["outcome"] == "recorded"
    last = last_act(s.complaints.url, second["id"])
    assert last["type"] == "CustomerMessaged"
    assert last["data"]["text"] == "请尽快给我回电话"  # sealed, shown to staff on the case


def test_forged_stale_and_replayed_requests_are_refused(
    system: SystemFactory, sms_gateway: WebhookReceiver
) -> None:
    s = system(sms_url=sms_gateway.url)
    assert s.notifications is not None
    inbound = s.notifications.url
    complaint = _resolved_by_sms(s, sms_gateway, language="zh-CN")
    forged, _, _ = _reply(inbound, "5", secret="not-the-gateway-secret-0123456789")
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    stale, _, _ = _reply(inbound, "5", at=int(time.time()) - 3600)
    assert stale.status_code == 401
    unsigned = httpx.post(f"{inbound}/v1/inbound/sms", json={"from": PHONE, "text": "5"})
    assert unsigned.status_code == 401
    assert last_act(s.complaints.url, complaint["id"])["type"] != "Confirmed"

    ok, body, headers = _reply(inbound, "5")
    assert ok.status_code == 202 and ok.json()["outcome"] == "confirmed"
    replay = httpx.post(f"{inbound}/v1/inbound/sms", content=body, headers=headers)
    assert replay.status_code == 409
    confirmations = [
        e for e in history(s.complaints.url, complaint["id"]) if e["type"] == "Confirmed"
    ]
    assert len(confirmations) == 1
    # A tampered body under a genuine signature is refused too.
    tampered = httpx.post(
        f"{inbound}/v1/inbound/sms", content=body.replace(b'"5"', b'"1"'), headers=headers
    )
    assert tampered.status_code == 401
