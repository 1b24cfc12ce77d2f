"""The OpenAPI document tells the truth about errors and headers.

FastAPI documents one error, a 422 of its own shape. This module documents
what the services really answer: every error is RFC 9457 problem details
(`application/problem+json`, the shared `Problem` schema), and each route
lists the statuses it can return. Those that follow from the route's shape
are added here for every route alike (authentication: 401 with
`WWW-Authenticate`, 403, 429 with `Retry-After`; a body: 400, 413, 422;
parameters: 400, 422); those that follow from what it does (404, 409, 410,
412, 503 …) the route declares with `problem_responses(...)`.
A test validates every response of the integration suite against the
document (tests/contract.py), so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field

from services.kernel.problems import PROBLEM_JSON, STATUS_TITLES


class ValidationIssue(BaseModel):
    """One reason a request was refused: where, and what is wrong (never the value)."""

    location: list[str] = Field(description="Path to the offending value, e.g. body, customer.")
    message: str
    type: str = Field(description="A stable code for the kind of problem.")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No such complaint.",
                    "instance": "/v1/complaints/4f1c2a9e-0b7d-4d3e-9a51-2c7f8e6d1b20",
                }
            ]
        },
    )

    type: str = Field(
        default="about:blank",
        description="A URI reference naming the problem type; `about:blank` means "
        "the status says it all. Other types are documented at the URI (GET it).",
    )
    title: str = Field(description="The problem type's summary; for about:blank the status phrase.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What happened this time.")
    instance: str | None = Field(default=None, description="The request path that failed.")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="For 400 and 422: each value refused, and why."
    )


PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
HEADERS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": {
        "description": "The authentication scheme to use: `Bearer` (RFC 6750).",
        "schema": {"type": "string"},
        "required": True,
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The complaint's version, for `If-Match` on the next write.",
        "schema": {"type": "string"},
        "required": True,
    },
    "Location": {
        "description": "The new resource's URL.",
        "schema": {"type": "string"},
        "required": True,
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request "
        "with the same Idempotency-Key.",
        "schema": {"type": "string"},
    },
}
WHEN: dict[int, str] = {
    400: "Malformed request: invalid JSON, a value out of range, or a bad header.",
    401: "No bearer token, or one that is invalid or expired.",
    403: "The token's roles do not allow this.",
    404: "No such resource.",
    409: "The request conflicts with the resource's state.",
    410: "Gone: the data was erased.",
    412: "If-Match does not name the current version.",
    413: "The request body is too large.",
    422: "The request does not match the schema, or a value is not acceptable.",
    429: "Too many requests; see Retry-After.",
    503: "Not ready or not configured.",
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One documented error response with the Problem schema."""
    doc: dict[str, Any] = {
        "description": description or WHEN.get(status, STATUS_TITLES.get(status, "Error")),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status == 401:
        doc["headers"] = {"WWW-Authenticate": HEADERS["WWW-Authenticate"]}
    if status in (429, 503):
        doc["headers"] = {"Retry-After": HEADERS["Retry-After"]}
    return doc


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the given error statuses, each a Problem."""
    return {status: problem_response(status) for status in statuses}


def header(name: str) -> dict[str, Any]:
    """A documented response header (ETag, Location, …)."""
    return HEADERS[name]


def api_routes(app: FastAPI) -> list[Any]:
    """Every API route of the app, those of included routers too (as FastAPI sees them)."""
    return [
        context
        for context in routing.iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def _roles(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for dep in dependant.dependencies:
        rule = getattr(dep.call, "allowed_roles", None)
        if rule is not None:
            found |= {"public"} if rule == "public" else {str(r) for r in rule}
        found |= _roles(dep)
    return found


def _has_security(dependant: Dependant) -> bool:
    return any(
        isinstance(dep.call, SecurityBase) or _has_security(dep) for dep in dependant.dependencies
    )


def _implied_statuses(route: Any) -> set[int]:
    statuses: set[int] = set()
    dependant = route.dependant
    roles = _roles(dependant)
    if _has_security(dependant) or (roles and "public" not in roles):
        statuses |= {401, 403, 429}
    if dependant.body_params:
        statuses |= {400, 413, 422}
    if dependant.query_params or dependant.path_params or dependant.header_params:
        statuses |= {400, 422}
    if dependant.path_params:
        statuses.add(404)
    return statuses


def _rewrite(operation: dict[str, Any], statuses: Iterable[int]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(set(statuses)):
        key = str(status)
        existing = responses.get(key)
        fresh = problem_response(status)
        if existing is None or "HTTPValidationError" in str(existing):
            responses[key] = fresh
        else:
            # Declared by the route: keep its description, use the shared schema.
            existing["content"] = fresh["content"]
            if "headers" in fresh:
                existing.setdefault("headers", {}).update(fresh["headers"])


def contract_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the real error responses."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    paths: dict[str, Any] = schema.get("paths", {})
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        item = paths.get(route.path_format or "", {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            declared = {int(s) for s in operation.get("responses", {}) if s.isdigit()}
            errors = {s for s in declared if s >= 400} | _implied_statuses(route)
            _rewrite(operation, errors)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ProblemDetails"] = ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    nested = components["ProblemDetails"].pop("$defs", {})
    components.update(nested)
    app.openapi_schema = schema
    return schema


def install_contract(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) publish the real contract."""
    app.openapi = lambda: contract_openapi(app)  # type: ignore[method-assign]
