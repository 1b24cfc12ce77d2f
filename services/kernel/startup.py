"""Settings are checked before a service starts: one line per mistake, exit status 2.

A service started with a missing secret, a bad database URL or a taken port
says so in one line naming the variable (or option) and what is wrong,
instead of a traceback from deep inside, or of starting "ready" and refusing
every request. Every problem found is reported at once, so one run tells
the operator everything to fix.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.kernel.auth import AuthSettings

S = TypeVar("S", bound=BaseSettings)
EXIT_BAD_SETTINGS = 2
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_BYTES = 32


@dataclass(frozen=True)
class SettingProblem:
    """One mistake in the configuration: which variable, and what is wrong with it."""

    variable: str
    message: str

    def line(self) -> str:
        """The one line printed for it."""
        return f"{self.variable}: {self.message}"


def variable_of(settings: type[BaseSettings], field: str) -> str:
    """The environment variable of a settings field, e.g. COMPLAINTS_DATABASE_URL."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


class Startup:
    """Collects the problems of a service's settings; `finish` exits when there are any."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.problems: list[SettingProblem] = []

    def load(self, settings: type[S]) -> S | None:
        """Read `settings` from the environment; None (and problems noted) if it is invalid."""
        try:
            return settings()
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error.get("loc", ())) or "?"
                # Never the value: it may be a secret.
                self.problems.append(
                    SettingProblem(variable_of(settings, field), str(error.get("msg", "invalid")))
                )
            return None

    def extend(self, problems: Iterable[SettingProblem]) -> None:
        """Note more problems."""
        self.problems.extend(problems)

    def finish(self) -> None:
        """Exit with status 2 and one line per problem, if there are any."""
        if self.problems:
            refuse(self.service, self.problems)


def checked_settings(
    service: str,
    settings_type: type[S],
    problems: Callable[[S, AuthSettings], Iterable[SettingProblem]],
) -> tuple[S, AuthSettings]:
    """A service's settings and the token settings, or exit 2 naming every mistake.

    What each service's `__main__` does before serving: read both from the
    environment, run the service's own checks on them, refuse on any problem.
    """
    startup = Startup(service)
    settings = startup.load(settings_type)
    auth = startup.load(AuthSettings)
    if settings is not None and auth is not None:
        startup.extend(problems(settings, auth))
    startup.finish()
    assert settings is not None and auth is not None
    return settings, auth


def refuse(service: str, problems: Iterable[SettingProblem]) -> NoReturn:
    """Print one line per problem to stderr and exit with status 2 (no traceback)."""
    for problem in problems:
        print(f"{service}: {problem.line()}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_BAD_SETTINGS)


def database_problems(variable: str, url: str) -> list[SettingProblem]:
    """A database URL must parse, name SQLite or PostgreSQL, and (SQLite) an existing folder."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [
            SettingProblem(
                variable,
                "not a database URL; write sqlite:///path/to/file.db or "
                "postgresql://user:password@host:5432/database",
            )
        ]
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return [SettingProblem(variable, "an SQLite URL must name a file")]
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            return [
                SettingProblem(
                    variable,
                    f"the folder {folder.absolute()} does not exist; create it or use another path",
                )
            ]
        return []
    if backend in ("postgresql", "postgres"):
        if not parsed.host and not parsed.query.get("host"):
            return [SettingProblem(variable, "a PostgreSQL URL must name a host")]
        return []
    return [
        SettingProblem(
            variable, f"the backend {backend!r} is not supported; use sqlite or postgresql"
        )
    ]


def token_key_problems(auth: AuthSettings, *, required: bool = True) -> list[SettingProblem]:
    """Staff tokens need a key, and every HS256 secret must be strong enough."""
    problems: list[SettingProblem] = []
    secrets = auth.secrets()
    if required and not secrets and not auth.jwt_public_key_file:
        problems.append(
            SettingProblem(
                "AUTH_JWT_SECRET",
                "not set (nor AUTH_JWT_PUBLIC_KEY_FILE): every request would be refused; "
                f"give a random secret of at least {MIN_HS256_BYTES} bytes",
            )
        )
    for number, secret in enumerate(secrets, start=1):
        size = len(secret.encode())
        if size < MIN_HS256_BYTES:
            which = "the secret" if len(secrets) == 1 else f"secret {number}"
            problems.append(
                SettingProblem(
                    "AUTH_JWT_SECRET",
                    f"{which} is {size} bytes; HS256 needs at least {MIN_HS256_BYTES} "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)",
                )
            )
    if auth.jwt_public_key_file and not Path(auth.jwt_public_key_file).is_file():
        problems.append(
            SettingProblem("AUTH_JWT_PUBLIC_KEY_FILE", f"no such file: {auth.jwt_public_key_file}")
        )
    return problems


def port_problems(host: str, port: int) -> list[SettingProblem]:
    """The address must be free to listen on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = f"{host}:{port} is already in use (another service or an earlier run?)"
        elif exc.errno == errno.EACCES:
            why = f"{host}:{port} needs privileges to listen on; pick a port above 1023"
        else:
            why = f"cannot listen on {host}:{port} ({exc.strerror})"
        return [SettingProblem("--port", why)]
    return []


def http_url_problems(variable: str, url: str) -> list[SettingProblem]:
    """A peer's base URL must be http(s) with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            SettingProblem(variable, "not an http(s) URL with a host, e.g. http://127.0.0.1:8000")
        ]
    return []


def feed_token_problems(variable: str, auth: AuthSettings) -> list[SettingProblem]:
    """A feed consumer needs a token: given in `variable`, or minted from AUTH_JWT_SECRET."""
    if not os.environ.get(variable, "").strip() and not auth.secrets():
        return [
            SettingProblem(
                variable, "not set, and no AUTH_JWT_SECRET to mint one: the feed cannot be read"
            )
        ]
    return []


def service_problems(
    settings_type: type[BaseSettings], settings: Any, auth: AuthSettings
) -> list[SettingProblem]:
    """What every feed-consuming service checks: database, staff tokens, feed URL and token."""
    problems = database_problems(
        variable_of(settings_type, "database_url"), str(settings.database_url)
    )
    problems += token_key_problems(auth)
    problems += http_url_problems(variable_of(settings_type, "feed_url"), str(settings.feed_url))
    problems += feed_token_problems(variable_of(settings_type, "feed_token"), auth)
    return problems
