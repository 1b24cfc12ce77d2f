"""The OpenAPI documents describe the real errors and headers, and the validator bites.

Every response of the integration suite is validated against its app's
document (tests/contract.py); these tests pin what that validation rests on:
problem+json for every error, the headers declared, 401s with a challenge,
problem types that resolve, and a validator that rejects a lie.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.kernel.auth import AuthSettings
from services.kernel.observability import Metrics
from services.kernel.problem_types import PROBLEM_TYPES
from services.kernel.problems import PROBLEM_JSON, STATUS_TITLES, Problem
from services.kernel.webapp import create_service_app, public
from tests import contract
from tests.conftest import JWT_SECRET
from tests.integration.test_access_control import SERVICES

ERRORS = {"400", "401", "403", "404", "409", "410", "412", "413", "422", "429", "503"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_error_is_a_problem_and_writes_declare_their_headers(
    service: str, tmp_path: Path
) -> None:
    document = SERVICES[service](tmp_path).openapi()
    assert "HTTPValidationError" not in str(document)
    assert "ProblemDetails" in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if status in ERRORS:
                assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)
        if operation.get("security"):
            assert {"401", "403", "429"} <= set(responses), (path, method)
            assert "WWW-Authenticate" in responses["401"]["headers"]
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), (path, method)
        if method == "post" and path.startswith("/v1/complaints"):
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "Idempotency-Key" in names, path
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_complaint_routes_declare_etag_location_and_if_match(tmp_path: Path) -> None:
    document = SERVICES["complaints"](tmp_path).openapi()
    register = document["paths"]["/v1/complaints"]["post"]["responses"]["201"]
    assert {"ETag", "Location"} <= set(register["headers"])
    read = document["paths"]["/v1/complaints/{complaint_id}"]["get"]["responses"]
    assert "ETag" in read["200"]["headers"] and "404" in read
    accept = document["paths"]["/v1/complaints/{complaint_id}/accept"]["post"]
    assert "If-Match" in {p["name"] for p in accept["parameters"]}
    assert {"409", "412"} <= set(accept["responses"])
    feed = document["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
    assert feed["application/json"]["schema"] == {"$ref": "#/components/schemas/FeedPage"}


def test_audit_answers_are_typed(tmp_path: Path) -> None:
    document = SERVICES["audit"](tmp_path).openapi()
    paths = document["paths"]
    for path in ("/v1/audit/entries", "/v1/audit/proofs/inclusion", "/v1/audit/checkpoints"):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, path
    assert "text/plain" in paths["/v1/audit/checkpoint"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in paths["/v1/audit/reports/sla"]["get"]["responses"]["200"]["content"]


async def test_a_401_names_its_scheme_and_never_a_python_repr(tmp_path: Path) -> None:
    app = SERVICES["complaints"](tmp_path)
    others = jwt.encode({"sub": "x", "exp": 4102444800}, "another-secret-" * 3, "HS256")
    garbage = "not.a.jwt"
    unsigned = jwt.encode({"sub": "x", "exp": 4102444800}, "", algorithm="none")
    expired = jwt.encode({"sub": "x", "exp": 1}, JWT_SECRET, "HS256")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        missing = await client.get("/v1/complaints")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        for token in (others, garbage, unsigned, expired):
            answer = await client.get(
                "/v1/complaints", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
            detail = answer.json()["detail"]
            assert "<" not in detail and "object at" not in detail and "Error" not in detail


async def test_about_blank_problems_carry_the_standard_title(tmp_path: Path) -> None:
    app = SERVICES["complaints"](tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        invalid = await client.post(
            "/v1/complaints",
            json={"channel": "phone"},
            headers={"Authorization": "Bearer x"},
        )
        assert invalid.json()["title"] == STATUS_TITLES[invalid.status_code]
    assert Problem(422, "Invalid request").title == "Unprocessable Content"
    assert Problem(409, "Action not allowed", type="/problems/x").title == "Action not allowed"


@pytest.mark.parametrize("name", sorted(PROBLEM_TYPES))
async def test_problem_type_uris_resolve_to_a_page(name: str, tmp_path: Path) -> None:
    app = SERVICES["complaints"](tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        page = await client.get(f"/problems/{name}")
        assert page.status_code == 200
        assert PROBLEM_TYPES[name].title in page.text
        assert (await client.get("/problems/no-such-type")).status_code == 404


def _lying_app(route: Callable[[FastAPI], None]) -> FastAPI:
    app = create_service_app(
        title="t",
        description="d",
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
        metrics=Metrics("t"),
        engine=None,
    )
    route(app)
    return app


def _undocumented_status(app: FastAPI) -> None:
    @app.get("/teapot", dependencies=[])
    async def teapot() -> dict[str, str]:
        raise Problem(409, "Conflict", "Never documented.")


def _wrong_shape(app: FastAPI) -> None:
    from fastapi import Depends
    from fastapi.responses import JSONResponse

    @app.get("/count", dependencies=[Depends(public)])
    async def count() -> int:
        return JSONResponse({"count": 1})  # type: ignore[return-value]


@pytest.mark.parametrize("route", [_undocumented_status, _wrong_shape])
async def test_the_validator_rejects_a_response_the_document_does_not_promise(
    route: Callable[[FastAPI], None], openapi_contract: list[contract.Exchange]
) -> None:
    app = _lying_app(route)
    path = "/teapot" if route is _undocumented_status else "/count"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        await client.get(path)
    with pytest.raises(AssertionError, match="breaks the OpenAPI document"):
        contract.check_all(openapi_contract)
    openapi_contract.clear()  # seen failing: the fixture's own check must not fail again
