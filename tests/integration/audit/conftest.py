"""Fixtures for the audit service's in-process tests: an app over a real database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.audit.app import create_app
from services.audit.settings import AuditSettings
from services.kernel.auth import AuthSettings
from tests.conftest import JWT_SECRET

ORIGIN = "test.example/audit"


class AuditHarness:
    """An audit app whose feed is played by the test, one page at a time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @property
    def engine(self) -> Any:
        return self.app.state.engine

    def feed(self, items: list[dict[str, Any]]) -> None:
        """Apply a page the way the feed consumer does: one transaction."""
        with self.engine.begin() as conn:
            self.app.state.record(conn, items)

    def checkpoint(self) -> None:
        """Sign a checkpoint now instead of waiting for the signer loop."""
        self.app.state.checkpoints.issue()

    @property
    def verifier_key(self) -> str:
        key: str = self.app.state.checkpoints.signer.verifier_key
        return key


def audit_settings(url: str, tmp_path: Path, **overrides: Any) -> AuditSettings:
    """Settings for an audit app that does not consume a feed by itself."""
    values: dict[str, Any] = {
        "database_url": url,
        "signing_key": tmp_path / "signing.pem",
        "log_origin": ORIGIN,
        "consumer_enabled": False,
        **overrides,
    }
    return AuditSettings(**values)


@pytest.fixture
def make_audit(
    database_url: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., AuditHarness]]:
    """Build audit apps on the parametrised backend; disposed of afterwards."""
    built: list[FastAPI] = []

    def make(**overrides: Any) -> AuditHarness:
        settings = audit_settings(database_url("audit"), tmp_path, **overrides)
        app = create_app(settings, AuthSettings(jwt_secret=SecretStr(JWT_SECRET)))
        built.append(app)
        return AuditHarness(app)

    yield make
    for app in built:
        app.state.engine.dispose()
