"""SMS replies: which case a customer's reply is about, and what it says.

When a result or survey SMS is sent, the service keeps a keyed digest of the
number it went to (never the number), the case and the time. A reply from
that number is about the latest such case. Its text is read as:

- a digit 1-5: a rating (confirms the result, or answers the survey);
- a dispute word (`不满意`, `N`, `no`; configurable): a dispute;
- anything else: the customer's words, recorded and routed to the owner.

Each act goes to the complaints service's customer routes with this
service's token, so it lands in the case file by role `customer`, via `sms`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from services.kernel.database import reading
from services.kernel.phones import InvalidPhoneNumber, normalise_phone

metadata = MetaData()

sent_sms = Table(
    "reply_index",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("number_key", String(64), nullable=False, index=True),
    Column("case_number", String(40), nullable=False),
    Column("template", String(40), nullable=False),
    Column("sent_at", Float, nullable=False),
)

seen_requests = Table(
    "inbound_seen",
    metadata,
    Column("signature", String(64), primary_key=True),
    Column("seen_at", Float, nullable=False),
)

ANSWERABLE = ("result", "survey")


class Replay(Exception):
    """This signed request was handled before."""


@dataclass(frozen=True)
class Outcome:
    """What a reply did: `confirmed`, `disputed`, `recorded` or `unmatched`."""

    outcome: str
    case_number: str | None = None


class ReplyBook:
    """The reply index and the replay guard, in the service's own database."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self.engine = engine
        # A key of its own for the number digests, so the index never holds a number.
        self.key = hmac.new(secret.encode(), b"reply-index", hashlib.sha256).digest()
        metadata.create_all(engine, checkfirst=True)

    def number_key(self, number: str) -> str | None:
        """The digest a number is kept under (None if it is no phone number)."""
        try:
            canonical = normalise_phone(number)
        except InvalidPhoneNumber:
            return None
        return hmac.new(self.key, canonical.encode(), hashlib.sha256).hexdigest()

    def remember(self, message_id: str, number: str, case_number: str, template: str) -> None:
        """Note that an answerable SMS went to `number` (called once it is sent)."""
        key = self.number_key(number)
        if key is None or template not in ANSWERABLE:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sent_sms.insert().values(
                        message_id=message_id,
                        number_key=key,
                        case_number=case_number,
                        template=template,
                        sent_at=time.time(),
                    )
                )
        except IntegrityError:
            pass  # sent again after a crash: already noted

    def latest_case(self, number: str) -> str | None:
        """The case of the latest result or survey sent to `number`."""
        key = self.number_key(number)
        if key is None:
            return None
        with reading(self.engine) as conn:
            row = conn.execute(
                select(sent_sms.c.case_number)
                .where(sent_sms.c.number_key == key)
                .order_by(sent_sms.c.sent_at.desc())
                .limit(1)
            ).first()
        return str(row[0]) if row else None

    def claim(self, signature: str) -> None:
        """Mark a signed request as seen, or raise `Replay`."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    seen_requests.insert().values(signature=signature, seen_at=time.time())
                )
        except IntegrityError as exc:
            raise Replay(signature) from exc

    def release(self, signature: str) -> None:
        """Forget a request that failed for a reason of ours, so the gateway may retry it."""
        with self.engine.begin() as conn:
            conn.execute(delete(seen_requests).where(seen_requests.c.signature == signature))


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of `<timestamp>.<body>` in hex: what the gateway sends as X-Signature."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class ReplyDesk:
    """Reads a reply and carries it out on the case."""

    def __init__(
        self,
        book: ReplyBook,
        complaints_url: str,
        token: Callable[[], str],
        dispute_words: Collection[str],
        timeout: float = 10.0,
    ) -> None:
        self.book = book
        self.complaints_url = complaints_url.rstrip("/")
        self.token = token
        self.dispute_words = {w.strip().casefold() for w in dispute_words if w.strip()}
        self.timeout = timeout

    def handle(self, number: str, text: str) -> Outcome:
        """Carry out one reply; raises `httpx.HTTPError` or `RuntimeError` when complaints fail."""
        case_number = self.book.latest_case(number)
        if case_number is None:
            return Outcome("unmatched")
        words = text.strip()
        if len(words) == 1 and words in "12345":
            if self._act(case_number, "confirm", {"satisfaction": int(words)}):
                return Outcome("confirmed", case_number)
        elif words.casefold() in self.dispute_words and self._act(
            case_number, "dispute", {"reason": words}
        ):
            return Outcome("disputed", case_number)
        # Anything else, or an act the case no longer allows: the words are kept for the owner.
        self._act(case_number, "messages", {"text": words[:2000] or "(empty)"}, required=True)
        return Outcome("recorded", case_number)

    def _act(
        self, case_number: str, act: str, body: dict[str, Any], required: bool = False
    ) -> bool:
        response = httpx.post(
            f"{self.complaints_url}/v1/customer-cases/{quote(case_number, safe='')}/{act}",
            params={"via": "sms"},
            json=body,
            headers={
                "Authorization": f"Bearer {self.token()}",
                "X-Request-ID": uuid.uuid4().hex,
            },
            timeout=self.timeout,
        )
        if response.is_success:
            return True
        if response.status_code in (409, 410) and not required:
            return False
        raise RuntimeError(f"complaints answered HTTP {response.status_code} to {act}")
