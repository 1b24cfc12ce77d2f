"""Masked forms of addresses: what the outbox keeps to show where a message went."""

from __future__ import annotations

from urllib.parse import urlsplit

from services.kernel.masking import mask_email, mask_phone


def mask_address(channel: str, address: str | None) -> str | None:
    """An e-mail as `a***@example.com`, a phone as `138****5678`, a URL as its origin."""
    if not address:
        return None
    if channel == "email":
        return mask_email(address)
    if channel == "sms":
        return mask_phone(address)
    if channel == "webhook":
        # Scheme, host and port only: never a path, a query or credentials.
        url = urlsplit(address)
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.hostname}{port}"
    return address
