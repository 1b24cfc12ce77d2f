"""Building a complaints service in-process for API tests (real database, real HTTP via ASGI)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from services.complaints.app import create_app
from services.complaints.domain.clock import ShiftedClock
from services.complaints.domain.policy_files import default_policy_dir
from services.complaints.settings import ComplaintsSettings
from services.kernel.auth import AuthSettings
from tests.conftest import INDEX_KEYS, JWT_SECRET, MASTER_KEY

CUSTOMER_ZH = {
    "name": "张三",
    "phone": "13812345678",
    "email": "zhangsan@example.com",
    "account": "ACC-20260001",
    "language": "zh-CN",
    "preferred_channel": "sms",
}
CUSTOMER_EN = {
    "name": "Jane Doe",
    "phone": "+44 7700 900123",
    "email": "jane@example.org",
    "account": "ACC-99887766",
    "language": "en",
    "preferred_channel": "email",
}


def new_complaint(**overrides: Any) -> dict[str, Any]:
    """A valid registration body."""
    body: dict[str, Any] = {
        "customer": CUSTOMER_ZH,
        "channel": "phone",
        "description": "手机没有信号 / no signal at home",
    }
    body.update(overrides)
    return body


def policy_dir_with(tmp_path: Path, policy_toml: str) -> Path:
    """A policy directory holding the shipped calendars and one policy."""
    directory = tmp_path / "policies"
    shutil.copytree(default_policy_dir() / "calendars", directory / "calendars")
    (directory / "policy.toml").write_text(policy_toml, encoding="utf-8")
    return directory


def build_app(database_url: str, clock: ShiftedClock, **settings: Any) -> FastAPI:
    """A complaints app with the monitor off (tests run its passes themselves)."""
    settings.setdefault("index_keys", SecretStr(INDEX_KEYS))
    return create_app(
        ComplaintsSettings(
            database_url=database_url,
            monitor_enabled=False,
            master_key=SecretStr(MASTER_KEY),
            **settings,
        ),
        AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
        clock=clock,
    )


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `app` in-process; closes the app's stores after."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://complaints") as client:
            yield client
    finally:
        app.state.queue.engine.dispose()
        app.state.complaints.close()


Headers = Callable[..., dict[str, str]]
