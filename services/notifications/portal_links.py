"""What a customer's message learns only when it is sent: its link, its code, its result.

None is ever stored here. A link's token is minted by the complaints
service (the one issuer of customer tokens) at send time, so the outbox
holds no credential; a one-time code is fetched the same way, and a code
already used or void makes the message dead rather than sent. The result's
words are staff free text, sealed in the case file and absent from the feed:
a result message reads them from the complaints service at send
time (`GET /v1/complaints/{id}/result`), so they never enter the outbox and
an erased case has none to send.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import quote

import httpx

from services.notifications.channels import PermanentFailure, TransientFailure
from services.notifications.outbox import Message

ACCESS_CODE = "access_code"
RESULT = "result"


class SendTimeContext:
    """Adds `portal_link`, `code` and the result's words to a customer message."""

    def __init__(
        self,
        complaints_url: str,
        token: Callable[[], str],
        portal_url: str | None,
        linked_templates: Collection[str],
        timeout: float = 10.0,
    ) -> None:
        self.complaints_url = complaints_url.rstrip("/")
        self.token = token
        self.portal_url = portal_url.rstrip("/") if portal_url else None
        self.linked = frozenset(linked_templates)
        self.timeout = timeout

    def for_message(self, message: Message) -> dict[str, Any]:
        """The extra template variables of `message` (none for staff and webhooks)."""
        if message.audience != "customer":
            return {}
        if message.template == ACCESS_CODE:
            version = message.template_context.get("code_version")
            return {"code": self._code(message.complaint_id, int(version or 0))}
        extra: dict[str, Any] = {}
        if message.template == RESULT:
            extra.update(self._result(message.complaint_id))
        if self.portal_url and message.template in self.linked:
            extra["portal_link"] = self._link(message.case_number)
        return extra

    def _post_or_get(self, method: str, path: str) -> httpx.Response:
        try:
            return httpx.request(
                method,
                f"{self.complaints_url}/v1/customer-cases/{path}",
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"complaints unreachable: {type(exc).__name__}") from exc

    def _link(self, case_number: str) -> str | None:
        response = self._post_or_get("POST", f"{quote(case_number, safe='')}/link-tokens")
        if response.status_code == 503 and _not_configured(response):
            return None  # no customer tokens in this deployment: the message goes without
        if response.status_code == 404:
            raise PermanentFailure("unknown-complaint", "the complaint does not exist")
        if not response.is_success:
            raise TransientFailure(f"link token refused: HTTP {response.status_code}")
        token = str(response.json()["token"])
        return f"{self.portal_url}/c/{quote(case_number, safe='')}?t={token}"

    def _result(self, complaint_id: str) -> dict[str, Any]:
        try:
            response = httpx.get(
                f"{self.complaints_url}/v1/complaints/{quote(complaint_id, safe='')}/result",
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(
                f"complaints unreachable at {self.complaints_url}: {type(exc).__name__}"
            ) from exc
        if response.status_code == 410:
            raise PermanentFailure("erased", "the customer's data has been erased")
        if response.status_code == 404:
            raise PermanentFailure("no-result", "the complaint has no result to tell")
        if not response.is_success:
            raise TransientFailure(f"result fetch failed: HTTP {response.status_code}")
        result = response.json()
        return {"resolution": result.get("resolution"), "remedy": result.get("remedy")}

    def _code(self, complaint_id: str, version: int) -> str:
        response = self._post_or_get("GET", f"by-id/{complaint_id}/codes/{version}")
        if response.status_code in (404, 410):
            raise PermanentFailure("code-void", "the code was used, expired or locked")
        if not response.is_success:
            raise TransientFailure(f"code fetch failed: HTTP {response.status_code}")
        return str(response.json()["code"])


def _not_configured(response: httpx.Response) -> bool:
    try:
        return bool(response.json().get("title") == "Not configured")
    except ValueError:
        return False
