"""Every service cuts off a client that sends its request too slowly (slowloris), over raw sockets.

The services run as real processes with one-second header and body
deadlines. A client that trickles its headers, or its body, a few bytes at a
time keeps sending well past the deadline: the service must answer 408 and
close the connection instead of waiting for it forever.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.processes import SERVICES, ServiceProcess, four_services

PREFIX = {name: name.upper() + "_" for name in SERVICES}
# Long enough that only the deadline (one second) can end the request, never the test.
GIVE_UP_AFTER = 20.0


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """The four services with one-second read deadlines, for the whole module."""

    def timeouts(name: str) -> dict[str, str]:
        return {
            f"{PREFIX[name]}HEADER_TIMEOUT_SECONDS": "1",
            f"{PREFIX[name]}BODY_TIMEOUT_SECONDS": "1",
        }

    with four_services(tmp_path_factory.mktemp("timeouts"), timeouts) as running:
        yield running


def _trickle(port: int, head: bytes, drip: bytes) -> bytes:
    """Send `head`, then `drip` every 0.2 s until the server closes; what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        answer = b""
        given_up = time.monotonic() + GIVE_UP_AFTER
        while time.monotonic() < given_up:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(drip)
                except OSError:  # reset: closed while we were sending
                    return answer
                continue
            except ConnectionResetError:
                return answer
            if not chunk:
                return answer
            answer += chunk
        pytest.fail(f"still open after {GIVE_UP_AFTER:g} s; answered {answer[:200]!r}")


@pytest.mark.parametrize("service", SERVICES)
def test_slow_headers_are_cut_off(services: dict[str, ServiceProcess], service: str) -> None:
    port = services[service].port
    answer = _trickle(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"application/problem+json" in answer
    # The service itself is fine and answers others at once.
    assert httpx.get(f"{services[service].url}/healthz").status_code == 200


@pytest.mark.parametrize("service", SERVICES)
def test_a_slow_body_is_cut_off(services: dict[str, ServiceProcess], service: str) -> None:
    head = (
        b"POST /v1/anything HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"
    )
    answer = _trickle(services[service].port, head, b" ")
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_silent_connection_is_closed(services: dict[str, ServiceProcess]) -> None:
    with socket.create_connection(("127.0.0.1", services["complaints"].port)) as sock:
        sock.settimeout(GIVE_UP_AFTER)
        assert sock.recv(4096) == b""


def test_a_prompt_request_on_a_kept_alive_connection_is_answered(
    services: dict[str, ServiceProcess],
) -> None:
    with httpx.Client(base_url=services["audit"].url) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
