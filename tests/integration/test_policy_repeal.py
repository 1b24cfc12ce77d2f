"""A policy cannot be repealed from under its complaints (issue 8, item 8).

The service keeps the text of every policy version it has used in its own
database, so a complaint pinned to a version whose file has since been
removed still reads, computes its deadlines and takes actions; a version is
retired for new complaints with `effective_until` instead. A released version
edited in place, or a version in force whose file is gone, stops the service
at start-up with one line naming it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.policy import PolicyError
from services.complaints.domain.policy_files import default_policy_dir
from tests.conftest import JWT_SECRET, MASTER_KEY
from tests.integration.complaints_fixtures import Headers, build_app, client_for, new_complaint
from tests.processes import ROOT


def policy(version: int, effective_from: datetime, *extra: str, acceptance: str = "PT24H") -> str:
    """A small policy `local`, version `version`."""
    lines = [
        'id = "local"',
        f"version = {version}",
        f'effective_from = "{effective_from.isoformat()}"',
        *extra,
        'source = "test"',
        'calendar = "24x7"',
        "warning_at = 0.5",
        'pausable = ["investigation"]',
        "[milestones]",
        f'acceptance = "{acceptance}"',
        'investigation = "PT72H"',
        'result = "PT48H"',
    ]
    return "\n".join(lines) + "\n"


def policies(tmp_path: Path, files: dict[str, str]) -> Path:
    """A policy directory with the shipped calendars and exactly `files`."""
    directory = tmp_path / "policies"
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(default_policy_dir() / "calendars", directory / "calendars")
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_complaint_outlives_the_removal_of_its_policy_file(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    url = database_url("complaints")
    clock = ShiftedClock()
    agent = auth_header("agent", sub="agent-1")
    directory = policies(tmp_path, {"local-v1.toml": policy(1, START)})
    async with client_for(build_app(url, clock, policy_dir=directory, default_policy="local")) as c:
        received = (clock.now() - timedelta(hours=2)).isoformat()
        created = await c.post(
            "/v1/complaints", json=new_complaint(received_at=received), headers=agent
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        before = (await c.get(f"/v1/complaints/{cid}", headers=agent)).json()
    assert before["policy"] == {"id": "local", "version": 1}

    # v1 is repealed: its file removed, a v2 in force from an hour ago.
    v2 = policy(2, clock.now() - timedelta(hours=1), acceptance="PT12H")
    directory = policies(tmp_path, {"local-v2.toml": v2})
    async with client_for(build_app(url, clock, policy_dir=directory, default_policy="local")) as c:
        read = await c.get(f"/v1/complaints/{cid}", headers=agent)
        assert read.status_code == 200, read.text
        assert read.json()["policy"] == {"id": "local", "version": 1}
        assert read.json()["deadlines"] == before["deadlines"]
        accepted = await c.post(
            f"/v1/complaints/{cid}/accept",
            json={"category": "billing", "severity": "medium"},
            headers={**agent, "If-Match": read.headers["ETag"]},
        )
        assert accepted.status_code == 200, accepted.text
        listed = {
            (p["version"], p["repealed"])
            for p in (await c.get("/v1/policies", headers=agent)).json()
            if p["id"] == "local"
        }
        assert listed == {(1, True), (2, False)}
        # New complaints pin v2; the repealed v1 serves only its own.
        fresh = await c.post("/v1/complaints", json=new_complaint(), headers=agent)
        assert fresh.json()["policy"] == {"id": "local", "version": 2}


async def test_a_retired_version_serves_its_complaints_but_no_new_one(
    database_url: Callable[[str], str], auth_header: Headers, tmp_path: Path
) -> None:
    url = database_url("complaints")
    clock = ShiftedClock()
    agent = auth_header("agent", sub="agent-1")
    files = {
        "local-v1.toml": policy(1, START),
        "other.toml": policy(1, START).replace("local", "other"),
    }
    directory = policies(tmp_path, files)
    async with client_for(build_app(url, clock, policy_dir=directory, default_policy="local")) as c:
        cid = (await c.post("/v1/complaints", json=new_complaint(), headers=agent)).json()["id"]

    # Retired an hour from now: adding effective_until is the one edit a released file may take.
    until = clock.now() + timedelta(hours=1)
    files["local-v1.toml"] = policy(1, START, f'effective_until = "{until.isoformat()}"')
    directory = policies(tmp_path, files)
    async with client_for(build_app(url, clock, policy_dir=directory, default_policy="local")) as c:
        ok = await c.post("/v1/complaints", json=new_complaint(), headers=agent)
        assert ok.status_code == 201
        clock.advance(timedelta(hours=2))
        refused = await c.post("/v1/complaints", json=new_complaint(), headers=agent)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert "retired" in refused.json()["detail"]
        pinned = await c.get(f"/v1/complaints/{cid}", headers=agent)
        assert pinned.status_code == 200 and pinned.json()["policy"]["version"] == 1
        [view] = [
            p for p in (await c.get("/v1/policies", headers=agent)).json() if p["id"] == "local"
        ]
        assert view["effective_until"] is not None


def test_a_released_version_edited_in_place_is_refused_at_start(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = database_url("complaints")
    clock = ShiftedClock()
    build_app(
        url,
        clock,
        policy_dir=policies(tmp_path, {"v1.toml": policy(1, START)}),
        default_policy="local",
    ).state.complaints.close()
    edited = policies(tmp_path, {"v1.toml": policy(1, START, acceptance="PT1H")})
    with pytest.raises(PolicyError, match="never edited"):
        build_app(url, clock, policy_dir=edited, default_policy="local")


def test_the_service_will_not_start_when_the_version_in_force_has_lost_its_file(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = database_url("complaints")
    clock = ShiftedClock()
    files = {"v1.toml": policy(1, START), "v2.toml": policy(2, START + timedelta(days=1))}
    build_app(
        url, clock, policy_dir=policies(tmp_path, files), default_policy="local"
    ).state.complaints.close()
    directory = policies(tmp_path, {"v1.toml": policy(1, START)})
    env = {
        **os.environ,
        "COMPLAINTS_DATABASE_URL": url,
        "COMPLAINTS_POLICY_DIR": str(directory),
        "COMPLAINTS_DEFAULT_POLICY": "local",
        "COMPLAINTS_MASTER_KEY": MASTER_KEY,
        "AUTH_JWT_SECRET": JWT_SECRET,  # everything else right: only the policy is wrong
    }
    run = subprocess.run(
        [sys.executable, "-m", "services.complaints", "--port", "9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    message = run.stderr.strip()
    assert "\n" not in message and "local v2" in message, run.stderr
