"""SMS through an HTTP gateway: one JSON POST per message, with an Idempotency-Key.

Request (documented in the README (Notifications)):

    POST <NOTIFICATIONS_SMS_URL>
    Authorization: Bearer <NOTIFICATIONS_SMS_TOKEN>
    Idempotency-Key: <delivery key>
    {"to": "+8613800138000", "text": "...", "language": "zh-CN", "reference": "<delivery key>"}

Any 2xx is success; 408, 425, 429 and 5xx are retried; other answers are final.
"""

from __future__ import annotations

import httpx

from services.notifications.channels import Delivery, TransientFailure, http_failure


class SmsChannel:
    """Posts text messages to an HTTP SMS gateway."""

    name = "sms"

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    def request_body(self, delivery: Delivery) -> dict[str, str]:
        """The JSON the gateway receives."""
        return {
            "to": delivery.address,
            "text": delivery.body.strip(),
            "language": delivery.language,
            "reference": delivery.key,
        }

    def send(self, delivery: Delivery) -> str:
        """Post the message to the gateway."""
        headers = {"Idempotency-Key": delivery.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.post(
                self.url, json=self.request_body(delivery), headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"SMS gateway unreachable: {type(exc).__name__}") from exc
        if response.is_success:
            return f"HTTP {response.status_code}"
        raise http_failure(response.status_code)
