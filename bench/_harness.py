"""What the process-level benchmarks share: fresh databases, services as real processes.

Each service runs as `python -m <module> --host 127.0.0.1 --port <free port>`
with its output in a log file, exactly as it would in production; the
benchmarks talk to it over real HTTP. Peak memory is read from the kernel
(`VmHWM` in `/proc/<pid>/status`), so it covers the whole life of the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
DEFAULT_POSTGRES = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """One service as a child process on a free loopback port."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id (the service is started)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Service:
        """Start the process and wait until `/healthz` answers."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    f"{self.port}",
                ],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.module} did not become healthy")

    def memory(self) -> tuple[int, int]:
        """Resident and peak resident memory in bytes (`VmRSS`, `VmHWM`)."""
        values = {"VmRSS": 0, "VmHWM": 0}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) * 1024
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def postgres_reachable(url: str) -> bool:
    """Whether a PostgreSQL server answers at `url`."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def postgres_databases(url: str, *names: str) -> Iterator[dict[str, str]]:
    """Fresh databases on the server at `url`, one per name; dropped afterwards."""
    created = {name: f"bench_{name}_{uuid.uuid4().hex[:10]}" for name in names}
    with psycopg.connect(url, autocommit=True) as conn:
        for database in created.values():
            conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield {
            name: make_url(url).set(database=database).render_as_string(hide_password=False)
            for name, database in created.items()
        }
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for database in created.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite_databases(*names: str) -> Iterator[dict[str, str]]:
    """SQLite files in a temporary folder, one per name; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        yield {name: f"sqlite:///{tmp}/{name}.db" for name in names}


def percentile(samples: list[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank) of `samples`; 0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
