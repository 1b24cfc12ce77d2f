"""`make run`: the whole system on one machine, on SQLite, with no other server.

Creates `./var/` on first use (a JWT secret, the audit signing key and the
databases), starts the complaints, notifications and audit services as child
processes, prints where their API docs are and a bearer token per role, and
stops them all cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from services.kernel.auth import Role, mint_token

VAR = Path("var")
BASE_PORT = int(os.environ.get("LOCAL_BASE_PORT", "8000"))
SERVICES = ("complaints", "notifications", "audit")


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _master_key(path: Path) -> str:
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def _environment(ports: dict[str, int]) -> dict[str, str]:
    complaints_url = f"http://127.0.0.1:{ports['complaints']}"
    defaults = {
        "AUTH_JWT_SECRET": _secret(VAR / "jwt-secret"),
        "COMPLAINTS_DATABASE_URL": f"sqlite:///{VAR / 'complaints.db'}",
        "COMPLAINTS_MASTER_KEY": _master_key(VAR / "master-key"),
        "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{VAR / 'notifications.db'}",
        "NOTIFICATIONS_FEED_URL": complaints_url,
        "NOTIFICATIONS_DEFAULT_CHANNEL": "log",
        "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE": "true",  # local receivers on this machine
        "AUDIT_DATABASE_URL": f"sqlite:///{VAR / 'audit.db'}",
        "AUDIT_FEED_URL": complaints_url,
        "AUDIT_SIGNING_KEY": str(VAR / "audit-signing.pem"),
    }
    # Anything the user exported wins over the local defaults.
    return {**defaults, **os.environ}


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def main() -> None:
    """Start every service and wait for Ctrl-C."""
    VAR.mkdir(exist_ok=True)
    ports = {name: BASE_PORT + i for i, name in enumerate(SERVICES)}
    env = _environment(ports)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name in SERVICES:
            procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    f"services.{name}",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports[name]),
                ],
                env=env,
            )
        for name, proc in procs.items():
            url = f"http://127.0.0.1:{ports[name]}"
            if not _wait_healthy(url, proc):
                raise SystemExit(f"{name} did not start; see its log lines above.")
        secret = env["AUTH_JWT_SECRET"]
        print("\nThe system is running (Ctrl-C stops it). API docs:", flush=True)
        for name in SERVICES:
            print(f"  {name:<14} http://127.0.0.1:{ports[name]}/docs")
        print("\nBearer tokens, valid 12 h (paste into 'Authorize'):")
        for role in Role:
            token = mint_token(secret, f"{role.value}-1", [role], ttl_seconds=12 * 3600)
            print(f"  {role.value:<11} {token}")
        print(flush=True)
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with code {proc.returncode}.")
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
