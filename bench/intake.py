"""Intake throughput: `POST /v1/complaints` against a naive CRUD endpoint, A/B alternated.

    python -m bench.intake [--rounds 3] [--seconds 10] [--connections 8 32]
                           [--backends postgresql sqlite] [--postgres URL]

Both services run as real processes (one uvicorn worker each) on the same
database server (PostgreSQL: one fresh database each on the same server;
SQLite: one file each), with the same token and the same body; the naive
endpoint (`bench._naive_crud`) validates, checks the JWT, INSERTs one row and
COMMITs. Runs alternate project / naive round by round at each connection
count, so drift on a shared machine hits both alike. Prints requests/s, p50
and p99 per round, the medians, and the ratio project / naive. The load comes
from wrk when installed (else from `bench._load` in its own process).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from cryptography.fernet import Fernet

from bench._harness import (
    DEFAULT_POSTGRES,
    SECRET,
    Service,
    postgres_databases,
    postgres_reachable,
    sqlite_databases,
)
from bench._load import WRK, LoadResult, run_load
from services.complaints.settings import ComplaintsSettings
from services.kernel.auth import mint_token

BODY = {
    "customer": {
        "name": "张三",
        "phone": "13812345678",
        "email": "zhangsan@example.com",
        "language": "zh-CN",
    },
    "channel": "phone",
    "description": "家里没有信号",
    "category": "network_fault",
}
TARGETS = ("project", "naive")
DEFAULT_GROUP_COMMIT = ComplaintsSettings.model_fields["group_commit_max"].default


@contextmanager
def _services(
    urls: dict[str, str], logs: Path, group_commit: int = 0
) -> Iterator[dict[str, Service]]:
    common = {"AUTH_JWT_SECRET": SECRET, "AUTH_RATE_LIMIT_PER_SECOND": "0"}
    with ExitStack() as stack:
        project = Service(
            "services.complaints",
            {
                **common,
                "COMPLAINTS_DATABASE_URL": urls["project"],
                "COMPLAINTS_MASTER_KEY": Fernet.generate_key().decode(),
                "COMPLAINTS_GROUP_COMMIT_MAX": str(group_commit),
            },
            logs / "complaints.log",
        )
        naive = Service(
            "bench._naive_crud", {**common, "NAIVE_DATABASE_URL": urls["naive"]}, logs / "naive.log"
        )
        yield {"project": stack.enter_context(project), "naive": stack.enter_context(naive)}


def measure(
    urls: dict[str, str],
    connections: list[int],
    rounds: int,
    seconds: float,
    group_commit: int = 0,
) -> dict[int, dict[str, list[LoadResult]]]:
    """Alternate project and naive runs; results per connection count and target."""
    token = mint_token(SECRET, "agent-bench", ["agent"], ttl_seconds=24 * 3600)
    body = json.dumps(BODY, ensure_ascii=False)
    results: dict[int, dict[str, list[LoadResult]]] = {}
    # CPU time of the service process per answered request: steadier than
    # requests/s on a machine shared with other work.
    cpu_per_request: dict[str, list[float]] = {target: [] for target in TARGETS}
    with (
        TemporaryDirectory(prefix="bench-logs-") as logs,
        _services(urls, Path(logs), group_commit) as running,
    ):
        for target in TARGETS:  # warm up: imports, pools, caches
            run_load(f"{running[target].url}/v1/complaints", token, body, 8, 2)
        for count in connections:
            results[count] = {target: [] for target in TARGETS}
            for n in range(rounds):
                for target in TARGETS:
                    url = f"{running[target].url}/v1/complaints"
                    cpu = running[target].cpu_seconds()
                    result = run_load(url, token, body, count, seconds)
                    cpu_ms = (running[target].cpu_seconds() - cpu) * 1000 / max(1, result.requests)
                    results[count][target].append(result)
                    cpu_per_request[target].append(cpu_ms)
                    print(
                        f"  c={count:<3} round {n + 1} {target:<8}"
                        f"{result.rate:>9.1f} req/s  p50 {result.p50_ms:>7.1f} ms"
                        f"  p99 {result.p99_ms:>7.1f} ms  errors {result.errors}"
                        f"  service CPU {cpu_ms:.1f} ms/request",
                        flush=True,
                    )
    for target, values in cpu_per_request.items():
        print(f"  {target}: median service CPU {statistics.median(values):.1f} ms per request")
    return results


def report(backend: str, results: dict[int, dict[str, list[LoadResult]]]) -> None:
    """Medians over rounds per target, and the ratio of requests/s."""
    print(f"\n{backend}: medians over rounds")
    print(
        f"{'connections':<13}{'target':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'ratio':>8}"
    )
    for count, by_target in results.items():
        rates = {t: statistics.median(r.rate for r in rs) for t, rs in by_target.items()}
        for target, runs in by_target.items():
            ratio = f"{rates['project'] / rates['naive']:.2f}x" if target == "project" else ""
            print(
                f"{count:<13}{target:<9}{rates[target]:>9.1f}"
                f"{statistics.median(r.p50_ms for r in runs):>9.1f}"
                f"{statistics.median(r.p99_ms for r in runs):>9.1f}"
                f"{sum(r.errors for r in runs):>8}{ratio:>8}"
            )


def main(argv: list[str] | None = None) -> None:
    """Run on PostgreSQL (when reachable) and SQLite."""
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--group-commit",
        type=int,
        default=None,
        help="COMPLAINTS_GROUP_COMMIT_MAX of the project service (default: its own default)",
    )
    args = parser.parse_args(argv)
    print(f"load generator: {'wrk' if WRK else 'bench._load (Python)'}", flush=True)
    for backend in args.backends:
        print(f"\n{backend}:", flush=True)
        if backend == "postgresql":
            if not postgres_reachable(args.postgres):
                print("  not reachable, skipped")
                continue
            databases = postgres_databases(args.postgres, *TARGETS)
        else:
            databases = sqlite_databases(*TARGETS)
        with databases as urls:
            results = measure(
                {"project": urls["project"], "naive": urls["naive"]},
                args.connections,
                args.rounds,
                args.seconds,
                args.group_commit if args.group_commit is not None else DEFAULT_GROUP_COMMIT,
            )
        report(backend, results)


if __name__ == "__main__":
    main()
