"""The dispatcher: claims due messages, sends them, and records every attempt.

Claims are exclusive (SKIP LOCKED on PostgreSQL, an immediate transaction on
SQLite) and leased, so several dispatchers never send one message at once,
and a message whose sender died is taken again once its lease runs out.
A failure that may pass is retried with exponential backoff and jitter until
MAX_ATTEMPTS, then the message is dead; one that never will is dead at once.

A claimed batch is sent by up to `concurrency` threads: a send mostly waits
(on the channel, the contact read, the outbox's commits), so one at a time a
mass outage's receipts trailed the intake by minutes. The messages of one
complaint stay in order, sent one after another by one thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from services.kernel.backoff import Backoff
from services.notifications.addressing import AddressBook
from services.notifications.channels import (
    Channel,
    Delivery,
    PermanentFailure,
    TransientFailure,
)
from services.notifications.metrics import NotificationMetrics
from services.notifications.outbox import Message, Outbox
from services.notifications.portal_links import ACCESS_CODE, SendTimeContext
from services.notifications.quiet_hours import QuietHours
from services.notifications.replies import ReplyBook
from services.notifications.templating import Renderer, RenderError

log = logging.getLogger("services.notifications.dispatcher")


class Dispatcher:
    """Delivers the outbox, one claimed batch at a time."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        addresses: AddressBook,
        renderer: Renderer,
        backoff: Backoff,
        *,
        max_attempts: int = 8,
        lease_seconds: float = 60.0,
        fresh_for: float = 0.0,
        batch: int = 20,
        quiet_hours: QuietHours | None = None,
        metrics: NotificationMetrics | None = None,
        clock: Callable[[], float] = time.time,
        send_time: SendTimeContext | None = None,
        replies: ReplyBook | None = None,
        concurrency: int = 1,
    ) -> None:
        self.outbox = outbox
        self.channels = dict(channels)
        self.addresses = addresses
        self.renderer = renderer
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        # A claim taken less than this long ago is sent without renewing it first:
        # renewing would add no more than this to its term. 0: always renewed.
        self.fresh_for = max(0.0, min(fresh_for, lease_seconds))
        self.batch = batch
        self.quiet_hours = quiet_hours
        self.metrics = metrics
        self.clock = clock
        self.send_time = send_time
        self.replies = replies
        self.concurrency = max(1, concurrency)
        self._senders: ThreadPoolExecutor | None = None

    def dispatch_once(self) -> int:
        """Claim one batch of due messages and deliver each; returns how many were claimed."""
        claimed = self.outbox.claim(self.batch, self.lease_seconds, self.max_attempts, self.clock())
        lanes = _lanes(claimed)
        if self.concurrency == 1 or len(lanes) == 1:
            for lane in lanes:
                self._deliver_all(lane)
        else:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(self.concurrency, "dispatch")
            # list(): waits for every lane and raises what a lane raised.
            list(self._senders.map(self._deliver_all, lanes))
        return len(claimed)

    def _deliver_all(self, lane: Sequence[Message]) -> None:
        for message in lane:
            self.deliver(message)

    def close(self) -> None:
        """Stop the sending threads (after the sends under way)."""
        if self._senders is not None:
            self._senders.shutdown()
            self._senders = None

    def deliver(self, message: Message) -> None:
        """Try one claimed message and record how it went."""
        started = self.clock()
        left = (message.claimed_until or started) - started
        # Renewing is a write: on SQLite it queues on the file's one lock with the
        # feed consumer, and in a burst every message paid for it. A claim still
        # within `fresh_for` of its full term gives the send all but those seconds
        # of the margin a renewal would (the lease outlasting the slowest send and
        # any clock difference between replicas); any older claim is renewed.
        fresh = self.fresh_for > 0 and left >= self.lease_seconds - self.fresh_for
        if not fresh and not self.outbox.renew(message, self.lease_seconds, started):
            # The claim ran out while earlier messages of the batch were sent.
            log.info("claim lost before sending", extra={"message_id": message.id})
            return
        if self._quiet(message, started):
            assert self.quiet_hours is not None
            until = self.quiet_hours.ends_after(datetime.fromtimestamp(started, UTC))
            self.outbox.defer(message, until.timestamp(), "quiet hours")
            return
        try:
            detail = self._send(message)
        except PermanentFailure as exc:
            self._dead(message, started, exc.reason, str(exc))
        except TransientFailure as exc:
            self._failed(message, started, str(exc))
        except Exception as exc:  # a bug or an unforeseen error: retried, and on record
            log.exception("unexpected send error", extra={"message_id": message.id})
            self._failed(message, started, f"unexpected error: {type(exc).__name__}")
        else:
            self.outbox.mark_sent(message, started, detail)
            self._observe(message, "sent")
            if self.metrics is not None:
                self.metrics.latency.labels(message.channel).observe(
                    max(self.clock() - message.created_at, 0.0)
                )
            log.info("message sent", extra=self._fields(message))

    def _quiet(self, message: Message, now: float) -> bool:
        return (
            self.quiet_hours is not None
            and message.channel == "sms"
            and message.audience == "customer"
            and message.template != ACCESS_CODE  # asked for this minute: never held back
            and self.quiet_hours.contains(datetime.fromtimestamp(now, UTC))
        )

    def _send(self, message: Message) -> str:
        channel = self.channels.get(message.channel)
        if channel is None:
            raise PermanentFailure("channel-not-configured", f"no {message.channel} channel")
        if message.channel == "webhook":
            subject, body = message.event_type, self._webhook_body(message)
        else:
            context = dict(message.template_context)
            if self.send_time is not None:
                context.update(self.send_time.for_message(message))
            try:
                text = self.renderer.render(message.template, message.language, context)
            except RenderError as exc:
                raise PermanentFailure("template-error", str(exc)) from exc
            subject, body = text.subject, text.body
        # Resolved last: a contact read is recorded in the case file, so only when sending.
        address = self.addresses.resolve(message)
        delivery = Delivery(
            key=message.id,
            address=address.address,
            subject=subject,
            body=body,
            language=message.language,
            event_type=message.event_type,
            secret=address.secret,
        )
        detail = channel.send(delivery)
        if self.replies is not None and message.channel == "sms" and message.audience == "customer":
            # So that the customer's reply to this SMS finds its case.
            self.replies.remember(
                message.id, address.address, message.case_number, message.template
            )
        return detail

    @staticmethod
    def _webhook_body(message: Message) -> str:
        event = message.template_context["event"]
        payload = {"delivery_key": message.id, "subscription_id": message.recipient, "event": event}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    def _failed(self, message: Message, started: float, error: str) -> None:
        attempt = message.attempts + 1
        if attempt >= self.max_attempts:
            self._dead(message, started, "max-attempts", error)
            return
        retry_at = self.clock() + self.backoff.delay(attempt)
        self.outbox.mark_failed(message, started, error, retry_at)
        self._observe(message, "failed")
        log.warning("send failed, will retry", extra={**self._fields(message), "error": error})

    def _dead(self, message: Message, started: float, reason: str, error: str) -> None:
        self.outbox.mark_failed(message, started, error, None, dead_reason=reason)
        self._observe(message, "dead")
        log.warning("message dead", extra={**self._fields(message), "reason": reason})

    def _observe(self, message: Message, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.attempts.labels(message.channel, outcome).inc()

    @staticmethod
    def _fields(message: Message) -> dict[str, object]:
        # Ids and kinds only: never the address, the name or the text.
        return {
            "message_id": message.id,
            "complaint_id": message.complaint_id,
            "channel": message.channel,
            "template": message.template,
            "attempt": message.attempts + 1,
        }

    async def run(self, interval: float) -> None:
        """Dispatch forever: at once while batches come back full, else every `interval`."""
        while True:
            try:
                claimed = await asyncio.to_thread(self.dispatch_once)
            except Exception:
                log.exception("dispatch round failed")
                claimed = 0
            if claimed < self.batch:
                await asyncio.sleep(interval)


def _lanes(claimed: Sequence[Message]) -> list[list[Message]]:
    """The batch split per complaint, each complaint's messages in their claimed order."""
    lanes: dict[str, list[Message]] = {}
    for message in claimed:
        lanes.setdefault(message.complaint_id or f"message:{message.id}", []).append(message)
    return list(lanes.values())
