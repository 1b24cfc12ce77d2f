"""Token checks: secret rotation and public-key tokens."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from services.kernel.auth import AuthSettings, Role, TokenVerifier, mint_token
from services.kernel.problems import Problem

OLD = "old-secret-0123456789-0123456789-0123456789"
NEW = "new-secret-0123456789-0123456789-0123456789"


def test_a_rotated_secret_accepts_old_and_new_tokens_and_signs_with_the_new() -> None:
    verifier = TokenVerifier(AuthSettings(jwt_secret=SecretStr(f"{NEW},{OLD}")))
    for secret in (NEW, OLD):
        principal = verifier.verify(mint_token(secret, "a-1", [Role.AGENT]))
        assert principal.id == "a-1" and principal.roles == {Role.AGENT}
    retired = TokenVerifier(AuthSettings(jwt_secret=SecretStr(NEW)))
    with pytest.raises(Problem) as refused:
        retired.verify(mint_token(OLD, "a-1", [Role.AGENT]))
    assert refused.value.status == 401


def test_eddsa_tokens_with_a_public_key(tmp_path: object) -> None:
    from pathlib import Path

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = Path(str(tmp_path)) / "jwt.pub"
    path.write_bytes(pem)
    verifier = TokenVerifier(AuthSettings(jwt_public_key_file=str(path)))
    token = jwt.encode(
        {"sub": "r-1", "roles": ["regulator"], "exp": int(time.time()) + 60}, key, "EdDSA"
    )
    assert verifier.verify(token).roles == {Role.REGULATOR}
    forged = jwt.encode(
        {"sub": "r-1", "roles": ["admin"], "exp": int(time.time()) + 60},
        Ed25519PrivateKey.generate(),
        "EdDSA",
    )
    with pytest.raises(Problem):
        verifier.verify(forged)


def test_unknown_roles_are_ignored() -> None:
    verifier = TokenVerifier(AuthSettings(jwt_secret=SecretStr(NEW)))
    principal = verifier.verify(mint_token(NEW, "x", ["agent", "root"]))
    assert principal.roles == {Role.AGENT}


def test_a_public_key_and_a_secret_together_accept_both_kinds(tmp_path: object) -> None:
    from pathlib import Path

    key = Ed25519PrivateKey.generate()
    path = Path(str(tmp_path)) / "jwt.pub"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verifier = TokenVerifier(AuthSettings(jwt_public_key_file=str(path), jwt_secret=SecretStr(NEW)))
    assert verifier.verify(mint_token(NEW, "svc", [Role.SERVICE])).id == "svc"
    eddsa = jwt.encode(
        {"sub": "r", "roles": ["regulator"], "exp": int(time.time()) + 60}, key, "EdDSA"
    )
    assert verifier.verify(eddsa).id == "r"
