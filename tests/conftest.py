"""Fixtures shared by the whole suite: tokens, databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from services.kernel.auth import Role, mint_token
from tests import contract

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# A fixed Fernet master key for the complaints service's personal-data vault.
MASTER_KEY = "7Jl0cxhqsfx-AbJsNhgmGMKZzqrZ3NHsmZOy3SdglXs="
# A fixed blind-index key ring for customer history (its own key, never the master key).
INDEX_KEYS = "1:q3v9cZ0b2mJ8yX4tL6wR1sN5pD7fH0kA2eG4iK6mO8Q="
pytest_plugins = ["tests.browser"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

TokenFactory = Callable[..., str]


@pytest.fixture(autouse=True)
def openapi_contract(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[contract.Exchange]]:
    """Every in-process response must match its app's OpenAPI document (tests/contract.py).

    Checked when the test is done; a response that breaks the contract fails it.
    """
    exchanges = contract.record(monkeypatch)
    yield exchanges
    contract.check_all(exchanges)


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


POSTGRES_AVAILABLE = _postgres_reachable()


@pytest.fixture
def token() -> TokenFactory:
    """Mint a bearer token: `token("agent", sub="a-1")`."""

    def make(*roles: str | Role, sub: str = "tester", ttl: int = 3600) -> str:
        return mint_token(JWT_SECRET, sub, roles or ("agent",), ttl_seconds=ttl)

    return make


@pytest.fixture
def auth_header(token: TokenFactory) -> Callable[..., dict[str, str]]:
    """An Authorization header for the given roles and subject."""

    def make(*roles: str | Role, sub: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(*roles, sub=sub)}"}

    return make


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    """Create fresh PostgreSQL databases on demand; each is dropped afterwards.

    Skips with a reason when no server is reachable and TEST_POSTGRES_URL is
    unset; in CI (.ci/run sets it) an unreachable server is a failure.
    """
    if not POSTGRES_AVAILABLE:
        if os.environ.get("TEST_POSTGRES_URL"):
            pytest.fail(f"TEST_POSTGRES_URL is set but {POSTGRES_URL} is unreachable")
        pytest.skip("no PostgreSQL server reachable; set TEST_POSTGRES_URL")
    created: list[str] = []
    base = make_url(POSTGRES_URL)

    def create() -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    yield create
    for name in created:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A factory of fresh database URLs for one backend, per parametrised run.

    Call it with a service name; on SQLite each service gets its own file.
    """
    if request.param == "sqlite":
        return lambda service: f"sqlite:///{tmp_path / service}.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database")
    return lambda service: factory()
