"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", tamper and replay refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.notifications.signing import InvalidSignature, sign, verify

SECRET = "whsec-0123456789abcdef"
BODY = b'{"event":{"type":"Registered"}}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert verify(SECRET, BODY, header, now=1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize(
    ("secret", "body"),
    [("another-secret-value", BODY), (SECRET, BODY + b" "), (SECRET, b"{}")],
)
def test_a_wrong_secret_or_a_changed_body_is_refused(secret: str, body: bytes) -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(secret, body, header, now=1_700_000_000)


def test_an_old_timestamp_is_refused_as_a_replay() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    with pytest.raises(InvalidSignature, match="replay"):
        verify(SECRET, BODY, header, tolerance_seconds=300, now=1_700_000_301)


def test_a_moved_timestamp_breaks_the_signature() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    forged = header.replace("t=1700000000", "t=1700000100")
    with pytest.raises(InvalidSignature):
        verify(SECRET, BODY, forged, now=1_700_000_100)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1700000000"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, BODY, header, now=1_700_000_000)
