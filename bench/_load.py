"""Load generators: wrk (when installed) and a lean asyncio client in its own process.

`wrk` (Debian's package) drives a fixed-duration run through a generated Lua
script that sets the method, body and headers and prints one result line.
The Python client speaks HTTP/1.1 keep-alive on raw sockets, so that it costs
far less CPU than the service it measures; it runs as a child process
(`python -m bench._load ...`) and prints its summary as JSON:

    python -m bench._load URL --token T --connections 32 --requests 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench._harness import ROOT, percentile

WRK = shutil.which("wrk")
TIMEOUT = ("--timeout", "10s")  # a slow answer is a latency to report, not an error

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %.1f %.1f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured (latencies in milliseconds)."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    first_at: float = 0.0  # wall-clock time of the first and last answer (Python client)
    last_at: float = 0.0
    statuses: dict[str, int] | None = None

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    # A Lua string literal: escape each byte, so any JSON survives intact.
    return '"' + "".join(f"\\{b}" for b in text.encode()) + '"'


def run_wrk(url: str, token: str, body: str, connections: int, seconds: float) -> LoadResult:
    """POST `body` for `seconds` over `connections` keep-alive connections, with wrk."""
    assert WRK is not None, "wrk is not installed"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=_lua_string(body), token=token))
    try:
        out = subprocess.run(
            [WRK, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", *TIMEOUT, "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, duration_us, *errors, p50, p99 = line.split()[1:]
    return LoadResult(
        requests=int(requests),
        seconds=int(duration_us) / 1e6,
        errors=sum(int(e) for e in errors),
        p50_ms=float(p50) / 1000,
        p99_ms=float(p99) / 1000,
    )


def run_python_client(
    url: str,
    token: str,
    body: str,
    connections: int,
    *,
    requests: int = 0,
    seconds: float = 0.0,
    vary: str | None = None,
) -> LoadResult:
    """Run the asyncio client in a child process; stop after `requests` or `seconds`."""
    command = [sys.executable, "-m", "bench._load", url, "--token", token, "--body", body]
    command += ["--connections", str(connections), "--requests", str(requests)]
    command += ["--seconds", str(seconds)]
    if vary:
        command += ["--vary", vary]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return LoadResult(**json.loads(out.splitlines()[-1]))


def run_load(url: str, token: str, body: str, connections: int, seconds: float) -> LoadResult:
    """A fixed-duration run with wrk, or with the Python client when wrk is absent."""
    if WRK is not None:
        return run_wrk(url, token, body, connections, seconds)
    return run_python_client(url, token, body, connections, seconds=seconds)


class _Client:
    """Keep-alive connections sending one prepared POST each, in a loop."""

    def __init__(
        self, url: str, token: str, body: str, total: int, until: float, vary: str | None
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.token = token
        self.body = body
        self.vary = vary
        self.total = total
        self.until = until
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors = 0
        self.first_at = 0.0
        self.last_at = 0.0

    def _request(self, n: int) -> bytes:
        body = self.body.replace(self.vary, f"{n:08d}") if self.vary else self.body
        data = body.encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    def _more(self) -> bool:
        if self.total and self.sent >= self.total:
            return False
        return not (self.until and time.monotonic() >= self.until)

    async def connection(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while self._more():
                self.sent += 1
                started = time.perf_counter()
                writer.write(self._request(self.sent))
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.latencies.append((time.perf_counter() - started) * 1000)
                self.statuses[status] += 1
                self.last_at = time.time()
                self.first_at = self.first_at or self.last_at
                if not status.startswith("2"):
                    self.errors += 1
        finally:
            writer.close()


async def _drive(args: argparse.Namespace) -> LoadResult:
    until = time.monotonic() + args.seconds if args.seconds else 0.0
    client = _Client(args.url, args.token, args.body, args.requests, until, args.vary)
    started = time.perf_counter()
    await asyncio.gather(*(client.connection() for _ in range(args.connections)))
    elapsed = time.perf_counter() - started
    return LoadResult(
        requests=len(client.latencies),
        seconds=elapsed,
        errors=client.errors,
        p50_ms=percentile(client.latencies, 0.50),
        p99_ms=percentile(client.latencies, 0.99),
        first_at=client.first_at,
        last_at=client.last_at,
        statuses=dict(client.statuses),
    )


def main(argv: list[str] | None = None) -> None:
    """Run the client and print its summary as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench._load")
    parser.add_argument("url")
    parser.add_argument("--token", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--vary", help="a placeholder in the body replaced by a counter")
    args = parser.parse_args(argv)
    print(json.dumps(asdict(asyncio.run(_drive(args)))))


if __name__ == "__main__":
    main()
