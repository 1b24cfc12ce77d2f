"""End to end: the SMTP server goes down. Messages retry and arrive once it is back;
past MAX_ATTEMPTS they are dead, and an operator's retry sends them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.notifications.conftest import (
    NotificationsFactory,
    SmtpServer,
    bearer,
    eventually,
    messages_of,
    register,
)
from tests.processes import ServiceProcess


def receipt(service: ServiceProcess, complaint_id: str) -> dict[str, Any] | None:
    found = messages_of(service.url, complaint_id=complaint_id)
    return found[0] if found else None


def detail(service: ServiceProcess, message_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(
        f"{service.url}/v1/notifications/{message_id}", headers=bearer("supervisor")
    ).json()
    return doc


def test_smtp_down_retries_then_dead_letters_then_operator_retry(
    complaints: ServiceProcess, notifications: NotificationsFactory
) -> None:
    smtp = SmtpServer()  # not listening yet: the server is down
    service = notifications(smtp.port, max_attempts="5")
    try:
        # Down for a while, then back: delivered on a later attempt.
        first = register(complaints.url, "李四", "li.si@example.com", "zh-CN")
        message = eventually(lambda: receipt(service, first["id"]))
        eventually(lambda: detail(service, message["id"])["attempts"] >= 2)
        smtp.start()
        [mail] = eventually(lambda: smtp.to("li.si@example.com"))
        assert first["case_number"] in mail["Subject"]
        sent = eventually(lambda: (d := detail(service, message["id"]))["status"] == "sent" and d)
        outcomes = [a["outcome"] for a in sent["attempt_history"]]
        assert outcomes[-1] == "sent" and set(outcomes[:-1]) == {"failed"} and len(outcomes) >= 3
        assert all("SMTP unavailable" in a["detail"] for a in sent["attempt_history"][:-1])

        # Down for good: dead after MAX_ATTEMPTS, however long we wait.
        smtp.stop()
        second = register(complaints.url, "Jane Roe", "jane.roe@example.com", "en")
        message = eventually(lambda: receipt(service, second["id"]))
        dead = eventually(
            lambda: (d := detail(service, message["id"]))["status"] == "dead" and d, timeout=30
        )
        assert dead["dead_reason"] == "max-attempts" and len(dead["attempt_history"]) == 5
        dead_list = messages_of(service.url, status="dead")
        assert [m["id"] for m in dead_list] == [message["id"]]

        # The operator brings the server back and retries the dead letter.
        smtp.start()
        retried = httpx.post(
            f"{service.url}/v1/notifications/{message['id']}/retry", headers=bearer("admin")
        )
        assert retried.status_code == 200
        [mail] = eventually(lambda: smtp.to("jane.roe@example.com"))
        assert second["case_number"] in mail["Subject"]
        final = eventually(lambda: (d := detail(service, message["id"]))["status"] == "sent" and d)
        assert [a["outcome"] for a in final["attempt_history"]][-1] == "sent"
        assert len(final["attempt_history"]) == 6
    finally:
        smtp.stop()
