"""Blind-index tokens: a keyed, one-way stand-in for a customer's phone, e-mail or account.

The contact is sealed per complaint, so it cannot be searched. What can be
searched is a token: HMAC-SHA256 under an index key of its own (never the
master key), over the normalised value and its kind. The same customer gives
the same token on every complaint; the token reveals nothing without the key,
and the key lives only in the environment, never in the database. Because
phone numbers are few enough to try them all, the key is what protects them:
it is as secret as the master key.

Keys form a ring with versions (`"2:<key>,1:<key>"`): the first computes new
tokens, every one is tried when searching, so a rotation never hides a
customer while tokens are being re-computed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.kernel.phones import InvalidPhoneNumber, normalise_phone

KINDS = ("phone", "email", "account")


class IndexKeyError(ValueError):
    """The index key ring is malformed."""


def new_index_key() -> str:
    """A fresh index key: 32 random bytes, urlsafe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def normalised_term(kind: str, value: Any) -> str | None:
    """The canonical form of one identifier, or None when there is nothing to index.

    Phones become E.164 (`+8613912345678`, whichever way they were written);
    e-mail addresses are trimmed and lower-cased; accounts are trimmed and
    upper-cased (operators print them either way).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if kind == "phone":
        try:
            return normalise_phone(text)
        except InvalidPhoneNumber:
            digits = "".join(ch for ch in text if ch.isdigit())
            return digits or None
    if kind == "email":
        return text.lower()
    if kind == "account":
        return text.upper()
    raise ValueError(f"Unknown identifier kind {kind!r}.")


def terms_of(contact: Mapping[str, Any]) -> dict[str, str]:
    """Every indexable identifier of a clear contact, normalised."""
    terms = {}
    for kind in KINDS:
        term = normalised_term(kind, contact.get(kind))
        if term is not None:
            terms[kind] = term
    return terms


@dataclass(frozen=True)
class IndexKeyRing:
    """Index keys by version; the first is current."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, text: str) -> IndexKeyRing:
        """Read `"2:<base64 key>,1:<base64 key>"` (current first)."""
        keys: list[tuple[str, bytes]] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            version, sep, encoded = item.partition(":")
            version = version.strip()
            if not sep or not version or not version.isalnum() or len(version) > 20:
                raise IndexKeyError("Each index key is written 'VERSION:KEY', e.g. '1:<base64>'.")
            try:
                key = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                raise IndexKeyError(f"Index key version {version}: not base64.") from None
            if len(key) < 32:
                raise IndexKeyError(f"Index key version {version}: needs at least 32 bytes.")
            if any(v == version for v, _ in keys):
                raise IndexKeyError(f"Index key version {version} is given twice.")
            keys.append((version, key))
        if not keys:
            raise IndexKeyError("No index key given.")
        return cls(tuple(keys))

    @property
    def current(self) -> str:
        """The version new tokens are computed with."""
        return self.keys[0][0]

    @property
    def versions(self) -> list[str]:
        """Every version in the ring, current first."""
        return [v for v, _ in self.keys]

    def shares_a_key_with(self, other_keys: list[str]) -> bool:
        """Whether any index key is also one of `other_keys` (e.g. the master keys)."""
        mine = {key for _, key in self.keys}
        for encoded in other_keys:
            try:
                if base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) in mine:
                    return True
            except (binascii.Error, ValueError):
                continue
        return False

    def token(self, kind: str, term: str, version: str | None = None) -> str:
        """The token of a normalised term under one key version (the current by default)."""
        version = version or self.current
        key = dict(self.keys)[version]
        message = f"{kind}\x1f{term}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def candidates(self, kind: str, term: str) -> list[tuple[str, str]]:
        """`(version, token)` of a term under every key: what a search looks for."""
        return [(version, self.token(kind, term, version)) for version in self.versions]
