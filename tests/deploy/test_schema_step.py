"""The deploy's schema step (`python -m services.schema`): real processes on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import INDEX_KEYS, JWT_SECRET, MASTER_KEY
from tests.processes import ROOT

pytestmark = pytest.mark.postgres


def schema_step(service: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start the step as the init container does."""
    environment = {
        **os.environ,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "COMPLAINTS_MASTER_KEY": MASTER_KEY,
        "COMPLAINTS_INDEX_KEYS": INDEX_KEYS,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.schema", service],
        env=environment,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


@pytest.mark.parametrize(
    ("service", "variable", "table"),
    [
        ("complaints", "COMPLAINTS_DATABASE_URL", "complaints_events"),
        ("notifications", "NOTIFICATIONS_DATABASE_URL", "messages"),
        ("audit", "AUDIT_DATABASE_URL", "ledger_checkpoints"),
    ],
)
def test_replicas_starting_together_create_the_schema_once_and_all_succeed(
    postgres_database: Callable[[], str], tmp_path: Path, service: str, variable: str, table: str
) -> None:
    url = postgres_database()
    env = {variable: url, "AUDIT_SIGNING_KEY": str(tmp_path / "signing.pem")}
    steps = [schema_step(service, env, tmp_path) for _ in range(3)]
    for step in steps:
        _, err = step.communicate(timeout=90)
        assert step.returncode == 0, err
        assert f"{service}: schema in place" in err
    assert table in tables(url)
    again = schema_step(service, env, tmp_path)
    _, err = again.communicate(timeout=90)
    assert again.returncode == 0, err


def test_an_unreachable_database_fails_the_step_in_one_line(tmp_path: Path) -> None:
    env = {"COMPLAINTS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    step = schema_step("complaints", env, tmp_path)
    _, err = step.communicate(timeout=90)
    assert step.returncode == 1
    assert err.startswith("ERROR: the complaints schema is not in place:")
    assert "Traceback" not in err
