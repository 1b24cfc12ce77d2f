"""Bearer-token authentication and role checks shared by every service.

Tokens are JWTs checked with PyJWT. HS256 with a shared secret is the default;
several secrets may be accepted at once so that the secret can be rotated
without downtime (the first one signs, all of them verify). A public key
(RS256 or EdDSA) may be configured instead for deployments where services
must not be able to mint tokens.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kernel.problems import Problem


class Role(StrEnum):
    """The roles a caller may hold."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    REGULATOR = "regulator"
    SERVICE = "service"
    ADMIN = "admin"


class AuthSettings(BaseSettings):
    """Token settings shared by all services (prefix `AUTH_`)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 secret, or several separated by commas (the first signs).",
    )
    jwt_public_key_file: str | None = Field(
        default=None, description="PEM public key for RS256/EdDSA tokens."
    )
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    leeway_seconds: int = 30
    rate_limit_per_second: float = Field(
        default=100.0, description="Sustained requests per second per token (0: no limit)."
    )
    rate_limit_burst: int = Field(default=300, description="Requests a token may burst.")

    def secrets(self) -> list[str]:
        """The accepted HS256 secrets, signing one first."""
        if self.jwt_secret is None:
            return []
        return [s.strip() for s in self.jwt_secret.get_secret_value().split(",") if s.strip()]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: who (`sub`) and with which roles."""

    id: str
    roles: frozenset[Role]
    name: str | None = None

    def has(self, *roles: Role) -> bool:
        """Whether the caller holds any of the given roles."""
        return bool(self.roles.intersection(roles))

    @property
    def role(self) -> Role:
        """The caller's most privileged working role, recorded on events."""
        for role in (Role.SUPERVISOR, Role.AGENT, Role.ADMIN, Role.SERVICE, Role.REGULATOR):
            if role in self.roles:
                return role
        raise Problem(403, "Forbidden", "The token carries no known role.")


# A token signed for another of the configured keys: the next key may fit.
_OTHER_KEY = (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError)


class TokenVerifier:
    """Checks bearer tokens against the configured keys."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._keys: list[tuple[object, list[str]]] = []
        if settings.jwt_public_key_file:
            with open(settings.jwt_public_key_file, "rb") as fh:
                pem = fh.read()
            self._keys.append((pem, ["RS256", "EdDSA", "ES256"]))
        for secret in settings.secrets():
            self._keys.append((secret, ["HS256"]))

    def verify(self, token: str) -> Principal:
        """Decode and check a token, or raise a 401 problem."""
        if not self._keys:
            raise _refused("No token key is configured on this service.")
        for key, algorithms in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,  # type: ignore[arg-type]
                    algorithms=algorithms,
                    audience=self._settings.jwt_audience,
                    issuer=self._settings.jwt_issuer,
                    leeway=self._settings.leeway_seconds,
                    options={"require": ["sub", "exp"]},
                )
            except _OTHER_KEY:
                continue
            except jwt.PyJWTError as exc:
                raise _refused(_why(exc)) from exc
            return _principal(claims)
        raise _refused("The token is not signed by a key this service accepts.")


def _refused(detail: str) -> Problem:
    # RFC 6750 §3: the challenge says the token, not the request, is at fault.
    return Problem(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def _why(exc: jwt.PyJWTError) -> str:
    """A fixed sentence per failure: PyJWT's messages may quote keys or Python objects."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The token has expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The token is not valid yet."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "The token is for another audience."
    if isinstance(exc, jwt.InvalidIssuerError):
        return "The token is from another issuer."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token lacks the '{exc.claim}' claim."
    if isinstance(exc, jwt.DecodeError):
        return "The token is not a well-formed JWT."
    return "The token is invalid."


def _principal(claims: dict[str, object]) -> Principal:
    subject = str(claims["sub"])
    # The subject is recorded on events and in bounded columns: keep it sane.
    if not 0 < len(subject) <= 100 or any(unicodedata.category(ch) == "Cc" for ch in subject):
        raise _refused("The token's 'sub' must be 1-100 characters.")
    raw_roles = claims.get("roles", [])
    if not isinstance(raw_roles, list):
        raise _refused("The token's 'roles' must be a list.")
    roles = frozenset(Role(r) for r in raw_roles if r in Role.__members__.values())
    name = claims.get("name")
    return Principal(id=subject, roles=roles, name=str(name) if name else None)


def mint_token(
    secret: str,
    subject: str,
    roles: Iterable[Role | str],
    ttl_seconds: int = 3600,
    name: str | None = None,
) -> str:
    """Sign an HS256 token: for `make run`, tests, and a service's own feed token."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "roles": [str(r) for r in roles],
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


bearer = HTTPBearer(auto_error=False, description="A JWT with `sub`, `roles` and `exp`.")


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """FastAPI dependency: the caller, or a 401 problem."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "A bearer token is required.")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials)
    request.app.state.rate_limiter.check(credentials.credentials)
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """FastAPI dependency factory: the caller must hold one of `roles`.

    The roles are attached to the dependency so that the route-by-role test can
    read every route's rule from the app itself.
    """

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(*roles):
            raise Problem(
                403,
                "Forbidden",
                f"This action needs one of the roles: {', '.join(sorted(roles))}.",
            )
        return principal

    dependency.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
    return dependency
