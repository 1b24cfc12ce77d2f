"""The standalone verifier package, installed as a regulator would, against a running system.

A fresh virtual environment gets `pip install verifier/` and nothing else; its
`complaints-verify` then checks a real audit service's checkpoint, entries,
a case file's inclusion proofs and consistency with its saved state.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoint import Signer
from tests.processes import ROOT
from tests.running_system import ORIGIN, RunningSystem, bearer, running_system

__all__ = ["running_system"]  # the session fixture, used here

# What `cryptography`, `httpx` and `rfc8785` bring, and the venv's own tools.
ALLOWED = {
    "complaints-audit-verifier",
    "cryptography",
    "cffi",
    "pycparser",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "idna",
    "certifi",
    "typing-extensions",
    "exceptiongroup",
    "rfc8785",
    "pip",
    "setuptools",
    "wheel",
}


@pytest.fixture(scope="session")
def regulator_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the verifier installed by one pip command, from a copy of verifier/."""
    folder = tmp_path_factory.mktemp("regulator")
    source = folder / "verifier"
    shutil.copytree(ROOT / "verifier", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def verify(
    venv: Path, system: RunningSystem, key: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    token = bearer("regulator")["Authorization"].removeprefix("Bearer ")
    return subprocess.run(
        [
            str(venv / "bin" / "complaints-verify"),
            *("--url", system.audit.url, "--key", str(key), "--token", token),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=key.parent,
    )


def test_one_pip_command_installs_only_what_the_checks_need(regulator_venv: Path) -> None:
    listed = subprocess.run(
        [str(regulator_venv / "bin" / "pip"), "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.split()}
    assert "complaints-audit-verifier" in installed
    assert installed - ALLOWED == set()
    # The project itself is not there: the package stands alone.
    probe = subprocess.run(
        [str(regulator_venv / "bin" / "python"), "-c", "import services"],
        capture_output=True,
        cwd=regulator_venv,
    )
    assert probe.returncode != 0


def test_the_installed_verifier_verifies_a_running_audit_service(
    regulator_venv: Path, running_system: RunningSystem, tmp_path: Path
) -> None:
    key = tmp_path / "audit.pub"
    key.write_text(running_system.verifier_key() + "\n")
    state = tmp_path / "state.json"

    first = verify(regulator_venv, running_system, key, "--state", str(state))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("OK: ") and f"against {ORIGIN}" in first.stdout
    assert state.exists()
    again = verify(regulator_venv, running_system, key, "--state", str(state))
    assert again.returncode == 0, again.stderr  # consistent with the saved checkpoint

    case = running_system.complaint_ids[0]
    one = verify(regulator_venv, running_system, key, "--case", case)
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith(f"OK: case {case} verified")


def test_a_key_the_log_was_not_signed_with_fails(
    regulator_venv: Path, running_system: RunningSystem, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(Signer(Ed25519PrivateKey.generate(), ORIGIN).verifier_key + "\n")
    done = verify(regulator_venv, running_system, stranger)
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED: checkpoint signature check failed")
