"""The dispatcher on a real database: claims, attempts, backoff, dead letters, crashes."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from services.kernel.backoff import Backoff
from services.notifications.addressing import AddressBook
from services.notifications.channels import PermanentFailure, TransientFailure
from services.notifications.dispatcher import Dispatcher
from services.notifications.outbox import Message, MessageFilter
from services.notifications.quiet_hours import QuietHours
from services.notifications.templating import Renderer
from tests.integration.notifications.conftest import (
    DIRECTORY,
    FakeChannel,
    FakeContacts,
    Feed,
    Stack,
)

T0 = 1_772_330_400.0  # 2026-03-01 10:00 in Shanghai: outside quiet hours


@dataclass
class Clock:
    """Time the test moves by hand."""

    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A dispatcher with fake channels and contacts."""

    dispatcher: Dispatcher
    channels: dict[str, FakeChannel]
    contacts: FakeContacts
    clock: Clock


def rig(stack: Stack, max_attempts: int = 3, quiet: str | None = None) -> Rig:
    channels = {name: FakeChannel(name) for name in ("email", "sms", "webhook", "log")}
    contacts = FakeContacts()
    clock = Clock()
    dispatcher = Dispatcher(
        stack.outbox,
        channels,
        AddressBook(contacts, DIRECTORY, stack.subscriptions),
        Renderer(),
        Backoff(base=10.0, maximum=100.0, rng=random.Random(3)),
        max_attempts=max_attempts,
        lease_seconds=30.0,
        batch=10,
        quiet_hours=QuietHours.parse(quiet, "Asia/Shanghai") if quiet else None,
        clock=clock,
    )
    return Rig(dispatcher, channels, contacts, clock)


def only(stack: Stack) -> Message:
    rows, _ = stack.outbox.list(MessageFilter(), limit=10)
    assert len(rows) == 1
    return rows[0]


def add_email_receipt(stack: Stack, feed: Feed, now: float = T0) -> Message:
    with stack.engine.begin() as conn:
        stack.intake(conn, [feed.registered(language="en", channel="email")])
    with stack.engine.begin() as conn:
        conn.execute(
            stack.outbox.messages_table.update().values(next_attempt_at=now, created_at=now)
        )
    return only(stack)


def test_a_message_is_sent_with_its_key_and_the_contact_read_at_send_time(
    stack: Stack, feed: Feed
) -> None:
    r = rig(stack)
    message = add_email_receipt(stack, feed)
    assert r.dispatcher.dispatch_once() == 1
    [delivery] = r.channels["email"].sent
    assert delivery.key == message.id
    assert delivery.address == "zhang@example.com"
    assert message.case_number in delivery.subject and message.case_number in delivery.body
    assert r.contacts.reads == [(message.complaint_id, "notification:receipt")]
    sent = only(stack)
    assert sent.status == "sent" and sent.attempts == 1
    assert [a.outcome for a in stack.outbox.attempts_of(message.id)] == ["sent"]
    assert r.dispatcher.dispatch_once() == 0


def test_failures_back_off_then_die_and_an_operator_retry_sends(stack: Stack, feed: Feed) -> None:
    r = rig(stack, max_attempts=3)
    add_email_receipt(stack, feed)
    r.channels["email"].failures = [TransientFailure("SMTP 421")] * 3

    assert r.dispatcher.dispatch_once() == 1
    first = only(stack)
    assert first.status == "pending" and first.attempts == 1
    assert T0 + 5 <= first.next_attempt_at <= T0 + 10  # upper half of base·2^0
    assert r.dispatcher.dispatch_once() == 0  # not due yet

    r.clock.now = first.next_attempt_at
    r.dispatcher.dispatch_once()
    second = only(stack)
    assert second.attempts == 2
    assert r.clock.now + 10 <= second.next_attempt_at <= r.clock.now + 20

    r.clock.now = second.next_attempt_at
    r.dispatcher.dispatch_once()
    dead = only(stack)
    assert (dead.status, dead.dead_reason, dead.last_error) == ("dead", "max-attempts", "SMTP 421")
    assert [a.outcome for a in stack.outbox.attempts_of(dead.id)] == ["failed", "failed", "dead"]

    r.clock.now += 1
    assert stack.outbox.retry(dead.id, now=r.clock.now) is not None
    assert stack.outbox.retry(dead.id) is None  # no longer dead
    r.dispatcher.dispatch_once()
    assert only(stack).status == "sent"
    assert len(r.channels["email"].sent) == 1
    assert len(stack.outbox.attempts_of(dead.id)) == 4


def test_an_erased_customer_is_a_dead_letter_at_once(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    message = add_email_receipt(stack, feed)
    r.contacts.erased.add(message.complaint_id)
    r.dispatcher.dispatch_once()
    dead = only(stack)
    assert (dead.status, dead.dead_reason, dead.attempts) == ("dead", "erased", 1)
    assert r.channels["email"].sent == []


def test_complaints_down_is_retried(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    add_email_receipt(stack, feed)
    r.contacts.down = True
    r.dispatcher.dispatch_once()
    assert only(stack).status == "pending"


def test_a_rejected_message_is_dead_without_retries(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    add_email_receipt(stack, feed)
    r.channels["email"].failures = [PermanentFailure("rejected", "SMTP 550")]
    r.dispatcher.dispatch_once()
    assert (only(stack).status, only(stack).dead_reason) == ("dead", "rejected")


def test_a_crashed_claim_becomes_due_after_its_lease(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    message = add_email_receipt(stack, feed)
    [claimed] = stack.outbox.claim(10, lease_seconds=30, max_attempts=3, now=T0)
    # ... and the process dies here, before recording anything.
    assert stack.outbox.claim(10, 30, 3, now=T0 + 29) == []
    r.clock.now = T0 + 31
    assert r.dispatcher.dispatch_once() == 1
    assert r.channels["email"].sent[0].key == claimed.id == message.id
    assert [a.outcome for a in stack.outbox.attempts_of(message.id)] == ["interrupted", "sent"]
    assert only(stack).status == "sent"


def test_a_message_interrupted_on_its_last_attempt_is_dead(stack: Stack, feed: Feed) -> None:
    add_email_receipt(stack, feed)
    for n in range(3):
        assert len(stack.outbox.claim(10, 30, max_attempts=3, now=T0 + 31 * n)) == 1
    assert stack.outbox.claim(10, 30, max_attempts=3, now=T0 + 200) == []
    assert (only(stack).status, only(stack).dead_reason) == ("dead", "max-attempts")


def test_a_late_result_does_not_overwrite_a_newer_claim(stack: Stack, feed: Feed) -> None:
    add_email_receipt(stack, feed)
    [stale] = stack.outbox.claim(10, 30, 5, now=T0)
    [fresh] = stack.outbox.claim(10, 30, 5, now=T0 + 31)
    assert not stack.outbox.mark_sent(stale, T0, "late")
    assert only(stack).status == "sending"
    assert stack.outbox.mark_sent(fresh, T0 + 31, "ok")
    assert only(stack).status == "sent"


def test_concurrent_claims_never_share_a_message(stack: Stack, feed: Feed) -> None:
    with stack.engine.begin() as conn:
        stack.intake(conn, [feed.registered() for _ in range(40)])
    taken: list[list[str]] = []
    guard = threading.Lock()
    start = threading.Barrier(4)

    def claimer() -> None:
        start.wait()
        mine: list[str] = []
        while batch := stack.outbox.claim(3, 30, 5):
            mine.extend(m.id for m in batch)
        with guard:
            taken.append(mine)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [key for mine in taken for key in mine]
    assert len(every) == len(set(every)) == 40


@pytest.mark.parametrize(("channel", "deferred"), [("sms", True), ("email", False)])
def test_quiet_hours_hold_customer_sms_only(
    stack: Stack, feed: Feed, channel: str, deferred: bool
) -> None:
    r = rig(stack, quiet="22:00-08:00")
    night = T0 + 13 * 3600  # 23:00 in Shanghai
    r.clock.now = night
    with stack.engine.begin() as conn:
        stack.intake(conn, [feed.registered(language="zh-CN", channel=channel)])
    with stack.engine.begin() as conn:
        conn.execute(stack.outbox.messages_table.update().values(next_attempt_at=night))
    r.dispatcher.dispatch_once()
    message = only(stack)
    if deferred:
        assert message.status == "pending" and message.attempts == 0
        assert message.next_attempt_at == T0 + 22 * 3600  # 08:00 the next morning
        assert stack.outbox.attempts_of(message.id) == []
        r.clock.now = message.next_attempt_at
        r.dispatcher.dispatch_once()
    assert only(stack).status == "sent"


def test_an_unconfigured_channel_is_a_dead_letter(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    add_email_receipt(stack, feed)
    del r.dispatcher.channels["email"]
    r.dispatcher.dispatch_once()
    assert only(stack).dead_reason == "channel-not-configured"


def test_webhook_messages_are_signed_with_the_subscription_secret(stack: Stack, feed: Feed) -> None:
    r = rig(stack)
    subscription = stack.subscriptions.create("http://127.0.0.1:9/hook", ["Registered"], "s" * 20)
    with stack.engine.begin() as conn:
        stack.intake(conn, [feed.registered(channel="sms")])
    with stack.engine.begin() as conn:
        conn.execute(stack.outbox.messages_table.update().values(next_attempt_at=T0))
    r.dispatcher.dispatch_once()
    [hook] = r.channels["webhook"].sent
    assert (hook.address, hook.secret, hook.event_type) == (
        "http://127.0.0.1:9/hook",
        "s" * 20,
        "Registered",
    )
    assert '"subscription_id":"' + subscription.id in hook.body
    stack.subscriptions.delete(subscription.id)


def _email_receipts(
    tmp_path: Path, count: int, event_type: str = "Registered", now: float | None = None
) -> Any:
    """A fresh SQLite outbox holding `count` e-mail receipts, each of its own complaint."""
    import uuid

    from services.kernel.database import create_database_engine
    from services.notifications.outbox import NewMessage, Outbox

    outbox = Outbox(create_database_engine(f"sqlite:///{tmp_path}/n.db"))
    context: dict[str, Any] = {
        "case_number": "260301-000001",
        "deadlines": {},
        "event_type": event_type,
    }
    with outbox.engine.begin() as conn:
        outbox.add(
            conn,
            [
                NewMessage(
                    str(uuid.uuid4()),
                    "260301-000001",
                    str(uuid.uuid4()),
                    event_type,
                    position,
                    "customer",
                    "customer",
                    None,
                    "email",
                    "receipt",
                    "en",
                    context,
                )
                for position in range(count)
            ],
            **({} if now is None else {"now": now}),
        )
    return outbox


class _OneAddress:
    """An address book that knows one e-mail address for everyone."""

    def resolve(self, message: Any) -> Any:
        from services.notifications.addressing import Address

        return Address("x@example.com")


@pytest.mark.parametrize("fresh_for", [0.0, 0.2])
def test_a_batch_that_outlives_its_claims_is_never_sent_twice(
    tmp_path: Path, fresh_for: float
) -> None:
    """Two dispatchers: the first's batch is slower than its claim; the second takes over.

    With `fresh_for` a claim taken that recently is sent without renewing it,
    which must still never let a message go out twice.
    """
    import collections
    import threading
    import time

    from services.kernel.backoff import Backoff
    from services.notifications.dispatcher import Dispatcher
    from services.notifications.templating import Renderer

    outbox = _email_receipts(tmp_path, 6)
    engine = outbox.engine
    sent: collections.Counter[str] = collections.Counter()

    class SlowEmail:
        name = "email"

        def send(self, delivery: Any) -> str:
            time.sleep(0.45)
            sent[delivery.key] += 1
            return "ok"

    def dispatcher() -> Dispatcher:
        return Dispatcher(
            outbox,
            {"email": cast(Any, SlowEmail())},
            cast(AddressBook, _OneAddress()),
            Renderer(timezone="UTC", hotline="1"),
            Backoff(1, 2),
            lease_seconds=1.1,
            fresh_for=fresh_for,
            batch=6,
        )

    first, second = dispatcher(), dispatcher()
    running = threading.Thread(target=first.dispatch_once)
    running.start()
    time.sleep(1.3)  # the first batch's later claims have expired by now
    second.dispatch_once()
    running.join()
    while second.dispatch_once() or first.dispatch_once():
        pass
    assert len(sent) == 6, "every message was sent"
    assert set(sent.values()) == {1}, f"sent twice: {sent}"
    engine.dispose()


def test_a_batch_is_sent_in_parallel_each_complaint_in_order(tmp_path: Path) -> None:
    """Concurrency 3: sends overlap across complaints, never within one; each sent once."""
    import collections
    import time
    import uuid

    from services.kernel.database import create_database_engine
    from services.notifications.outbox import NewMessage, Outbox

    engine = create_database_engine(f"sqlite:///{tmp_path}/n.db")
    outbox = Outbox(engine)
    context: dict[str, Any] = {"case_number": "c", "deadlines": {}, "event_type": "Registered"}
    complaints = [str(uuid.uuid4()) for _ in range(3)]
    with engine.begin() as conn:
        outbox.add(
            conn,
            [
                NewMessage(
                    complaint_id=complaint,
                    case_number="c",
                    event_id=str(uuid.uuid4()),
                    event_type="Registered",
                    feed_position=position,
                    audience="customer",
                    recipient="customer",
                    recipient_masked=None,
                    channel="email",
                    template="receipt",
                    language="en",
                    context=context,
                )
                for position in range(4)
                for complaint in complaints
            ],
        )
    order: dict[str, list[int]] = collections.defaultdict(list)
    guard = threading.Lock()
    busy: collections.Counter[str] = collections.Counter()
    most = {"all": 0, "one complaint": 0}

    class SlowEmail:
        name = "email"

        def send(self, delivery: Any) -> str:
            message = next(m for m in claimed if m.id == delivery.key)
            with guard:
                busy[message.complaint_id] += 1
                most["all"] = max(most["all"], sum(busy.values()))
                most["one complaint"] = max(most["one complaint"], busy[message.complaint_id])
            time.sleep(0.05)
            with guard:
                busy[message.complaint_id] -= 1
                order[message.complaint_id].append(message.feed_position)
            return "ok"

    claimed, _ = outbox.list(MessageFilter(), limit=20)
    dispatcher = Dispatcher(
        outbox,
        {"email": cast(Any, SlowEmail())},
        cast(AddressBook, _OneAddress()),
        Renderer(timezone="UTC", hotline="1"),
        Backoff(1, 2),
        batch=20,
        concurrency=3,
    )
    try:
        assert dispatcher.dispatch_once() == 12
    finally:
        dispatcher.close()
    assert {c: order[c] for c in complaints} == {c: [0, 1, 2, 3] for c in complaints}
    assert most == {"all": 3, "one complaint": 1}
    rows, _ = outbox.list(MessageFilter(), limit=20)
    assert {row.status for row in rows} == {"sent"}


def test_a_fresh_claim_is_sent_without_renewing_it(tmp_path: Path) -> None:
    """A renewal is a write (on SQLite, behind the file's one lock): only aged claims pay it."""

    from sqlalchemy import event

    outbox = _email_receipts(tmp_path, 3)
    engine = outbox.engine

    class Email:
        name = "email"

        def send(self, delivery: Any) -> str:
            return "ok"

    renewals: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE messages SET claimed_until"):
            renewals.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    dispatcher = Dispatcher(
        outbox,
        {"email": cast(Any, Email())},
        cast(AddressBook, _OneAddress()),
        Renderer(timezone="UTC", hotline="1"),
        Backoff(1, 2),
        lease_seconds=60,
        fresh_for=3,
    )
    assert dispatcher.dispatch_once() == 3
    statuses = [m.status for m in outbox.list(MessageFilter(), 10, None)[0]]
    assert statuses == ["sent"] * 3
    assert renewals == []
    engine.dispose()


def _aged_claim_rig(
    tmp_path: Path, event_type: str, skew: float = 0.0
) -> tuple[Any, dict[str, float], list[str], Any]:
    """One claimed message, a fake clock, and a second replica that dispatches mid-send."""

    from services.notifications.addressing import Address

    clock = {"now": T0}
    outbox = _email_receipts(tmp_path, 1, event_type=event_type, now=T0)
    sends: list[str] = []
    replicas: list[Dispatcher] = []

    class SendTime:  # a result's words and its portal link: two calls, each under 10 s
        def for_message(self, message: Any) -> dict[str, Any]:
            clock["now"] += 19.5
            return {}

    class Book:  # the contact read, under its 10 s timeout
        def resolve(self, message: Any) -> Address:
            clock["now"] += 9.5
            return Address("x@example.com")

    class Email:
        name = "email"

        def send(self, delivery: Any) -> str:
            clock["now"] += 9.0  # the channel, under its timeout
            sends.append(delivery.key)
            if len(sends) == 1:
                replicas[1].dispatch_once()  # another replica's round meanwhile
            return "ok"

    def replica(offset: float) -> Dispatcher:
        return Dispatcher(
            outbox,
            {"email": cast(Any, Email())},
            cast(AddressBook, _OneAddress()),
            Renderer(timezone="UTC", hotline="1"),
            Backoff(1, 2),
            lease_seconds=60,
            fresh_for=3,  # the service's own choice: a twentieth of the lease
            clock=lambda: clock["now"] + offset,
            send_time=cast(Any, SendTime()) if event_type == "Resolved" else None,
        )

    replicas.extend([replica(0.0), replica(skew)])
    [message] = outbox.claim(20, 60, 8, clock["now"])
    return replicas[0], clock, sends, message


def test_a_slow_result_message_on_an_aged_claim_is_sent_once(tmp_path: Path) -> None:
    # A review's reproduction: renewing only claims with less than "the slowest send"
    # left missed the result message's two extra calls, so its claim ran out mid-send
    # and another replica sent it again. An aged claim is now always renewed.
    dispatcher, clock, sends, message = _aged_claim_rig(tmp_path, "Resolved")
    clock["now"] += 25  # earlier messages of the batch took 25 s: 35 s of claim left
    dispatcher.deliver(message)
    assert len(sends) == 1, f"sent {len(sends)} times under one delivery key"


def test_an_aged_claim_survives_clock_skew_between_replicas(tmp_path: Path) -> None:
    # The same review: 21 s of claim left, a second replica's clock 5 s ahead.
    dispatcher, clock, sends, message = _aged_claim_rig(tmp_path, "Registered", skew=5.0)
    clock["now"] += 39
    dispatcher.deliver(message)
    assert len(sends) == 1, f"sent {len(sends)} times under one delivery key"
