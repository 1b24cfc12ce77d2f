"""Delivery channels: e-mail (SMTP), SMS (HTTP gateway), signed webhooks, and a log.

A channel hands one `Delivery` to the outside world and says how it went:
it returns a short detail on success, raises `TransientFailure` when trying
again later may work, and `PermanentFailure` when it never will. Each
delivery carries the message's stable key, which the channel passes on
(Message-ID, Idempotency-Key, X-Delivery-Key) so that the receiver can
recognise a repeat after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """What a channel sends: to whom, under which key, with which text."""

    key: str
    address: str
    subject: str
    body: str
    language: str
    event_type: str = ""
    secret: str | None = None


class TransientFailure(Exception):
    """The send failed in a way that may pass: try again later."""


class PermanentFailure(Exception):
    """The send can never succeed as it stands: the message is dead, for `reason`."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason


class Channel(Protocol):
    """Something that delivers messages."""

    name: str

    def send(self, delivery: Delivery) -> str:
        """Deliver, returning a short detail for the attempt record."""
        ...


def http_failure(status: int) -> Exception:
    """How an HTTP status from a gateway or receiver is treated."""
    if status in (408, 425, 429) or status >= 500:
        return TransientFailure(f"HTTP {status}")
    if status == 410:
        return PermanentFailure("gone", f"HTTP {status}")
    return PermanentFailure("rejected", f"HTTP {status}")
