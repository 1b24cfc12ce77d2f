"""Phone numbers in one canonical form (E.164) before they are masked or compared.

A customer's number arrives as `+8613912345678`, `8613912345678`,
`139 1234 5678` or `139-1234-5678`; all four are one number. Parsing is left
to `phonenumbers` (Google's libphonenumber metadata), which knows each
country's trunk prefixes and lengths. A number written without `+` is read in
the default region (`CN` unless a service configures another at start-up);
one that already begins with that region's country code (`86…`) is taken as
international, because a Chinese national number never starts with `86`.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "CN"
_region = DEFAULT_REGION


class InvalidPhoneNumber(ValueError):
    """The text cannot be read as a phone number."""


def set_default_region(region: str) -> None:
    """Read numbers without a `+` in this region from now on (ISO 3166 code, e.g. `CN`)."""
    global _region
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"Unknown phone region {region!r}.")
    _region = code


def default_region() -> str:
    """The region numbers without a `+` are read in."""
    return _region


def parse_phone(raw: str, region: str | None = None) -> phonenumbers.PhoneNumber:
    """The number `raw` stands for, read in `region` (default: the configured one)."""
    region = (region or _region).upper()
    text = raw.strip()
    if not text.startswith("+"):
        # `8613912345678`: the country code without its `+`. Read as international
        # only when the national reading is not a valid number and this one is.
        digits = "".join(ch for ch in text if ch.isdigit())
        country = str(phonenumbers.country_code_for_region(region))
        if digits.startswith(country) and not _valid(text, region) and _valid(f"+{digits}", None):
            return phonenumbers.parse(f"+{digits}", None)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"Not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber("Not a possible phone number.")
    return number


def normalise_phone(raw: str, region: str | None = None) -> str:
    """The number in E.164 (`+8613912345678`); raises `InvalidPhoneNumber`."""
    return phonenumbers.format_number(parse_phone(raw, region), phonenumbers.PhoneNumberFormat.E164)


def national_digits(raw: str, region: str | None = None) -> str:
    """The national significant number (`13912345678`), without country code or trunk 0."""
    return phonenumbers.national_significant_number(parse_phone(raw, region))


def _valid(text: str, region: str | None) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, region))
    except phonenumbers.NumberParseException:
        return False
