"""RFC 9457 problem details: the one error shape of every service.

Every failure a caller can cause or see is a `Problem`; handlers turn
validation errors, unknown routes and unexpected exceptions into the same
`application/problem+json` body, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("services.errors")

# RFC 9110's reason phrases: the title of every `about:blank` problem (RFC 9457 §4.2.1).
STATUS_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# RFC 9110 §11.6.1: a 401 names the scheme to use.
BEARER_CHALLENGE = "Bearer"


class Problem(Exception):
    """An error with an HTTP status, reported as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        # An about:blank problem is titled by its status alone; custom titles
        # belong to documented problem types.
        self.title = STATUS_TITLES.get(status, title) if type == "about:blank" else title
        self.detail = detail
        self.type = type
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem+json document."""
        doc: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extensions)
        return doc


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    """Render a problem as a response."""
    instance = request.url.path if request is not None else None
    headers = dict(problem.headers)
    if problem.status == 401 and not any(k.lower() == "www-authenticate" for k in headers):
        headers["WWW-Authenticate"] = BEARER_CHALLENGE
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        # Never echo the input back: it may hold personal data.
        errors.append(
            {
                "location": [str(p) for p in err.get("loc", ())],
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem+json response."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        malformed = any(e["type"] == "json_invalid" for e in errors)
        problem = Problem(
            400 if malformed else 422,
            "Malformed JSON" if malformed else "Invalid request",
            "The request body is not valid JSON."
            if malformed
            else "The request does not match the schema.",
            errors=errors,
        )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(
            exc.status_code,
            STATUS_TITLES.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )
        return problem_response(problem, request)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def on_out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A value too large for a date or a database column: the caller's input, not a bug.
        log.info("value out of range", extra={"error_type": type(exc).__name__})
        problem = Problem(400, "Bad Request", "A value in the request is out of range.")
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return problem_response(
            Problem(500, "Internal Server Error", "An unexpected error occurred."), request
        )
