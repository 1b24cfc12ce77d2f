"""Webhook destination rules: only globally routable addresses, only well-formed names."""

from __future__ import annotations

import ipaddress

import pytest

from services.notifications.destinations import (
    DestinationRefused,
    DestinationRules,
    IPAddress,
    Resolver,
    address_problem,
    syntax_problem,
)


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # a cloud metadata service, in shared address space
        "100.64.0.1",
        "127.0.0.1",
        "10.0.0.8",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "fec0::1",  # site-local, which ipaddress still calls global
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:a00:8::1",  # 6to4 around 10.0.0.8
        "2001::1",  # Teredo
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",  # IPv4-mapped: never a receiver's own address
        "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "2002:808:808::1"])
def test_global_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost./",
        "http://hooks.example.com./x",
        f"http://{'a' * 64}.example.com/x",
        f"http://{'a.' * 127}com/",
        "http://-bad.example.com/",
        "http://under_score.example.com/",
        "ftp://example.com/",
        "http:///x",
    ],
)
def test_malformed_hosts_are_refused_before_any_lookup(url: str) -> None:
    assert syntax_problem(url) is not None


def _resolver(*answers: str) -> Resolver:
    def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in answers]

    return resolve


def test_a_name_is_refused_when_any_of_its_addresses_is_internal() -> None:
    rules = DestinationRules(resolver=_resolver("93.184.215.14", "127.0.0.1"))
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1"):
        rules.check("https://hooks.example.com/in")


def test_loopback_names_are_refused_without_asking_the_resolver() -> None:
    rules = DestinationRules(resolver=_resolver("93.184.215.14"))
    for url in ("http://localhost:8080/", "http://api.localhost/"):
        with pytest.raises(DestinationRefused):
            rules.check(url)


def test_the_checked_address_is_the_one_to_connect_to() -> None:
    rules = DestinationRules(resolver=_resolver("93.184.215.14", "2606:2800:21f::1"))
    destination = rules.check("https://hooks.example.com/in")
    assert destination.host == "hooks.example.com" and destination.port == 443
    assert str(destination.address) == "93.184.215.14"


def test_private_addresses_pass_when_allowed_but_names_are_still_checked() -> None:
    rules = DestinationRules(allow_private=True)
    assert str(rules.check("http://127.0.0.1:9/x").address) == "127.0.0.1"
    with pytest.raises(DestinationRefused):
        rules.check("http://localhost./x")
