"""Proof and case-file latency on a ledger of a million entries (SQLite).

    python -m bench.audit_proofs [--entries N] [--samples N] [--keep DIR]

Builds the ledger with the service's own append path (`ledger.append`,
CompactRange nodes, pages of 20,000 synthetic feed items, ten events per
complaint) straight into an SQLite file, signs a checkpoint, then times
inclusion proofs, consistency proofs and case files, both through the ledger
functions and as HTTP requests to the ASGI app (auth, routing and JSON
included). Prints median and 99th percentile per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from services.audit.app import create_app
from services.audit.checkpoint import Signer
from services.audit.checkpoints import CheckpointLog
from services.audit.immutability import install_schema
from services.audit.ledger import Ledger, append
from services.audit.settings import AuditSettings
from services.audit.tables import metadata
from services.kernel.auth import AuthSettings, mint_token
from services.kernel.database import create_database_engine

EVENTS_PER_COMPLAINT = 10
PAGE = 20_000
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
ORIGIN = "bench.example/audit"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def complaint_id(number: int) -> str:
    """The id of synthetic complaint `number`."""
    return str(uuid.UUID(int=number + 1))


def synthetic_item(index: int) -> dict[str, Any]:
    """A feed item of the size and shape of a real one."""
    number, version = divmod(index, EVENTS_PER_COMPLAINT)
    return {
        "position": index + 1,
        "event_id": str(uuid.UUID(int=(1 << 64) + index)),
        "complaint_id": complaint_id(number),
        "version": version + 1,
        "type": "NoteAdded",
        "occurred_at": (T0 + timedelta(seconds=index)).isoformat(),
        "actor": {"id": "agent-7", "role": "agent"},
        "schema_version": 1,
        "data": {"text": f"call back about invoice {number}"},
    }


def build(url: str, entries: int) -> float:
    """Append `entries` synthetic entries in pages; return the seconds it took."""
    engine = create_database_engine(url)
    started = time.perf_counter()
    # Tables first, triggers after the bulk load: the no-replace trigger's key lookups
    # would only slow the load, and the load is not what is measured.
    metadata.create_all(engine)
    recorded = datetime.now(UTC)
    for start in range(0, entries, PAGE):
        page = [synthetic_item(i) for i in range(start, min(entries, start + PAGE))]
        with engine.begin() as conn:
            append(conn, page, recorded)
    with engine.begin() as conn:
        install_schema(conn)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def timed(operation: Callable[[], object], samples: int) -> list[float]:
    """Milliseconds per call of a synchronous operation."""
    results = []
    for _ in range(samples):
        started = time.perf_counter()
        operation()
        results.append((time.perf_counter() - started) * 1000)
    return results


async def timed_async(operation: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    """Milliseconds per call of an asynchronous operation."""
    results = []
    for _ in range(samples):
        started = time.perf_counter()
        await operation()
        results.append((time.perf_counter() - started) * 1000)
    return results


def summary(name: str, millis: Sequence[float]) -> str:
    """One table row: median and 99th percentile."""
    ordered = sorted(millis)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"| {name:<44} | {statistics.median(ordered):>9.3f} | {p99:>9.3f} | {len(ordered):>7} |"


async def measure_http(app: Any, size: int, samples: int, rng: random.Random) -> list[str]:
    """Time the proof and case-file routes through the ASGI app."""
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench', ['regulator'])}"}
    transport = httpx.ASGITransport(app=app)
    rows = []
    async with httpx.AsyncClient(
        transport=transport, base_url="http://audit", headers=headers
    ) as client:

        async def get(path: str, **params: Any) -> None:
            response = await client.get(path, params=params)
            response.raise_for_status()

        complaints = size // EVENTS_PER_COMPLAINT
        rows.append(
            summary(
                "HTTP GET /proofs/inclusion",
                await timed_async(
                    lambda: get(
                        "/v1/audit/proofs/inclusion", index=rng.randrange(size), tree_size=size
                    ),
                    samples,
                ),
            )
        )
        rows.append(
            summary(
                "HTTP GET /proofs/consistency",
                await timed_async(
                    lambda: get(
                        "/v1/audit/proofs/consistency",
                        **{"from": rng.randrange(1, size), "to": size},
                    ),
                    samples,
                ),
            )
        )
        rows.append(
            summary(
                f"HTTP GET /cases/{{id}} ({EVENTS_PER_COMPLAINT} entries + proofs)",
                await timed_async(
                    lambda: get(f"/v1/audit/cases/{complaint_id(rng.randrange(complaints))}"),
                    samples,
                ),
            )
        )
        rows.append(
            summary(
                "HTTP GET /checkpoint",
                await timed_async(lambda: get("/v1/audit/checkpoint"), samples),
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Build the ledger, sign a checkpoint, time the reads and print a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_proofs")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="Build in this directory and keep the file.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{directory / 'audit-bench.db'}"
        print(f"building a ledger of {args.entries:,} entries in {directory} ...", flush=True)
        seconds = build(url, args.entries)
        print(f"built in {seconds:.1f} s ({args.entries / seconds:,.0f} entries/s)", flush=True)
        run(url, args.entries, args.samples, directory)


def run(url: str, size: int, samples: int, directory: Path) -> None:
    """Time the reads on a built ledger."""
    rng = random.Random(6962)
    settings = AuditSettings(
        database_url=url,
        signing_key=directory / "bench-signing.pem",
        log_origin=ORIGIN,
        consumer_enabled=False,
    )
    # No rate limit: the benchmark is one token asking as fast as it can, on purpose.
    auth = AuthSettings(jwt_secret=SecretStr(SECRET), rate_limit_per_second=0)
    app = create_app(settings, auth)
    engine = app.state.engine
    CheckpointLog(engine, Signer(Ed25519PrivateKey.generate(), ORIGIN)).issue()
    app.state.checkpoints.issue()  # Signed by the app's own key: the one the API serves.
    ledger = Ledger(engine)
    complaints = size // EVENTS_PER_COMPLAINT
    rows = [
        summary(
            "ledger.inclusion_proof",
            timed(lambda: ledger.inclusion_proof(rng.randrange(size), size), samples),
        ),
        summary(
            "ledger.consistency_proof",
            timed(lambda: ledger.consistency_proof(rng.randrange(1, size), size), samples),
        ),
        summary(
            "ledger.case_entries + inclusion_proofs",
            timed(
                lambda: ledger.inclusion_proofs(
                    [
                        e.index
                        for e in ledger.case_entries(complaint_id(rng.randrange(complaints)), size)
                    ],
                    size,
                ),
                samples,
            ),
        ),
    ]
    rows += asyncio.run(measure_http(app, size, samples, rng))
    engine.dispose()
    print(f"\nledger of {size:,} entries, SQLite, latency in milliseconds\n")
    print(f"| {'operation':<44} | {'median':>9} | {'p99':>9} | {'samples':>7} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|{'-' * 9}|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
