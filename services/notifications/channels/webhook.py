"""Signed webhooks: the feed event, POSTed as JSON, signed with the subscription's secret.

Headers: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
`X-Delivery-Key` (the same on every retry: the receiver's idempotency key)
and `X-Event-Type`. Receivers verify with `services.notifications.signing.verify`
or the snippet in the README (Notifications).
"""

from __future__ import annotations

import httpx

from services.notifications.channels import (
    Delivery,
    PermanentFailure,
    TransientFailure,
    http_failure,
)
from services.notifications.signing import SIGNATURE_HEADER, sign


class WebhookChannel:
    """POSTs signed JSON to subscribers."""

    name = "webhook"

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

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
            SIGNATURE_HEADER: sign(delivery.secret, body),
        }
        try:
            response = httpx.post(
                delivery.address, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"receiver unreachable: {type(exc).__name__}") from exc
        if response.is_success:
            return f"HTTP {response.status_code}"
        raise http_failure(response.status_code)
