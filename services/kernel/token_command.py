"""`complaints-token SUBJECT ROLE…`: mint a bearer token for anyone, from the configured secret.

For local runs and operators: e.g. a token for `agent-2`, to whom a case was
transferred. The secret is `AUTH_JWT_SECRET` (its first, signing, secret),
or the file `make run` keeps it in (`var/jwt-secret`). The token is printed
alone on stdout, so `TOKEN=$(complaints-token agent-2 agent)` works.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from services.kernel.auth import Role, mint_token
from services.kernel.customer_tokens import split_secrets

LOCAL_SECRET = Path("var/jwt-secret")


def _secret(secret_file: Path | None) -> str | None:
    configured = split_secrets(os.environ.get("AUTH_JWT_SECRET", ""))
    if configured and secret_file is None:
        return configured[0]
    path = secret_file or LOCAL_SECRET
    if path.is_file():
        found = split_secrets(path.read_text())
        return found[0] if found else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Print a token; exit 2 (one line) when no secret is configured or a role is unknown."""
    parser = argparse.ArgumentParser(
        prog="complaints-token",
        description="Mint an HS256 bearer token from AUTH_JWT_SECRET (or var/jwt-secret).",
    )
    parser.add_argument("subject", help="the token's `sub`, e.g. agent-2")
    parser.add_argument(
        "roles", nargs="+", metavar="ROLE", help=f"one or more of: {', '.join(Role)}"
    )
    parser.add_argument("--name", help="a display name (the `name` claim)")
    parser.add_argument(
        "--ttl", type=int, default=12 * 3600, help="seconds until it expires (default 12 h)"
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        help=f"read the secret from this file instead of AUTH_JWT_SECRET (default {LOCAL_SECRET})",
    )
    args = parser.parse_args(argv)
    unknown = [r for r in args.roles if r not in Role.__members__.values()]
    if unknown:
        parser.exit(2, f"complaints-token: unknown role {unknown[0]!r}; use {', '.join(Role)}\n")
    if not 0 < len(args.subject) <= 100:
        parser.exit(2, "complaints-token: the subject must be 1-100 characters\n")
    if args.ttl <= 0:
        parser.exit(2, "complaints-token: --ttl must be positive\n")
    secret = _secret(args.secret_file)
    if secret is None:
        parser.exit(
            2,
            "complaints-token: AUTH_JWT_SECRET: not set, and no secret file "
            f"({args.secret_file or LOCAL_SECRET}); run `make run` once or export it\n",
        )
    print(mint_token(secret, args.subject, args.roles, ttl_seconds=args.ttl, name=args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
