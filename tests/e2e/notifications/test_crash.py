"""End to end: the notifications process is SIGKILLed at random points during a burst.

After each restart it resumes from its committed feed position and reclaims
messages whose sender died. Every expected receipt reaches the SMTP server;
one arrives twice only when the kill fell between the hand-off and its
recording, and then both copies carry the same Message-ID.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from typing import Any

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

BURST = 30
KILLS = 3


def test_sigkill_during_a_burst_loses_nothing_and_duplicates_only_by_key(
    complaints: ServiceProcess, notifications: NotificationsFactory
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    smtp = SmtpServer(delay=0.02).start()
    service = notifications(smtp.port, dispatch_batch="3")
    filed: list[dict[str, Any]] = []
    try:

        def burst() -> None:
            for i in range(BURST):
                filed.append(register(complaints.url, f"客户{i}", f"c{i}@example.com", "zh-CN"))
                time.sleep(rng.uniform(0.0, 0.08))

        writer = threading.Thread(target=burst)
        writer.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.9))
            service.kill()
            service.restart()
        writer.join(60)
        assert len(filed) == BURST

        expected = {c["case_number"]: f"c{i}@example.com" for i, c in enumerate(filed)}
        eventually(lambda: all(smtp.to(address) for address in expected.values()), timeout=40)
        outbox = eventually(lambda: all_sent(service.url, BURST))
    finally:
        smtp.stop()

    by_address: dict[str, list[Any]] = defaultdict(list)
    for mail in smtp.messages:
        by_address[mail["To"]].append(mail)
    assert set(by_address) == set(expected.values()), f"seed {seed}"
    keys = {m["complaint_id"]: m["id"] for m in outbox}
    for case_number, address in expected.items():
        copies = by_address[address]
        assert all(case_number in mail["Subject"] for mail in copies)
        assert len({mail["Message-ID"] for mail in copies}) == 1, f"seed {seed}"
        if len(copies) > 1:
            # A repeat only for a message whose first try was cut short by a kill.
            complaint = next(c for c in filed if c["case_number"] == case_number)
            detail = httpx.get(
                f"{service.url}/v1/notifications/{keys[complaint['id']]}",
                headers=bearer("supervisor"),
            ).json()
            outcomes = [a["outcome"] for a in detail["attempt_history"]]
            # Every extra copy is owed to one try that a kill cut short after the hand-off.
            assert len(copies) - 1 <= outcomes.count("interrupted"), f"seed {seed}"
            assert outcomes[-1] == "sent"
    message_ids = [copies[0]["Message-ID"] for copies in by_address.values()]
    assert len(set(message_ids)) == BURST
