"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", with replay protection.

Header form: `X-Signature: t=<unix seconds>,v1=<hex digest>`. A receiver
recomputes the digest with the shared secret, compares in constant time,
and refuses a timestamp older than its tolerance, so a captured request
cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The signature header is malformed, wrong, or too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Signature` header value for `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={signature(secret, ts, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a header against `body`; returns its timestamp or raises `InvalidSignature`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("malformed signature header") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp outside the tolerance: possible replay")
    if not hmac.compare_digest(given, signature(secret, timestamp, body)):
        raise InvalidSignature("signature does not match")
    return timestamp
