"""Make an overlay's `secrets/` folder: the files its secretGenerator turns into Secrets.

    .venv/bin/python deploy/kubernetes/new_secrets.py deploy/kubernetes/overlays/production \
        --database-url-base 'postgresql://complaints:PASSWORD@postgres.db.svc:5432'

Writes (mode 0600) `complaints.env`, `notifications.env`, `audit.env`,
`portal.env` and `audit-signing.pem`. Run it again at any time: a value
already there is kept, never replaced, so the master key that encrypts
personal data and the audit signing key that checkpoints are verified with
survive every re-run; only missing values are made. `--database-url-base`
is the PostgreSQL server each service's database (`/complaints`,
`/notifications`, `/audit`) lives on; it replaces the URLs when given.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.complaints.blind_index import new_index_key
from services.kernel.auth import Role, mint_token

PORTAL_TOKEN_DAYS = 365
FILES = {
    "complaints.env": (
        "AUTH_JWT_SECRET",
        "COMPLAINTS_DATABASE_URL",
        "COMPLAINTS_MASTER_KEY",
        "COMPLAINTS_INDEX_KEYS",
        "COMPLAINTS_CUSTOMER_TOKEN_SECRET",
    ),
    "notifications.env": (
        "AUTH_JWT_SECRET",
        "NOTIFICATIONS_DATABASE_URL",
        "NOTIFICATIONS_INBOUND_SMS_SECRET",
    ),
    "audit.env": ("AUTH_JWT_SECRET", "AUDIT_DATABASE_URL"),
    # The portal gets a service token, not the JWT secret: it cannot mint staff tokens.
    "portal.env": ("PORTAL_SERVICE_TOKEN", "PORTAL_CUSTOMER_TOKEN_SECRET"),
}


def read_env(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of an env file (none if it does not exist)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def values(kept: dict[str, str], database_url_base: str | None) -> dict[str, str]:
    """Every value the Secrets need: those kept, and new ones for those missing."""
    made = {
        "AUTH_JWT_SECRET": lambda: secrets.token_urlsafe(48),
        "COMPLAINTS_MASTER_KEY": lambda: Fernet.generate_key().decode(),
        "COMPLAINTS_INDEX_KEYS": lambda: f"1:{new_index_key()}",
        "COMPLAINTS_CUSTOMER_TOKEN_SECRET": lambda: secrets.token_urlsafe(48),
        "NOTIFICATIONS_INBOUND_SMS_SECRET": lambda: secrets.token_urlsafe(32),
    }
    result = dict(kept)
    for key, make in made.items():
        result.setdefault(key, make())
    result["PORTAL_CUSTOMER_TOKEN_SECRET"] = result["COMPLAINTS_CUSTOMER_TOKEN_SECRET"]
    result.setdefault(
        "PORTAL_SERVICE_TOKEN",
        mint_token(
            result["AUTH_JWT_SECRET"],
            "portal",
            [Role.SERVICE],
            ttl_seconds=PORTAL_TOKEN_DAYS * 86400,
        ),
    )
    for service in ("complaints", "notifications", "audit"):
        key = f"{service.upper()}_DATABASE_URL"
        if database_url_base:
            result[key] = f"{database_url_base.rstrip('/')}/{service}"
        elif key not in result:
            raise SystemExit(f"{key} is not set yet: give --database-url-base")
    return result


def main(argv: list[str] | None = None) -> int:
    """Create or complete the overlay's secrets; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlay", type=Path, help="The overlay folder, e.g. overlays/production.")
    parser.add_argument("--database-url-base", help="postgresql://USER:PASSWORD@HOST:PORT")
    args = parser.parse_args(argv)
    folder: Path = args.overlay / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    kept: dict[str, str] = {}
    for name in FILES:
        kept.update(read_env(folder / name))
    everything = values(kept, args.database_url_base)
    for name, keys in FILES.items():
        write_private(folder / name, "".join(f"{key}={everything[key]}\n" for key in keys))
    key_file = folder / "audit-signing.pem"
    if not key_file.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(key_file, pem.decode())
    print(f"secrets in {folder} (keep a copy of audit-signing.pem and the master key)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
