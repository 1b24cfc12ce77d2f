"""Fixtures for the deploy package: the Kustomize overlays rendered as a reader would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import ROOT

DEPLOY = ROOT / "deploy"
OVERLAYS = ("staging", "production")
# Installed by `make test` (the Makefile's CHECKOV target), in a venv of its own:
# its pinned dependencies must not move the project's.
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class Rendered:
    """One overlay, rendered by kustomize after its secrets were made."""

    overlay: str
    folder: Path
    text: str

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.text) if doc]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.objects if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        [found] = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        return found


def make_secrets(overlay: Path) -> subprocess.CompletedProcess[str]:
    """Run new_secrets.py exactly as the README says."""
    return subprocess.run(
        [
            sys.executable,
            str(overlay.parents[1] / "new_secrets.py"),
            str(overlay),
            "--database-url-base",
            "postgresql://complaints:s3cret@postgres.database.svc:5432",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )


def kustomize(overlay: Path) -> str:
    """`kubectl kustomize` (Kustomize built into kubectl, shipped by the machine image)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/kubernetes (apt-get install kubectl)")
    done = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def deploy_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ whose overlays have their secrets made, as an operator's would."""
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    for overlay in OVERLAYS:
        make_secrets(copy / "kubernetes" / "overlays" / overlay)
    return copy


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, deploy_copy: Path) -> Rendered:
    """Each overlay, rendered."""
    folder = deploy_copy / "kubernetes" / "overlays" / request.param
    return Rendered(request.param, folder, kustomize(folder))
