"""The console scripts a person types: complaints-token, -verify and -rotate-master-key.

They are installed by the project (`[project.scripts]`); these tests run the
installed commands themselves, as the README does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
from cryptography.fernet import Fernet

from tests.conftest import INDEX_KEYS, JWT_SECRET
from tests.integration.complaints_fixtures import new_complaint
from tests.processes import ROOT, ServiceProcess

BIN = Path(sys.executable).parent


def _command(
    name: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "COMPLAINTS_"))}
    return subprocess.run(
        [str(BIN / name), *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_complaints_token_mints_a_token_for_any_subject_and_roles(tmp_path: Path) -> None:
    done = _command(
        "complaints-token", "agent-2", "agent", "supervisor", env={"AUTH_JWT_SECRET": JWT_SECRET}
    )
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "agent-2" and claims["roles"] == ["agent", "supervisor"]
    # make run's secret file, read from the working directory.
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "jwt-secret").write_text(JWT_SECRET)
    local = _command("complaints-token", "regulator-9", "regulator", cwd=tmp_path)
    assert (
        jwt.decode(local.stdout.strip(), JWT_SECRET, algorithms=["HS256"])["sub"] == "regulator-9"
    )


def test_complaints_token_refuses_in_one_line(tmp_path: Path) -> None:
    unknown = _command("complaints-token", "x", "wizard", env={"AUTH_JWT_SECRET": JWT_SECRET})
    assert unknown.returncode == 2 and "unknown role 'wizard'" in unknown.stderr
    nothing = _command("complaints-token", "x", "agent", cwd=tmp_path)
    assert nothing.returncode == 2
    assert nothing.stderr.strip().splitlines()[-1].startswith("complaints-token: AUTH_JWT_SECRET:")


def test_complaints_verify_is_the_verifier() -> None:
    done = _command("complaints-verify", "--help")
    assert done.returncode == 0 and "--url" in done.stdout


def test_rotating_the_master_key_of_a_local_run(tmp_path: Path) -> None:
    """The README's procedure: stop, rotate with the key file, start with the file's key."""
    key_file = tmp_path / "var" / "master-key"
    key_file.parent.mkdir()
    key_file.write_text(Fernet.generate_key().decode())
    database = f"sqlite:///{tmp_path / 'var' / 'complaints.db'}"

    def service() -> ServiceProcess:
        env = {
            "COMPLAINTS_DATABASE_URL": database,
            "COMPLAINTS_MASTER_KEY": key_file.read_text().strip(),
            "COMPLAINTS_INDEX_KEYS": INDEX_KEYS,
        }
        return ServiceProcess("complaints", env, tmp_path / "complaints.log")

    agent = {"Authorization": f"Bearer {jwt.encode(_claims(), JWT_SECRET, 'HS256')}"}
    first = service().start()
    try:
        created = httpx.post(f"{first.url}/v1/complaints", json=new_complaint(), headers=agent)
        assert created.status_code == 201
        complaint_id = created.json()["id"]
    finally:
        first.stop()
    old = key_file.read_text().strip()

    rotated = _command(
        "complaints-rotate-master-key",
        "--key-file",
        str(key_file),
        env={"COMPLAINTS_DATABASE_URL": database},
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 1 data keys" in rotated.stdout
    new = key_file.read_text().strip()
    assert new != old and "," not in new
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

    second = service().start()  # as the next `make run`: the key from the file
    try:
        read = httpx.get(f"{second.url}/v1/complaints/{complaint_id}", headers=agent)
        assert read.status_code == 200, read.text
        history = httpx.get(f"{second.url}/v1/complaints/{complaint_id}/history", headers=agent)
        assert history.status_code == 200
    finally:
        second.stop()

    # The old key alone no longer opens anything: the service says so instead of 500s.
    stale = subprocess.run(
        [sys.executable, "-m", "services.complaints", "--port", str(second.port)],
        cwd=ROOT,
        env={**second.env, "AUTH_JWT_SECRET": JWT_SECRET, "COMPLAINTS_MASTER_KEY": old},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stale.returncode == 2
    assert stale.stderr.startswith(
        "complaints: COMPLAINTS_MASTER_KEY: none of the keys opens the data keys"
    ), stale.stderr


def _claims() -> dict[str, object]:
    return {"sub": "agent-1", "roles": ["agent"], "exp": 4102444800}
