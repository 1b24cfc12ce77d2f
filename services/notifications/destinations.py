"""Webhook destinations: which hosts a webhook may reach, and the address it connects to.

A webhook URL is chosen by whoever holds an admin token, so it must not aim
the service at its own network (cloud metadata, databases, admin consoles).
Only globally routable addresses pass (`ipaddress.is_global`), and several
forms that the standard library still calls global, or that carry an
internal IPv4 address inside an IPv6 one, are refused explicitly: shared
address space 100.64.0.0/10, site-local fec0::/10, IPv4-mapped ::ffff:0:0/96,
6to4 2002::/16, Teredo 2001::/32 and NAT64 64:ff9b::/96 embedding a
non-global IPv4 address. Names must be well formed (labels of 1 to 63
letters, digits or hyphens, 253 characters in all) and may not end in a dot
or be `localhost` (RFC 6761).

The check runs when a subscription is made and again at every delivery, on
the addresses the name resolves to at that moment; the delivery then
connects to the very address that was checked (see `PinnedTransport` in the
webhook channel), so a name that re-resolves to an internal address between
the check and the connect (DNS rebinding) reaches nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The host the name resolves to, as the system resolver answers (one per address).
Resolver = Callable[[str, int], Sequence[IPAddress]]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
_MAX_NAME = 253

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(Exception):
    """A webhook URL whose host may not be reached; the message says why."""


class Unresolvable(Exception):
    """The host's name does not resolve here right now (which may pass)."""


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL: its host as written and the address to connect to."""

    url: str
    host: str
    port: int
    address: IPAddress


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the system resolver gives for `host`, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve: {type(exc).__name__}") from exc
    found: list[IPAddress] = []
    for info in infos:
        # A scoped IPv6 answer ("fe80::1%eth0") is link-local and refused anyway.
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


def host_problem(host: str) -> str | None:
    """Why `host` (from a URL, without brackets) is not an acceptable host name, if it is not."""
    if not host:
        return "the URL has no host"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if host.endswith("."):
        return f"host names may not end in a dot ({host})"
    if len(host) > _MAX_NAME:
        return f"host names are at most {_MAX_NAME} characters"
    labels = host.split(".")
    for label in labels:
        if not _LABEL.match(label):
            return (
                "each part of a host name is 1 to 63 letters, digits or hyphens "
                f"({label[:70]!r} is not)"
            )
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is not a globally routable destination, if it is not."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{address} is an IPv4-mapped address"
        if address in _SITE_LOCAL:
            return f"{address} is site-local"
        embedded = _embedded_ipv4(address)
        if embedded is not None and address_problem(embedded) is not None:
            return f"{address} carries the internal IPv4 address {embedded}"
    elif address in _SHARED:
        return f"{address} is shared address space (100.64.0.0/10)"
    if not address.is_global or address.is_multicast:
        return f"{address} is not a globally routable address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        # The client's address is the one a packet ends up at.
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def syntax_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook URL whatever it resolves to, if it cannot."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return "the URL is malformed"
    if parts.scheme not in ("http", "https"):
        return "webhook URLs are http or https"
    return host_problem(parts.hostname or "")


class DestinationRules:
    """Checks webhook URLs: well-formed hosts resolving only to allowed addresses.

    With `allow_private` (local runs and tests) any address passes, but the
    host is still validated and the delivery still pinned to what resolved.
    """

    def __init__(self, allow_private: bool = False, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def check(self, url: str) -> Destination:
        """The destination to connect to; `DestinationRefused` or `Unresolvable` if none."""
        problem = syntax_problem(url)
        if problem is not None:
            raise DestinationRefused(problem)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise DestinationRefused(f"{host} is a loopback name")
        try:
            addresses: Sequence[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = self.resolver(host, port)
        if not addresses:
            raise Unresolvable(f"{host} has no address")
        if not self.allow_private:
            # Every address must pass, not just the first: a name may answer
            # differently to the next lookup, and the client may try any.
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    raise DestinationRefused(problem)
        return Destination(url=url, host=host, port=port, address=addresses[0])
