"""Start-up mistakes: the real `python -m services.X` exits 2 with one line naming the variable.

No traceback, nothing started: each case runs the service as a person
would, with one thing wrong, and reads what it printed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import INDEX_KEYS, JWT_SECRET, MASTER_KEY
from tests.processes import ROOT, ServiceProcess, free_port


def _run(service: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "COMPLAINTS_"))}
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}", "--port", str(free_port()), *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _complaints_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {
        "AUTH_JWT_SECRET": JWT_SECRET,
        "COMPLAINTS_MASTER_KEY": MASTER_KEY,
        "COMPLAINTS_INDEX_KEYS": INDEX_KEYS,
        "COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path / 'complaints.db'}",
        **changes,
    }
    return {k: v for k, v in env.items() if v is not None}


CASES: dict[str, tuple[dict[str, str | None], str]] = {
    "missing master key": ({"COMPLAINTS_MASTER_KEY": None}, "COMPLAINTS_MASTER_KEY: not set"),
    "bad master key": (
        {"COMPLAINTS_MASTER_KEY": "not-a-key"},
        "COMPLAINTS_MASTER_KEY: the key is not a Fernet key",
    ),
    "bad database URL": (
        {"COMPLAINTS_DATABASE_URL": "not a url"},
        "COMPLAINTS_DATABASE_URL: not a database URL",
    ),
    "unsupported database": (
        {"COMPLAINTS_DATABASE_URL": "mysql://db/complaints"},
        "COMPLAINTS_DATABASE_URL: the backend 'mysql' is not supported",
    ),
    "SQLite file in a missing folder": (
        {"COMPLAINTS_DATABASE_URL": "sqlite:///{tmp}/no/such/folder/complaints.db"},
        "COMPLAINTS_DATABASE_URL: the folder {tmp}/no/such/folder does not exist",
    ),
    "unknown policy id": (
        {"COMPLAINTS_DEFAULT_POLICY": "no-such-policy"},
        "COMPLAINTS_DEFAULT_POLICY: no policy 'no-such-policy'",
    ),
    "missing JWT secret": ({"AUTH_JWT_SECRET": None}, "AUTH_JWT_SECRET: not set"),
    "short JWT secret": (
        {"AUTH_JWT_SECRET": "abc"},
        "AUTH_JWT_SECRET: the secret is 3 bytes; HS256 needs at least 32",
    ),
    "a number that is not one": (
        {"COMPLAINTS_SNAPSHOT_INTERVAL": "often"},
        "COMPLAINTS_SNAPSHOT_INTERVAL: Input should be a valid integer",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_mistake_is_one_line_naming_the_variable_and_exit_2(case: str, tmp_path: Path) -> None:
    changes, expected = CASES[case]
    changes = {k: v.format(tmp=tmp_path) if v else v for k, v in changes.items()}
    done = _run("complaints", _complaints_env(tmp_path, **changes))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"complaints: {expected.format(tmp=tmp_path)}"] or (
        len(lines) == 1 and lines[0].startswith(f"complaints: {expected.format(tmp=tmp_path)}")
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "no").exists()  # nothing was created


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    done = _run(
        "complaints",
        _complaints_env(
            tmp_path,
            AUTH_JWT_SECRET="short",
            COMPLAINTS_MASTER_KEY=None,
            COMPLAINTS_TIMEZONE="Mars",
        ),
    )
    assert done.returncode == 2
    variables = [line.split(": ")[1] for line in done.stderr.strip().splitlines()]
    assert variables == ["AUTH_JWT_SECRET", "COMPLAINTS_MASTER_KEY", "COMPLAINTS_TIMEZONE"]


@pytest.mark.parametrize(
    ("service", "env", "expected"),
    [
        ("notifications", {"NOTIFICATIONS_FEED_URL": "complaints:8000"}, "NOTIFICATIONS_FEED_URL"),
        ("audit", {"AUDIT_SIGNING_KEY": "/no/such/dir/k.pem"}, "AUDIT_SIGNING_KEY"),
        ("audit", {"AUTH_JWT_SECRET": ""}, "AUTH_JWT_SECRET"),
        ("audit", {"AUDIT_TEAM_REPORT_PERIOD": "weekly"}, "AUDIT_TEAM_REPORT_PERIOD"),
        ("audit", {"AUDIT_TEAM_REPORT_PERIOD": "PT7M"}, "AUDIT_TEAM_REPORT_PERIOD"),
        ("portal", {"AUTH_JWT_SECRET": ""}, "PORTAL_SERVICE_TOKEN"),
    ],
)
def test_the_other_services_name_their_variables(
    service: str, env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    base = {
        "AUTH_JWT_SECRET": JWT_SECRET,
        "NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
        "AUDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "AUDIT_SIGNING_KEY": str(tmp_path / "signing.pem"),
    }
    done = _run(service, {**base, **env})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"{service}: {expected}: "), done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "services.complaints", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **_complaints_env(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"complaints: --port: 127.0.0.1:{port} is already in use "
        "(another service or an earlier run?)"
    )


def test_an_idle_system_is_quiet_at_info(tmp_path: Path) -> None:
    """Feed long-polls, probes and scrapes log at DEBUG: idle, the logs stay still."""
    complaints = ServiceProcess(
        "complaints",
        {"COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
        tmp_path / "complaints.log",
    ).start()
    audit = ServiceProcess(
        "audit",
        {
            "AUDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
            "AUDIT_FEED_URL": complaints.url,
            "AUDIT_SIGNING_KEY": str(tmp_path / "signing.pem"),
            "AUDIT_FEED_WAIT_SECONDS": "0.2",
        },
        tmp_path / "audit.log",
    ).start()
    try:
        for _ in range(5):
            httpx.get(f"{complaints.url}/healthz")
            httpx.get(f"{audit.url}/metrics")
        settled = {p.name: p.log_path.read_text().count("\n") for p in (complaints, audit)}
        time.sleep(3)  # ~15 feed long-polls of the audit consumer
        for process in (complaints, audit):
            new = process.log_path.read_text().splitlines()[settled[process.name] :]
            lines = [json.loads(line) for line in new if line.startswith("{")]
            assert [line for line in lines if line["level"] != "debug"] == [], process.name
    finally:
        audit.stop()
        complaints.stop()
