"""Webhook signatures per the Standard Webhooks specification (standardwebhooks.com).

Every delivery carries three headers:

- `webhook-id`: the delivery key, the same on every retry (the receiver's
  idempotency key);
- `webhook-timestamp`: unix seconds at signing;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.

Secrets have the specification's form `whsec_<base64 of 32 random bytes>`;
the HMAC key is the decoded bytes. A secret stored before this scheme (any
other string) keys the HMAC with its UTF-8 bytes, which is exactly what a
stock verifier does with `whsec_` + base64 of that string. Receivers verify
with a stock library (`standardwebhooks`, svix), which also refuses a
timestamp more than five minutes away, so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def new_secret() -> str:
    """A fresh secret in the specification's `whsec_` form (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            pass  # not base64 after all: treat it as a pre-standard secret
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery of `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, message_id, ts, body),
    }
