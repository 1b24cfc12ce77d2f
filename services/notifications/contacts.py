"""The customer's contact details, read from the complaints service at send time.

The feed carries masked contacts only; this service never stores a clear
address. Each read names its purpose and is recorded in the case file by the
complaints service (S-11). An erased complaint answers 410: such a message
can never be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.notifications.channels import PermanentFailure, TransientFailure


@dataclass(frozen=True)
class Contact:
    """How to reach a customer, held in memory for one delivery only."""

    phone: str | None
    email: str | None

    def address(self, channel: str) -> str | None:
        """The address for `channel`."""
        return {"sms": self.phone, "email": self.email}.get(channel)


class ContactSource(Protocol):
    """Anything that can tell a customer's contact for one complaint."""

    def read(self, complaint_id: str, purpose: str) -> Contact:
        """The contact, or a `PermanentFailure` / `TransientFailure`."""
        ...


class ContactReader:
    """Reads contacts with the service's own token."""

    def __init__(self, base_url: str, token: Callable[[], str], timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def read(self, complaint_id: str, purpose: str) -> Contact:
        """The customer's contact for one complaint, for a stated purpose."""
        url = f"{self.base_url}/v1/complaints/{complaint_id}/contact"
        try:
            response = httpx.get(
                url,
                params={"purpose": purpose},
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(
                f"complaints unreachable at {self.base_url}: {type(exc).__name__}"
            ) from exc
        if response.status_code == 410:
            raise PermanentFailure("erased", "the customer's data has been erased")
        if response.status_code == 404:
            raise PermanentFailure("unknown-complaint", "the complaint does not exist")
        if response.status_code in (401, 403) or response.status_code >= 500:
            # A token or server problem is the operator's to fix, not the message's fault.
            raise TransientFailure(f"contact read failed: HTTP {response.status_code}")
        if not response.is_success:
            raise PermanentFailure("contact-refused", f"HTTP {response.status_code}")
        customer = response.json().get("customer") or {}
        return Contact(phone=customer.get("phone"), email=customer.get("email"))
