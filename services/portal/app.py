"""Assembles the customer portal: pages, the customer JSON API, static assets, limits.

The portal takes no staff token (its verifier has no key), holds a service
token for the complaints service only, and serves every asset itself under
a strict Content-Security-Policy: no script, style or font from elsewhere.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kernel.auth import AuthSettings
from services.kernel.customer_tokens import CustomerTokens
from services.kernel.observability import Metrics
from services.kernel.phones import set_default_region
from services.kernel.rate_limit import RateLimiter
from services.kernel.webapp import create_service_app
from services.portal import api, pages
from services.portal.cases import CaseDesk, service_token
from services.portal.settings import PortalSettings

STATIC = Path(__file__).resolve().parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DESCRIPTION = """The customer's own channel: look up a case, confirm or dispute its result.

Case routes take `Authorization: Bearer <customer token>` (from the link in a
notice, or from a one-time code). No staff token is accepted here."""


class ContentSecurityPolicy:
    """Adds the portal's Content-Security-Policy to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            headers = message.get("headers", [])
            # The API docs pages bring their own (looser) policy; keep it.
            if message["type"] == "http.response.start" and not any(
                name.lower() == b"content-security-policy" for name, _ in headers
            ):
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                ]
            await send(message)

        await self.app(scope, receive, with_policy)


def create_app(settings: PortalSettings | None = None, auth: AuthSettings | None = None) -> FastAPI:
    """Build the portal; `auth` only serves to mint its service token on local runs."""
    settings = settings or PortalSettings()
    set_default_region(settings.phone_region)
    auth = auth or AuthSettings()
    token = service_token(settings, auth)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.complaints_url.rstrip("/"), timeout=settings.http_timeout_seconds
        ) as client:
            app.state.desk = CaseDesk(client, token)
            yield

    def readiness() -> dict[str, Any]:
        try:
            up = httpx.get(f"{settings.complaints_url.rstrip('/')}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            up = False
        if not up:
            raise RuntimeError("complaints service unreachable")
        return {"complaints": "ok"}

    # No key: any staff (or other) bearer token on a staff-style route would be refused.
    no_staff = AuthSettings(jwt_secret=None, jwt_public_key_file=None, rate_limit_per_second=0)
    app = create_service_app(
        title="Customer portal",
        description=DESCRIPTION,
        auth=no_staff,
        metrics=Metrics("portal"),
        engine=None,
        readiness=readiness,
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
    )
    app.add_middleware(ContentSecurityPolicy)
    app.state.settings = settings
    app.state.zone = ZoneInfo(settings.timezone)
    app.state.customer_tokens = CustomerTokens(settings.customer_token_secrets())
    app.state.client_limiter = RateLimiter(
        settings.rate_limit_per_second, settings.rate_limit_burst
    )
    app.state.token_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.state.phone_limiter = RateLimiter(
        settings.code_requests_per_phone / settings.code_request_window_seconds,
        settings.code_requests_per_phone,
    )
    # Phone numbers are only ever held as keyed digests, and the key dies with the process.
    app.state.phone_key = secrets.token_bytes(32)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
