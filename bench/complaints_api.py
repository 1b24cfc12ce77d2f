"""Latency of the complaints API on SQLite (and PostgreSQL when reachable).

    python -m bench.complaints_api [--complaints N] [--postgres URL]

Through the ASGI app (auth, validation, sealing, event store, work queue and
JSON included): registering a complaint, an action on it, reading it, reading
its case file, a work-queue page and a feed page. Prints median and 99th
percentile per operation, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from services.complaints.app import create_app
from services.complaints.settings import ComplaintsSettings
from services.kernel.auth import AuthSettings, mint_token

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
BODY = {
    "customer": {
        "name": "张三",
        "phone": "13812345678",
        "email": "zhangsan@example.com",
        "language": "zh-CN",
    },
    "channel": "phone",
    "description": "家里没有信号",
}


async def _timed(samples: list[float], request: Awaitable[httpx.Response]) -> Any:
    # A coroutine does nothing until awaited, so the clock covers the whole request.
    started = time.perf_counter()
    response = await request
    samples.append((time.perf_counter() - started) * 1000)
    assert response.status_code < 300, response.text
    return response.json()


async def run(database_url: str, complaints: int) -> dict[str, list[float]]:
    """Time each operation `complaints` times against a fresh database."""
    app = create_app(
        ComplaintsSettings(
            database_url=database_url,
            monitor_enabled=False,
            master_key=SecretStr(Fernet.generate_key().decode()),
        ),
        AuthSettings(jwt_secret=SecretStr(SECRET), rate_limit_per_second=0),
    )
    agent = {"Authorization": f"Bearer {mint_token(SECRET, 'agent-1', ['agent'])}"}
    service = {"Authorization": f"Bearer {mint_token(SECRET, 'svc', ['service'])}"}
    times: dict[str, list[float]] = {
        k: [] for k in ("register", "accept", "get", "history", "queue page", "feed page")
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for n in range(complaints):
            created = await _timed(
                times["register"], client.post("/v1/complaints", json=BODY, headers=agent)
            )
            cid = created["id"]
            accept = {"category": "billing", "severity": "low"}
            await _timed(
                times["accept"],
                client.post(f"/v1/complaints/{cid}/accept", json=accept, headers=agent),
            )
            await _timed(times["get"], client.get(f"/v1/complaints/{cid}", headers=agent))
            await _timed(
                times["history"],
                client.get(f"/v1/complaints/{cid}/history", headers=agent),
            )
            await _timed(
                times["queue page"],
                client.get("/v1/complaints?status=accepted&limit=50", headers=agent),
            )
            after = max(0, 2 * n - 100)
            await _timed(
                times["feed page"],
                client.get(f"/v1/events?after={after}&limit=100", headers=service),
            )
    app.state.queue.engine.dispose()
    app.state.complaints.close()
    return times


def _report(backend: str, times: dict[str, list[float]]) -> None:
    print(f"\n{backend}: {len(times['register'])} complaints")
    print(f"{'operation':<14}{'median ms':>12}{'p99 ms':>10}")
    for name, samples in times.items():
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{name:<14}{statistics.median(ordered):>12.2f}{p99:>10.2f}")


def main(argv: list[str] | None = None) -> None:
    """Run on SQLite, then on PostgreSQL if a server answers."""
    parser = argparse.ArgumentParser(prog="python -m bench.complaints_api")
    parser.add_argument("--complaints", type=int, default=300)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        _report("SQLite", asyncio.run(run(f"sqlite:///{tmp}/complaints.db", args.complaints)))
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(args.postgres, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        print("\nPostgreSQL: not reachable, skipped")
        return
    try:
        url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        _report("PostgreSQL", asyncio.run(run(url, args.complaints)))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
