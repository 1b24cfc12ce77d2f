"""Masked forms of personal data (S-11): what anyone without a need sees.

Shared by every service, so that a phone number looks the same masked in a
response, the feed, the audit ledger and a notification record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.kernel.phones import InvalidPhoneNumber, national_digits

ERASED = "[erased]"


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of the national number: `138****5678`.

    The number is normalised first, so `+8613912345678`, `8613912345678` and
    `139 1234 5678` all mask as `139****5678`: never the country code's digits.
    """
    try:
        digits = national_digits(phone)
    except InvalidPhoneNumber:
        digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(email: str) -> str:
    """Keep the first letter of the local part and the domain: `z***@example.com`."""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """Keep the first character: `张*`, `J***`."""
    name = name.strip()
    if not name:
        return ""
    stars = 1 if _is_cjk(name[0]) else 3
    return name[0] + "*" * stars


def mask_account(account: str) -> str:
    """Keep the last four characters."""
    return "*" * max(len(account) - 4, 0) + account[-4:] if len(account) > 4 else "****"


def mask_customer(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The customer record with every personal field masked."""
    masked = dict(customer)
    for field, mask in (
        ("name", mask_name),
        ("phone", mask_phone),
        ("email", mask_email),
        ("account", mask_account),
    ):
        value = customer.get(field)
        if isinstance(value, str) and value and value != ERASED:
            masked[field] = mask(value)
    return masked


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"
