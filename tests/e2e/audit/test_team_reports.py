"""The scheduled team report, end to end: complaints, two audit replicas, notifications, SMTP.

Everything is a real process or a real server: complaints written over HTTP,
the audit service twice on one database (one replica reports, the other
stands by), the notifications service delivering to a real SMTP server
(aiosmtpd). The period is five seconds so that many periods pass in a test;
a replica is SIGKILLed and restarted, the notifications service is down
for a while, and every report is sent again as after a crash between send
and record; still each team's supervisors get each period's report exactly
once.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.audit.conftest import System
from tests.e2e.notifications.conftest import SmtpServer, eventually
from tests.processes import ServiceProcess

STAFF = """
[staff.agent-1]
email = "agent-1@operator.example"
[staff.supervisor-1]
email = "supervisor-1@operator.example"
role = "supervisor"
[staff.agent-3]
email = "agent-3@operator.example"
[staff.supervisor-2]
email = "supervisor-2@operator.example"
language = "en"
role = "supervisor"

[teams.billing-team]
members = ["agent-1", "supervisor-1"]
[teams.network-team]
members = ["agent-3", "supervisor-2"]
"""
RECEIVED = re.compile(r"受理量：(\d+)")
SUPERVISOR_1 = "supervisor-1@operator.example"  # billing-team, zh-CN
SUPERVISOR_2 = "supervisor-2@operator.example"  # network-team, en


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def body(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_each_team_gets_each_period_once_across_a_crash_and_two_replicas(
    start_system: Callable[..., System], tmp_path: Path, smtp: SmtpServer
) -> None:
    staff = tmp_path / "staff.toml"
    staff.write_text(STAFF)
    notifications = ServiceProcess(
        "notifications",
        {
            "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'notifications.db'}",
            "NOTIFICATIONS_CONSUMER_ENABLED": "false",  # only what the audit service asks for
            "NOTIFICATIONS_STAFF_DIRECTORY": str(staff),
            "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "NOTIFICATIONS_SMTP_PORT": str(smtp.port),
            "NOTIFICATIONS_SMTP_FROM": "care@operator.example",
            "NOTIFICATIONS_QUIET_HOURS": "",
            "NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS": "0.1",
            "NOTIFICATIONS_BACKOFF_BASE_SECONDS": "0.2",
            "NOTIFICATIONS_BACKOFF_MAX_SECONDS": "1",
        },
        tmp_path / "notifications.log",
    ).start()
    try:
        audit_db = tmp_path / "audit.db"
        system = start_system(
            f"sqlite:///{tmp_path / 'complaints.db'}",
            f"sqlite:///{audit_db}",
            AUDIT_STAFF_DIRECTORY=str(staff),
            AUDIT_TEAM_REPORT_PERIOD="PT5S",
            AUDIT_TEAM_REPORT_DELAY_SECONDS="1",
            AUDIT_NOTIFICATIONS_URL=notifications.url,
            AUDIT_PUBLIC_URL="https://audit.operator.example",
        )
        standby = ServiceProcess("audit", system.audit.env, tmp_path / "audit-2.log").start()
        try:
            time.sleep(5 - time.time() % 5)  # a fresh period (slices of the local day)
            system.write_complaints(3, tag="1")  # by agent-1: billing-team
            system.wait_until_caught_up()

            def billing_reports_of_three() -> list[EmailMessage] | None:
                found = [m for m in smtp.to(SUPERVISOR_1) if "受理量：0" not in body(m)]
                received = sum(int(RECEIVED.findall(body(m))[0]) for m in found)
                return found if received == 3 else None

            reports = eventually(billing_reports_of_three, timeout=30)
            assert all(m["Subject"].startswith("班组质量报告 billing-team：") for m in reports)
            text = body(reports[0])
            assert "已答复：0" in text
            assert "https://audit.operator.example/dashboard?from=" in text
            assert "team=billing-team" in text

            # The replica that reports dies mid-work and comes back; the other takes over.
            time.sleep(2.5)
            system.audit.kill()
            time.sleep(4)
            system.audit.restart()
            # The notifications service is down for more than a period: reports wait.
            notifications.stop()
            time.sleep(7)
            notifications.restart()
            standby.kill()
            time.sleep(6)  # the restarted replica reports alone for a period
            system.audit.stop()  # nothing more is planned
            first = reports_of(audit_db)
            # Each team has one supervisor: one e-mail per report accepted.
            eventually(lambda: len(smtp.messages) >= delivered(first), timeout=30)

            # A crash after the notifications service accepted, before the audit service
            # marked it sent: every report is sent again, same key, same bytes.
            with sqlite3.connect(audit_db) as conn:
                conn.execute("UPDATE team_reports SET sent_at = NULL")
            system.audit.restart()
            eventually(lambda: delivered(reports_of(audit_db)[: len(first)]) == len(first))
            system.audit.stop()
            rows = reports_of(audit_db)
            eventually(lambda: len(smtp.messages) >= delivered(rows), timeout=30)
            time.sleep(1.5)  # a duplicate would have been dispatched by now
        finally:
            standby.stop()
    finally:
        notifications.stop()

    assert all(sent is not None and refused is None for _, _, sent, refused in rows[:-2])
    periods = sorted({datetime.fromisoformat(period) for period, *_ in rows})
    assert len(periods) >= 5
    # One report per team and period.
    assert Counter(team for _, team, *_ in rows) == {
        "billing-team": len(periods),
        "network-team": len(periods),
    }
    # While a replica ran (until the last stop), no period was skipped.
    running = sorted({datetime.fromisoformat(period) for period, *_ in first})
    assert all((b - a).total_seconds() == 5 for a, b in itertools.pairwise(running))
    sent = smtp.messages
    assert len(sent) == delivered(rows)
    subjects = Counter((m["To"], m["Subject"]) for m in sent)
    assert all(n == 1 for n in subjects.values()), [k for k, n in subjects.items() if n > 1]
    assert {to for to, _ in subjects} == {SUPERVISOR_1, SUPERVISOR_2}
    english = [m for m in sent if m["To"] == SUPERVISOR_2]
    assert all(m["Subject"].startswith("Team report network-team: ") for m in english)
    assert all("Received: 0" in body(m) for m in english)


def delivered(rows: list[tuple[str, str, float | None, str | None]]) -> int:
    return sum(1 for _, _, sent_at, _ in rows if sent_at is not None)


def reports_of(path: Path) -> list[tuple[str, str, float | None, str | None]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT period_start, team, sent_at, refused FROM team_reports ORDER BY 1, 2"
        ).fetchall()
