"""Customer tokens: signed, expiring, and good for one case only (audience `customer`).

The complaints service issues them (in the links of notices, and in exchange
for a one-time code); the portal checks them. They are HS256 JWTs under a
secret of their own, never the staff secret, and carry the audience
`customer`: a staff service refuses them (its verifier names no audience, and
PyJWT then rejects any token that carries one), and the portal refuses staff
tokens (no `customer` audience, another key). Several secrets may be given,
comma-separated: the first signs, all verify, so the secret rotates without
breaking the links already sent.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

AUDIENCE = "customer"
ISSUER = "complaints"


class CustomerTokenRefused(Exception):
    """The token is malformed, forged, expired, or for another case."""


@dataclass(frozen=True)
class CustomerGrant:
    """What a valid customer token allows: acting on one case until `expires_at`."""

    case_number: str
    expires_at: int
    via: str


def split_secrets(raw: str | None) -> list[str]:
    """The secrets of a comma-separated setting, signing one first."""
    return [s.strip() for s in (raw or "").split(",") if s.strip()]


class CustomerTokens:
    """Mints and checks customer tokens with the configured secrets."""

    def __init__(self, secrets: list[str], leeway_seconds: int = 5) -> None:
        self.secrets = secrets
        self.leeway = leeway_seconds

    @property
    def configured(self) -> bool:
        """Whether a secret is set (customer features are off without one)."""
        return bool(self.secrets)

    def mint(self, case_number: str, ttl_seconds: int, via: str) -> tuple[str, int]:
        """A token for `case_number`, valid `ttl_seconds`; returns it and its expiry (epoch s)."""
        if not self.secrets:
            raise CustomerTokenRefused("no customer token secret is configured")
        now = int(time.time())
        expires = now + ttl_seconds
        claims = {
            "sub": f"case:{case_number}",
            "case": case_number,
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "via": via,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.secrets[0], algorithm="HS256"), expires

    def verify(self, token: str, case_number: str) -> CustomerGrant:
        """The grant of a token for `case_number`, or `CustomerTokenRefused`."""
        if not self.secrets:
            raise CustomerTokenRefused("no customer token secret is configured")
        for secret in self.secrets:
            try:
                claims = jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    leeway=self.leeway,
                    options={"require": ["exp", "aud", "iss", "case"]},
                )
            except jwt.InvalidSignatureError:
                continue  # signed with another of the secrets, perhaps
            except jwt.ExpiredSignatureError as exc:
                raise CustomerTokenRefused("the link has expired") from exc
            except jwt.PyJWTError as exc:
                raise CustomerTokenRefused("the token is not valid") from exc
            if claims.get("case") != case_number:
                raise CustomerTokenRefused("the token is for another case")
            return CustomerGrant(case_number, int(claims["exp"]), str(claims.get("via", "")))
        raise CustomerTokenRefused("the token is not valid")
