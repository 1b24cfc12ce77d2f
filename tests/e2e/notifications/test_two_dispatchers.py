"""End to end: two notifications processes share one PostgreSQL database.

Both run a dispatcher (one of them also the active feed consumer); claims
with SKIP LOCKED keep them from ever sending the same message twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx

from tests.e2e.notifications.conftest import (
    NotificationsFactory,
    SmtpServer,
    all_sent,
    bearer,
    eventually,
    register,
)
from tests.processes import ServiceProcess

COMPLAINTS = 40
SENT = 'notification_attempts_total{channel="email",outcome="sent"}'


def sent_count(metrics: str) -> float:
    """E-mails this process sent, from its /metrics text."""
    for row in metrics.splitlines():
        if row.startswith(SENT):
            return float(row.split()[-1])
    return 0.0


def test_two_dispatchers_never_send_one_message_twice(
    complaints: ServiceProcess,
    notifications: NotificationsFactory,
    postgres_database: Callable[[], str],
) -> None:
    database = postgres_database()
    smtp = SmtpServer(delay=0.01).start()
    try:
        first = notifications(smtp.port, name="first", database_url=database, dispatch_batch="2")
        second = notifications(smtp.port, name="second", database_url=database, dispatch_batch="2")
        filed = [
            register(complaints.url, f"Customer {i}", f"p{i}@example.com", "en")
            for i in range(COMPLAINTS)
        ]
        eventually(lambda: len(smtp.messages) >= COMPLAINTS, timeout=40)
        outbox = eventually(lambda: all_sent(first.url, COMPLAINTS))
    finally:
        smtp.stop()

    ids = Counter(mail["Message-ID"] for mail in smtp.messages)
    assert len(ids) == COMPLAINTS and set(ids.values()) == {1}
    assert {mail["To"] for mail in smtp.messages} == {
        f"p{i}@example.com" for i in range(COMPLAINTS)
    }
    assert {c["id"] for c in filed} == {m["complaint_id"] for m in outbox}
    for message in outbox:
        detail = httpx.get(
            f"{second.url}/v1/notifications/{message['id']}", headers=bearer("admin")
        ).json()
        assert [a["outcome"] for a in detail["attempt_history"]] == ["sent"]
    # Both processes took part in sending.
    counts = [sent_count(httpx.get(f"{p.url}/metrics").text) for p in (first, second)]
    assert sum(counts) == COMPLAINTS
    assert all(count > 0 for count in counts), counts
