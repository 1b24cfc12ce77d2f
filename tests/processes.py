"""Start the services as real processes on free loopback ports, and stop them.

Used by integration and end-to-end tests: each `ServiceProcess` runs
`python -m services.<name> --host 127.0.0.1 --port <free port>` with the
environment it is given, waits until `/healthz` answers, and is killed on
exit (SIGKILL on demand, for crash tests).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import httpx

from tests.conftest import INDEX_KEYS, JWT_SECRET, MASTER_KEY

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """One service running as a child process."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        """Start the process and wait until it is healthy."""
        # Every service in a test shares the suite's token secret and master key
        # unless the test says otherwise.
        defaults = {
            "AUTH_JWT_SECRET": JWT_SECRET,
            "COMPLAINTS_MASTER_KEY": MASTER_KEY,
            "COMPLAINTS_INDEX_KEYS": INDEX_KEYS,
        }
        env = {**os.environ, **defaults, **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"services.{self.name}",
                *("--host", "127.0.0.1", "--port", str(self.port)),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not become healthy: {self.log_path.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> ServiceProcess:
        """Start again on the same port after a stop or kill."""
        return self.start()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


SERVICES = ("complaints", "notifications", "audit", "portal")


@contextlib.contextmanager
def four_services(
    tmp: Path, extra: Callable[[str], dict[str, str]] | None = None
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services as processes, each on its own SQLite file in `tmp`, stopped after.

    `extra(name)` adds settings of the test's own to a service's environment.
    """

    def env(name: str, own: dict[str, str]) -> dict[str, str]:
        return {**own, **(extra(name) if extra else {})}

    complaints = ServiceProcess(
        "complaints",
        env("complaints", {"COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp / 'complaints.db'}"}),
        tmp / "complaints.log",
    ).start()
    others = {
        "notifications": {
            "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp / 'notifications.db'}",
            "NOTIFICATIONS_FEED_URL": complaints.url,
            "NOTIFICATIONS_DEFAULT_CHANNEL": "log",
        },
        "audit": {
            "AUDIT_DATABASE_URL": f"sqlite:///{tmp / 'audit.db'}",
            "AUDIT_FEED_URL": complaints.url,
            "AUDIT_SIGNING_KEY": str(tmp / "audit-signing.pem"),
        },
        "portal": {
            "PORTAL_COMPLAINTS_URL": complaints.url,
            "PORTAL_CUSTOMER_TOKEN_SECRET": "customer-token-secret-for-e2e-tests-0123456789",
        },
    }
    running = {"complaints": complaints}
    try:
        for name, own in others.items():
            running[name] = ServiceProcess(name, env(name, own), tmp / f"{name}.log").start()
        yield running
    finally:
        for process in reversed(running.values()):
            process.stop()
