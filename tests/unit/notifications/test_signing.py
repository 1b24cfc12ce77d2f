"""Webhook signatures per Standard Webhooks, checked with the stock `standardwebhooks` library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifications.signing import new_secret, signed_headers, signing_key

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the specification's example secret
BODY = b'{"event":{"type":"Registered"}}'
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_the_signature_is_v1_base64_hmac_of_id_dot_timestamp_dot_body() -> None:
    headers = signed_headers(SECRET, MESSAGE_ID, BODY, timestamp=1_700_000_000)
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{MESSAGE_ID}.1700000000.".encode() + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_the_stock_verifier_accepts_a_fresh_signature() -> None:
    headers = signed_headers(SECRET, MESSAGE_ID, BODY)
    assert Webhook(SECRET).verify(BODY, headers) == {"event": {"type": "Registered"}}


@pytest.mark.parametrize(
    ("secret", "body", "message_id"),
    [
        (new_secret(), BODY, MESSAGE_ID),
        (SECRET, BODY + b" ", MESSAGE_ID),
        (SECRET, b"{}", MESSAGE_ID),
        (SECRET, BODY, "msg_another"),
    ],
)
def test_the_stock_verifier_refuses_a_wrong_secret_body_or_id(
    secret: str, body: bytes, message_id: str
) -> None:
    headers = signed_headers(SECRET, MESSAGE_ID, BODY)
    headers["webhook-id"] = message_id
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_the_stock_verifier_refuses_an_old_timestamp_as_a_replay() -> None:
    headers = signed_headers(SECRET, MESSAGE_ID, BODY, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, headers)


def test_new_secrets_have_the_whsec_form_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(signing_key(secret)) == 32
    assert new_secret() != secret


def test_a_secret_from_before_the_standard_keys_with_its_own_bytes() -> None:
    """What a stock verifier does with `whsec_` + base64 of the old string."""
    legacy = "e2e-webhook-secret-0123456789"
    headers = signed_headers(legacy, MESSAGE_ID, BODY)
    Webhook("whsec_" + base64.b64encode(legacy.encode()).decode()).verify(BODY, headers)
