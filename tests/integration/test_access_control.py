"""Every route of every service declares its roles, and enforces them.

The test reads each service's routes from the app itself, so a new route
without a rule fails here. Each route is called anonymously and as every
role: a role outside the rule must get 403 (anonymous: 401), a role inside
it must get past authorisation (any other status, 404 and 422 included).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import SecretStr

from services.kernel.auth import AuthSettings, Role, mint_token
from services.kernel.contract import api_routes
from tests.conftest import JWT_SECRET, MASTER_KEY

PUBLIC = "public"


def _complaints(tmp: Path) -> FastAPI:
    from services.complaints.app import create_app
    from services.complaints.settings import ComplaintsSettings

    return create_app(
        ComplaintsSettings(
            database_url=f"sqlite:///{tmp}/complaints.db",
            monitor_enabled=False,
            master_key=SecretStr(MASTER_KEY),
        ),
        _auth(),
    )


def _audit(tmp: Path) -> FastAPI:
    from services.audit.app import create_app
    from services.audit.settings import AuditSettings

    return create_app(
        AuditSettings(
            database_url=f"sqlite:///{tmp}/audit.db",
            feed_url="http://127.0.0.1:9",
            signing_key=tmp / "audit.pem",
        ),
        _auth(),
    )


def _notifications(tmp: Path) -> FastAPI:
    from services.notifications.app import create_app
    from services.notifications.settings import NotificationsSettings

    return create_app(
        NotificationsSettings(
            database_url=f"sqlite:///{tmp}/notifications.db", feed_url="http://127.0.0.1:9"
        ),
        _auth(),
    )


def _auth() -> AuthSettings:
    return AuthSettings(jwt_secret=SecretStr(JWT_SECRET), rate_limit_per_second=0)


SERVICES: dict[str, Callable[[Path], FastAPI]] = {
    "complaints": _complaints,
    "audit": _audit,
    "notifications": _notifications,
}


def declared_roles(dependant: Dependant) -> set[str] | None:
    """The roles a route's dependencies allow (`{"public"}` for open routes)."""
    found: set[str] | None = None
    for dep in dependant.dependencies:
        rule = getattr(dep.call, "allowed_roles", None)
        if rule is not None:
            found = (found or set()) | ({PUBLIC} if rule == PUBLIC else {str(r) for r in rule})
        inner = declared_roles(dep)
        if inner is not None:
            found = (found or set()) | inner
    return found


def _path(route: APIRoute) -> str:
    path = route.path
    for param in route.dependant.path_params:
        annotation = str(param.field_info.annotation)
        value = str(uuid.uuid4()) if "UUID" in annotation else "1" if "int" in annotation else "x"
        path = path.replace("{" + param.name + "}", value)
    return path


def _query(route: APIRoute) -> dict[str, str]:
    return {
        p.name: "an audit check" for p in route.dependant.query_params if p.field_info.is_required()
    }


def _routes(app: FastAPI) -> Iterator[tuple[APIRoute, str]]:
    # Included routers' routes too: FastAPI keeps those behind `_IncludedRouter` entries.
    for route in api_routes(app):
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            yield route, method


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_route_declares_and_enforces_its_roles(service: str, tmp_path: Path) -> None:
    app = SERVICES[service](tmp_path)
    tokens = {role: mint_token(JWT_SECRET, f"{role.value}-x", [role]) for role in Role}
    undeclared = [
        f"{method} {route.path}"
        for route, method in _routes(app)
        if declared_roles(route.dependant) is None
    ]
    assert not undeclared, f"routes without a role rule: {undeclared}"
    schema_paths = set(app.openapi()["paths"])
    failures: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for route, method in _routes(app):
            assert route.path in schema_paths or not route.include_in_schema
            rule = declared_roles(route.dependant) or set()
            url, params = _path(route), _query(route)
            body: Any = {} if method in ("POST", "PUT", "PATCH") else None
            anonymous = await client.request(method, url, params=params, json=body)
            if PUBLIC not in rule and anonymous.status_code != 401:
                failures.append(f"anonymous {method} {route.path}: {anonymous.status_code}")
            for role, token in tokens.items():
                response = await client.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                allowed = PUBLIC in rule or role.value in rule
                status = response.status_code
                if allowed and status in (401, 403):
                    failures.append(f"{role} {method} {route.path}: refused {status}")
                if not allowed and status != 403:
                    failures.append(f"{role} {method} {route.path}: {status}, expected 403")
    assert not failures, "\n".join(failures)


PROTECTED = {
    "complaints": "/v1/policies",
    "audit": "/v1/audit/checkpoint",
    "notifications": "/v1/notifications",
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_bad_tokens_are_refused_by_every_service(service: str, tmp_path: Path) -> None:
    import time

    import jwt

    now = int(time.time())
    claims = {"sub": "x", "roles": ["admin", "regulator", "supervisor"]}
    bad = {
        "expired": jwt.encode({**claims, "exp": now - 120}, JWT_SECRET),
        "not yet valid": jwt.encode({**claims, "exp": now + 900, "nbf": now + 600}, JWT_SECRET),
        "wrong secret": jwt.encode({**claims, "exp": now + 60}, "another-secret-" * 3),
        "alg none": jwt.encode({**claims, "exp": now + 60}, "", algorithm="none"),
        "malformed": "eyJhbGciOi.not-a-token",
        "no expiry": jwt.encode(claims, JWT_SECRET),
    }
    app = SERVICES[service](tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for name, token in bad.items():
            response = await client.get(
                PROTECTED[service], headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, (name, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
        good = jwt.encode({**claims, "exp": now + 60}, JWT_SECRET)
        ok = await client.get(PROTECTED[service], headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code not in (401, 403)
        for header, value in (
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
        ):
            assert ok.headers[header] == value
        preflight = await client.options(
            PROTECTED[service],
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers, "CORS is closed"


ODD_INPUTS = {
    "complaints": [
        "/v1/complaints/%00",
        "/v1/complaints?status=%00",
        "/v1/events?after=99999999999999999999",
    ],
    "audit": [
        "/v1/audit/cases/%00",
        "/v1/audit/complaints?status=%00",
        "/v1/audit/checkpoints?after_size=9223372036854775808",
        "/v1/audit/complaints?received_from=0001-01-01T00:00:00%2B14:00",
        "/v1/audit/reports/sla?from=9999-12-31T23:59:59-14:00",
        "/v1/audit/entries?start=-1&end=99999999999999999999",
        "/v1/audit/proofs/inclusion?index=-5&tree_size=9223372036854775808",
    ],
    "notifications": [
        "/v1/notifications?cursor=999999999999999999",
        "/v1/notifications/%00",
        "/v1/webhooks/%00",
    ],
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_odd_input_is_a_problem_never_a_500(service: str, tmp_path: Path) -> None:
    app = SERVICES[service](tmp_path)
    admin = mint_token(JWT_SECRET, "admin-x", [Role.ADMIN, Role.SUPERVISOR, Role.REGULATOR])
    headers = {"Authorization": f"Bearer {admin}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for url in ODD_INPUTS[service]:
            response = await client.get(url, headers=headers)
            assert response.status_code < 500, (url, response.status_code)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", url
        nul_body = await client.post(
            "/v1/webhooks" if service == "notifications" else "/v1/complaints",
            content=b'{"description": "a\\u0000b"}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert 400 <= nul_body.status_code < 500
