"""The four services as real processes on SQLite, with a few complaints filed and signed.

For tests that need what a deployed system shows from outside: its `/metrics`
(the alert rules' metric names) and a checkpointed audit ledger (the
standalone verifier). Started once per test session that asks for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import ServiceProcess

ORIGIN = "deploy-test.example/audit"
CUSTOMER_SECRET = "customer-token-secret-that-is-long-enough-0123456789"
COMPLAINTS_FILED = 3


def bearer(*roles: str, sub: str = "tester") -> dict[str, str]:
    """An Authorization header with the suite's secret."""
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, sub, roles)}"}


@dataclass(frozen=True)
class RunningSystem:
    """The running services and what the test filed."""

    complaints: ServiceProcess
    notifications: ServiceProcess
    audit: ServiceProcess
    portal: ServiceProcess
    complaint_ids: tuple[str, ...]

    @property
    def services(self) -> tuple[ServiceProcess, ...]:
        return (self.complaints, self.notifications, self.audit, self.portal)

    def verifier_key(self) -> str:
        """The audit log's verifier key, as a regulator fetches it."""
        response = httpx.get(
            f"{self.audit.url}/v1/audit/public-key", headers=bearer("regulator"), timeout=10
        )
        response.raise_for_status()
        return response.text.strip()


def _until(probe: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.2)


def _file(complaints_url: str, n: int) -> str:
    body = {
        "customer": {"name": f"Customer {n}", "phone": f"+86138001380{n:02d}"},
        "channel": "phone",
        "description": "Charged twice for the same month's data plan.",
        "category": "billing",
    }
    response = httpx.post(
        f"{complaints_url}/v1/complaints", json=body, headers=bearer("agent", sub="agent-1")
    )
    assert response.status_code == 201, response.text
    complaint_id: str = response.json()["id"]
    return complaint_id


@pytest.fixture(scope="session")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """Complaints, notifications, audit and portal, with complaints filed and checkpointed."""
    folder: Path = tmp_path_factory.mktemp("system")
    common = {"AUTH_JWT_SECRET": JWT_SECRET, "PYTHONUNBUFFERED": "1"}
    complaints = ServiceProcess(
        "complaints",
        {
            **common,
            "COMPLAINTS_DATABASE_URL": f"sqlite:///{folder / 'complaints.db'}",
            "COMPLAINTS_CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET,
        },
        folder / "complaints.log",
    )
    started: list[ServiceProcess] = []
    try:
        started.append(complaints.start())
        feed = {"FEED_URL": complaints.url, "FEED_WAIT_SECONDS": "1"}
        notifications = ServiceProcess(
            "notifications",
            {
                **common,
                "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{folder / 'notifications.db'}",
                "NOTIFICATIONS_DEFAULT_CHANNEL": "log",
                "NOTIFICATIONS_QUIET_HOURS": "",
                **{f"NOTIFICATIONS_{k}": v for k, v in feed.items()},
            },
            folder / "notifications.log",
        )
        audit = ServiceProcess(
            "audit",
            {
                **common,
                "AUDIT_DATABASE_URL": f"sqlite:///{folder / 'audit.db'}",
                "AUDIT_SIGNING_KEY": str(folder / "audit-signing.pem"),
                "AUDIT_LOG_ORIGIN": ORIGIN,
                "AUDIT_CHECKPOINT_INTERVAL_SECONDS": "0.3",
                **{f"AUDIT_{k}": v for k, v in feed.items()},
            },
            folder / "audit.log",
        )
        portal = ServiceProcess(
            "portal",
            {
                **common,
                "PORTAL_COMPLAINTS_URL": complaints.url,
                "PORTAL_CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET,
            },
            folder / "portal.log",
        )
        for process in (notifications, audit, portal):
            started.append(process.start())
        ids = tuple(_file(complaints.url, n) for n in range(COMPLAINTS_FILED))

        def signed() -> bool:
            metrics = httpx.get(f"{audit.url}/metrics").text
            return (
                "audit_checkpoint_age_seconds" in metrics
                and ("\naudit_entries_unsigned 0.0\n" in metrics)
                and "\naudit_ledger_entries 0.0\n" not in metrics
            )

        _until(signed, "the audit ledger holds the complaints under a signed checkpoint")
        yield RunningSystem(complaints, notifications, audit, portal, ids)
    finally:
        for process in reversed(started):
            process.stop()
