"""`make run`: the whole system on one machine, on SQLite, with no other server.

Creates `./var/` on first use (a JWT secret, the audit signing key and the
databases), starts the complaints, notifications, audit and portal services
as child processes, prints where their API docs are and a bearer token per role, and
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

from services.complaints.blind_index import new_index_key
from services.kernel.auth import Role, mint_token
from services.kernel.startup import port_problems

VAR = Path("var")
BASE_PORT = int(os.environ.get("LOCAL_BASE_PORT", "8000"))
SERVICES = ("complaints", "notifications", "audit", "portal")


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


def _index_keys(path: Path) -> str:
    if not path.exists():
        path.write_text(f"1:{new_index_key()}")
        path.chmod(0o600)
    return path.read_text().strip()


def _environment(ports: dict[str, int]) -> dict[str, str]:
    complaints_url = f"http://127.0.0.1:{ports['complaints']}"
    portal_url = f"http://127.0.0.1:{ports['portal']}"
    customer_secret = _secret(VAR / "customer-token-secret")
    defaults = {
        "AUTH_JWT_SECRET": _secret(VAR / "jwt-secret"),
        "COMPLAINTS_DATABASE_URL": f"sqlite:///{VAR / 'complaints.db'}",
        "COMPLAINTS_MASTER_KEY": _master_key(VAR / "master-key"),
        "COMPLAINTS_INDEX_KEYS": _index_keys(VAR / "index-keys"),
        # Who is in which team: members of a team work the cases transferred to it.
        "COMPLAINTS_STAFF_DIRECTORY": "services/notifications/staff.sample.toml",
        "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{VAR / 'notifications.db'}",
        "NOTIFICATIONS_FEED_URL": complaints_url,
        "NOTIFICATIONS_DEFAULT_CHANNEL": "log",
        "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE": "true",  # local receivers on this machine
        "AUDIT_DATABASE_URL": f"sqlite:///{VAR / 'audit.db'}",
        "AUDIT_FEED_URL": complaints_url,
        "AUDIT_COMPLAINTS_URL": complaints_url,
        "AUDIT_NOTIFICATIONS_URL": f"http://127.0.0.1:{ports['notifications']}",
        "AUDIT_PUBLIC_URL": f"http://127.0.0.1:{ports['audit']}",
        # The teams of the dashboard and of the team reports: the notifications' directory.
        "AUDIT_STAFF_DIRECTORY": "services/notifications/staff.sample.toml",
        "AUDIT_SIGNING_KEY": str(VAR / "audit-signing.pem"),
        "COMPLAINTS_CUSTOMER_TOKEN_SECRET": customer_secret,
        "NOTIFICATIONS_PORTAL_PUBLIC_URL": portal_url,
        "NOTIFICATIONS_INBOUND_SMS_SECRET": _secret(VAR / "inbound-sms-secret"),
        "PORTAL_COMPLAINTS_URL": complaints_url,
        "PORTAL_PUBLIC_URL": portal_url,
        "PORTAL_CUSTOMER_TOKEN_SECRET": customer_secret,
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
    taken = [
        f"{name} (port {port}): {problem.message}"
        for name, port in ports.items()
        for problem in port_problems("127.0.0.1", port)
    ]
    if taken:
        for line in taken:
            print(f"make run: {line}", file=sys.stderr)
        print(
            "make run: stop what holds them, or move all four: LOCAL_BASE_PORT=9000 make run",
            file=sys.stderr,
        )
        raise SystemExit(2)
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
                raise SystemExit(f"{name} did not start: its reason is the line above.")
        secret = env["AUTH_JWT_SECRET"]
        print("\nThe system is running (Ctrl-C stops it). API docs:", flush=True)
        for name in SERVICES:
            print(f"  {name:<14} http://127.0.0.1:{ports[name]}/docs")
        print(f"\nCustomer portal: http://127.0.0.1:{ports['portal']}/c (links arrive in notices)")
        print("\nBearer tokens, valid 12 h (paste into 'Authorize'; more with")
        print("`.venv/bin/complaints-token SUBJECT ROLE...`, e.g. agent-2 agent):")
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
