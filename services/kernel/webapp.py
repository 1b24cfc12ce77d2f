"""The common shape of every service's FastAPI application.

Problem+json errors, the request-context middleware (request id, access log,
metrics, security headers), a body-size limit, closed CORS unless configured,
and the probes `/healthz`, `/readyz` and `/metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from services.kernel import problem_types
from services.kernel.api_docs import install_api_docs
from services.kernel.auth import AuthSettings, TokenVerifier
from services.kernel.contract import install_contract, problem_responses
from services.kernel.database import reading
from services.kernel.limits import RequestLimitsMiddleware
from services.kernel.observability import Metrics, RequestContextMiddleware
from services.kernel.problems import Problem, install_problem_handlers
from services.kernel.rate_limit import RateLimiter

ReadinessDetails = Callable[[], dict[str, Any]]


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Ready: the database (and each peer or feed named) answers."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ready"]
    database: str | None = Field(default=None, description="`ok` when the database answers.")


def public() -> None:
    """Marks a route as open to anonymous callers (probes and metrics only)."""


public.allowed_roles = "public"  # type: ignore[attr-defined]


def create_service_app(
    *,
    title: str,
    description: str,
    auth: AuthSettings,
    metrics: Metrics,
    engine: Engine | None,
    readiness: ReadinessDetails | None = None,
    max_body_bytes: int = 256 * 1024,
    cors_origins: Sequence[str] = (),
    lifespan: Any = None,
) -> FastAPI:
    """A FastAPI app with the cross-cutting behaviour every service shares."""
    # The docs pages are the kernel's own (assets served locally), not FastAPI's CDN ones.
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.token_verifier = TokenVerifier(auth)
    app.state.rate_limiter = RateLimiter(auth.rate_limit_per_second, auth.rate_limit_burst)
    app.state.metrics = metrics
    install_problem_handlers(app)
    install_api_docs(app)
    install_contract(app)
    app.include_router(problem_types.router)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["ETag", "Location", "X-Request-ID"],
        )
    app.add_middleware(RequestLimitsMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    from fastapi import Depends

    @app.get("/healthz", tags=["operations"], dependencies=[Depends(public)])
    async def healthz() -> Liveness:
        """Liveness: the process answers."""
        return Liveness(status="ok")

    @app.get(
        "/readyz",
        tags=["operations"],
        dependencies=[Depends(public)],
        response_model=Readiness,
        responses=problem_responses(503),
    )
    async def readyz() -> dict[str, Any]:
        """Readiness: the database answers (and, for consumers, the feed lag)."""

        def probe() -> dict[str, Any]:
            if engine is None:  # a service without a database of its own (the portal)
                return dict(readiness() if readiness else {})
            with reading(engine) as conn:
                conn.execute(text("SELECT 1"))
            return {"database": "ok", **(readiness() if readiness else {})}

        try:
            details = await run_in_threadpool(probe)
        except Exception as exc:
            # The peer or database that failed is named in the detail, never the error text.
            raise Problem(503, "Service Unavailable", f"Not ready: {type(exc).__name__}.") from exc
        return {"status": "ready", **details}

    @app.get(
        "/metrics",
        tags=["operations"],
        dependencies=[Depends(public)],
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics."""
        body, content_type = request.app.state.metrics.render()
        return Response(body, media_type=content_type)

    return app
