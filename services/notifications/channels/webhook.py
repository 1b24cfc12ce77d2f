"""Signed webhooks: the feed event, POSTed as JSON, signed with the subscription's secret.

Headers: the Standard Webhooks trio `webhook-id` (the delivery key, the same
on every retry), `webhook-timestamp` and `webhook-signature` (see
`services.notifications.signing`), plus `X-Delivery-Key` and `X-Event-Type`.
Receivers verify with a stock Standard Webhooks library (README, Notifications).

Every delivery checks its URL again (`DestinationRules`) and connects to the
address that passed; a URL that no longer passes (private addresses switched
off, or its name now resolving inside) is refused for good, not sent.
Redirects are not followed: they would lead past the check.
"""

from __future__ import annotations

import httpx

from services.notifications.channels import (
    Delivery,
    PermanentFailure,
    TransientFailure,
    http_failure,
)
from services.notifications.channels.pinned import PinnedTransport
from services.notifications.destinations import DestinationRefused, DestinationRules, Unresolvable
from services.notifications.signing import signed_headers


class WebhookChannel:
    """POSTs signed JSON to subscribers."""

    name = "webhook"

    def __init__(self, timeout: float = 10.0, rules: DestinationRules | None = None) -> None:
        self.timeout = timeout
        self.rules = rules or DestinationRules()

    def send(self, delivery: Delivery) -> str:
        """Sign and post the body."""
        if not delivery.secret:
            raise PermanentFailure("no-secret", "the subscription has no secret")
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "complaints-notifications/1",
            "X-Delivery-Key": delivery.key,
            "X-Event-Type": delivery.event_type,
            **signed_headers(delivery.secret, delivery.key, body),
        }
        try:
            response = self._post(delivery.address, body, headers)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"receiver unreachable: {type(exc).__name__}") from exc
        if response.is_success:
            return f"HTTP {response.status_code}"
        raise http_failure(response.status_code)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to the address `url` resolves to now, if that address may be reached."""
        try:
            destination = self.rules.check(url)
        except DestinationRefused as exc:
            raise PermanentFailure("destination-refused", str(exc)) from exc
        except Unresolvable as exc:
            raise TransientFailure(str(exc)) from exc
        with httpx.Client(
            transport=PinnedTransport(destination), timeout=self.timeout, follow_redirects=False
        ) as client:
            return client.post(url, content=body, headers=headers)
