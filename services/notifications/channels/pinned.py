"""An HTTP transport that connects to one checked address, whatever the name resolves to later.

The URL, the Host header and the TLS server name (SNI, and the certificate
check) stay those of the host as written; only the TCP connection goes to
the address `DestinationRules` checked. A second lookup by the HTTP client,
which a rebinding DNS server could answer with an internal address, never
happens.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from services.notifications.destinations import Destination


class _PinnedBackend(httpcore.SyncBackend):
    """Opens every TCP connection to the pinned address (and only for the pinned host)."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower() != self.destination.host.lower() or port != self.destination.port:
            # Redirects are not followed, so this would be a bug: refuse, never guess.
            raise httpcore.ConnectError(f"not the checked destination: {host}:{port}")
        return super().connect_tcp(
            str(self.destination.address), port, timeout, local_address, socket_options
        )


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, its connection pool built on the pinned backend."""

    def __init__(self, destination: Destination) -> None:
        # No proxy from the environment: a proxy would resolve the name itself.
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=1,
            network_backend=_PinnedBackend(destination),
        )
