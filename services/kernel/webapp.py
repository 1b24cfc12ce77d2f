"""The common shape of every service's FastAPI application.

Problem+json errors, the request-context middleware (request id, access log,
metrics, security headers), a body-size limit, closed CORS unless configured,
and the probes `/healthz`, `/readyz` and `/metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from services.kernel.auth import AuthSettings, TokenVerifier
from services.kernel.database import reading
from services.kernel.limits import RequestLimitsMiddleware
from services.kernel.observability import Metrics, RequestContextMiddleware
from services.kernel.problems import Problem, install_problem_handlers
from services.kernel.rate_limit import RateLimiter

ReadinessDetails = Callable[[], dict[str, Any]]


def public() -> None:
    """Marks a route as open to anonymous callers (probes and metrics only)."""


public.allowed_roles = "public"  # type: ignore[attr-defined]


def create_service_app(
    *,
    title: str,
    description: str,
    auth: AuthSettings,
    metrics: Metrics,
    engine: Engine,
    readiness: ReadinessDetails | None = None,
    max_body_bytes: int = 256 * 1024,
    cors_origins: Sequence[str] = (),
    lifespan: Any = None,
) -> FastAPI:
    """A FastAPI app with the cross-cutting behaviour every service shares."""
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.token_verifier = TokenVerifier(auth)
    app.state.rate_limiter = RateLimiter(auth.rate_limit_per_second, auth.rate_limit_burst)
    app.state.metrics = metrics
    install_problem_handlers(app)
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
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], dependencies=[Depends(public)])
    async def readyz() -> dict[str, Any]:
        """Readiness: the database answers (and, for consumers, the feed lag)."""

        def probe() -> dict[str, Any]:
            with reading(engine) as conn:
                conn.execute(text("SELECT 1"))
            return {"database": "ok", **(readiness() if readiness else {})}

        try:
            details = await run_in_threadpool(probe)
        except Exception as exc:
            raise Problem(503, "Not Ready", f"{type(exc).__name__}") from exc
        return {"status": "ready", **details}

    @app.get("/metrics", tags=["operations"], dependencies=[Depends(public)])
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics."""
        body, content_type = request.app.state.metrics.render()
        return Response(body, media_type=content_type)

    return app
