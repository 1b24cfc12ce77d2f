"""Real processes for the audit end-to-end tests: complaints and audit, over real HTTP."""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any

import httpx
import pytest

from services.audit import merkle
from services.audit.checkpoint import NoteVerifier
from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import ROOT, ServiceProcess

ORIGIN = "e2e.example/audit"


def bearer(*roles: str, sub: str = "e2e") -> dict[str, str]:
    """An Authorization header for the test's secret."""
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, sub, roles)}"}


@dataclass
class System:
    """The complaints and audit services running as processes, with helpers to drive them."""

    complaints: ServiceProcess
    audit: ServiceProcess
    tmp_path: Path
    regulator: dict[str, str] = field(default_factory=lambda: bearer("regulator"))

    def write_complaints(self, count: int, tag: str = "c", until: Event | None = None) -> int:
        """Register, accept and investigate `count` complaints, or more until `until` is set.

        Returns the number of events written.
        """
        agent = bearer("agent", sub=f"agent-{tag}")
        written = 0
        with httpx.Client(base_url=self.complaints.url, headers=agent, timeout=30) as client:
            for n in itertools.count():
                if n >= count and (until is None or until.is_set()):
                    break
                body = {
                    "customer": {"name": "张三", "phone": f"138{n:08d}"},
                    "channel": "phone",
                    "description": f"complaint {tag}-{n}",
                }
                created = client.post("/v1/complaints", json=body)
                assert created.status_code == 201, created.text
                cid = created.json()["id"]
                accept = {"category": "billing", "severity": "medium"}
                assert client.post(f"/v1/complaints/{cid}/accept", json=accept).status_code == 200
                findings = {"findings": "checked the bill"}
                step = client.post(f"/v1/complaints/{cid}/investigate", json=findings)
                assert step.status_code == 200
                written += 3
        return written

    def feed(self) -> list[dict[str, Any]]:
        """Every item of the complaints feed, in order."""
        items: list[dict[str, Any]] = []
        after = 0
        service = bearer("service")
        with httpx.Client(base_url=self.complaints.url, headers=service, timeout=30) as client:
            while True:
                page = client.get("/v1/events", params={"after": after, "limit": 500}).json()
                items += page["items"]
                if page["last_position"] == after:
                    return items
                after = page["last_position"]

    def entries(self) -> list[dict[str, Any]]:
        """Every ledger entry, in order."""
        found: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.audit.url, headers=self.regulator, timeout=30) as client:
            start: int | None = 0
            while start is not None:
                page = client.get("/v1/audit/entries", params={"start": start}).json()
                found += page["entries"]
                start = page["next_start"]
        return found

    def checkpoint_note(self) -> str:
        """The latest signed checkpoint."""
        url = f"{self.audit.url}/v1/audit/checkpoint"
        return httpx.get(url, headers=self.regulator, timeout=5).text

    def wait_until_caught_up(self, timeout: float = 30.0) -> int:
        """Wait until the ledger holds the whole feed and a checkpoint covers it."""
        expected = len(self.feed())
        deadline = time.monotonic() + timeout
        size = -1
        while time.monotonic() < deadline:
            try:
                size = int(self.checkpoint_note().split("\n")[1])
            except (httpx.HTTPError, ValueError, IndexError):
                size = -1
            if size == expected:
                return size
            time.sleep(0.2)
        raise AssertionError(f"audit has a checkpoint of {size}, the feed has {expected} events")

    def verifier_key_file(self) -> Path:
        """The public key, fetched once and kept as a regulator would."""
        path = self.tmp_path / "audit.pub"
        if not path.exists():
            key = httpx.get(f"{self.audit.url}/v1/audit/public-key", headers=self.regulator)
            path.write_text(key.text)
        return path

    def verify(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """Run the verifier command line against the audit service."""
        command = [sys.executable, "-m", "services.audit.verify", "--url", self.audit.url]
        command += ["--key", str(self.verifier_key_file()), *extra]
        token = self.regulator["Authorization"].removeprefix("Bearer ")
        return subprocess.run(
            command,
            cwd=ROOT,
            env={"AUDIT_TOKEN": token, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def assert_ledger_is_the_feed(self) -> None:
        """The ledger holds every feed event exactly once, in feed order, unchanged."""
        feed, ledger = self.feed(), self.entries()
        assert [e["event_id"] for e in ledger] == [i["event_id"] for i in feed]
        assert len({e["event_id"] for e in ledger}) == len(ledger)
        for index, (entry, item) in enumerate(zip(ledger, feed, strict=True)):
            assert entry["index"] == index
            kept = {k: v for k, v in entry.items() if k not in ("index", "leaf", "recorded_at")}
            assert kept == item

    def assert_checkpoints_are_consistent(self) -> None:
        """Every kept checkpoint is validly signed and extends the one before it."""
        verifier = NoteVerifier.from_key(self.verifier_key_file().read_text().strip())
        with httpx.Client(base_url=self.audit.url, headers=self.regulator) as client:
            kept = client.get("/v1/audit/checkpoints", params={"limit": 1000}).json()
            checkpoints = [verifier.verify(c["note"]) for c in kept["checkpoints"]]
            assert checkpoints, "no checkpoint was kept"
            for old, new in itertools.pairwise(checkpoints):
                assert new.tree_size > old.tree_size
                if old.tree_size == 0:
                    continue
                proof = client.get(
                    "/v1/audit/proofs/consistency",
                    params={"from": old.tree_size, "to": new.tree_size},
                ).json()["hashes"]
                merkle.verify_consistency(
                    old.tree_size,
                    new.tree_size,
                    old.root_hash,
                    new.root_hash,
                    [base64.b64decode(h) for h in proof],
                )


@pytest.fixture
def start_system(tmp_path: Path) -> Iterator[Callable[..., System]]:
    """Start complaints and audit on the given database URLs; stopped afterwards."""
    running: list[ServiceProcess] = []

    def start(complaints_url: str, audit_url: str, **audit_env: str) -> System:
        common = {"AUTH_JWT_SECRET": JWT_SECRET, "PYTHONUNBUFFERED": "1"}
        complaints = ServiceProcess(
            "complaints",
            {
                **common,
                "COMPLAINTS_DATABASE_URL": complaints_url,
                # One agent token writes the whole burst, faster than a person's
                # token may (100/s); the rate limit is tested on its own.
                "AUTH_RATE_LIMIT_PER_SECOND": "0",
            },
            tmp_path / "complaints.log",
        )
        running.append(complaints.start())
        audit = ServiceProcess(
            "audit",
            {
                **common,
                "AUDIT_DATABASE_URL": audit_url,
                "AUDIT_FEED_URL": complaints.url,
                "AUDIT_SIGNING_KEY": str(tmp_path / "audit-signing.pem"),
                "AUDIT_LOG_ORIGIN": ORIGIN,
                "AUDIT_CHECKPOINT_INTERVAL_SECONDS": "0.3",
                "AUDIT_FEED_WAIT_SECONDS": "1",
                # A SIGKILLed consumer's lease must expire quickly for its successor.
                "AUDIT_LEASE_TTL_SECONDS": "2",
                "AUDIT_FEED_PAGE_SIZE": "20",
                **audit_env,
            },
            tmp_path / "audit.log",
        )
        running.append(audit.start())
        return System(complaints, audit, tmp_path)

    yield start
    for process in reversed(running):
        process.stop()
