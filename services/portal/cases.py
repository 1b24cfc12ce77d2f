"""The portal's only way to the case: the complaints service's customer routes, over HTTP.

The portal holds a service token, never a staff token, and calls only
`/v1/customer-cases/...`. Problems the complaints service answers with are
passed on as they are (their bodies name no personal data); an unreachable
service is a 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from services.kernel.auth import AuthSettings, Role, mint_token
from services.kernel.problems import Problem
from services.portal.settings import PortalSettings

log = logging.getLogger("services.portal.cases")


def service_token(settings: PortalSettings, auth: AuthSettings) -> Callable[[], str]:
    """The portal's bearer token for the complaints service."""
    if settings.service_token is not None:
        fixed = settings.service_token.get_secret_value()
        return lambda: fixed
    secrets = auth.secrets()
    if not secrets:
        raise ValueError("No service token: set PORTAL_SERVICE_TOKEN (or AUTH_JWT_SECRET).")
    current: dict[str, Any] = {"token": "", "expires": 0.0}
    guard = threading.Lock()

    def provide() -> str:
        with guard:
            if time.time() >= current["expires"] - 60:
                current["token"] = mint_token(secrets[0], "portal", [Role.SERVICE], 300)
                current["expires"] = time.time() + 300
            return str(current["token"])

    return provide


class CaseDesk:
    """Calls the complaints service on the customer's behalf."""

    def __init__(self, client: httpx.AsyncClient, token: Callable[[], str]) -> None:
        self.client = client
        self.token = token

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        try:
            response = await self.client.request(
                method,
                f"/v1/customer-cases/{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
        except httpx.HTTPError as exc:
            log.warning(
                "complaints unreachable",
                extra={"url": str(self.client.base_url), "error_type": type(exc).__name__},
            )
            raise Problem(503, "Service Unavailable", "Please try again in a moment.") from exc
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        customers_fault = str(doc.get("type", "")).startswith("/problems/code")
        if (
            response.status_code in (401, 403) and not customers_fault
        ) or response.status_code >= 500:
            # The portal's own credentials or the service: never the customer's fault.
            log.warning(
                "complaints refused the portal",
                extra={"url": str(self.client.base_url), "status": response.status_code},
            )
            raise Problem(503, "Service Unavailable", "Please try again in a moment.")
        return response.status_code, doc

    async def _expect(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        status, doc = await self._call(method, path, body)
        if status >= 400:
            extensions = {
                k: v for k, v in doc.items() if k not in ("type", "title", "status", "detail")
            }
            extensions.pop("instance", None)
            raise Problem(
                status,
                str(doc.get("title", "Error")),
                doc.get("detail"),
                type=str(doc.get("type", "about:blank")),
                **extensions,
            )
        result: dict[str, Any] = doc
        return result

    async def view(self, case_number: str) -> dict[str, Any]:
        """The customer's view of the case."""
        return await self._expect("GET", case_number)

    async def confirm(self, case_number: str, satisfaction: int, comment: str | None) -> None:
        """Confirm the result (or answer the survey)."""
        body = {"satisfaction": satisfaction, "comment": comment}
        await self._expect("POST", f"{case_number}/confirm?via=portal", body)

    async def dispute(self, case_number: str, reason: str) -> None:
        """Dispute the result."""
        await self._expect("POST", f"{case_number}/dispute?via=portal", {"reason": reason})

    async def request_code(self, case_number: str, phone: str) -> None:
        """Ask for a one-time code; whatever the outcome, the customer hears the same."""
        await self._call("POST", f"{case_number}/codes", {"phone": phone})

    async def exchange_code(self, case_number: str, code: str) -> dict[str, Any]:
        """A customer token for the code (401 or 429 problems otherwise)."""
        return await self._expect("POST", f"{case_number}/tokens", {"code": code})
