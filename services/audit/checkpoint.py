"""Signing the audit ledger's checkpoints in the C2SP formats.

A checkpoint (c2sp.org/tlog-checkpoint) is the note text::

    <origin>
    <tree size in decimal>
    <base64 root hash>

signed as a C2SP signed note (c2sp.org/signed-note) with Ed25519: the text, a
blank line, then one line per signature, ``— <key name> base64(key id || sig)``.
Being the standard format, the checkpoints can be checked by any
transparency-dev / sumdb note tool as well as by the regulator's verifier.

This log names its signing key after its origin, as C2SP recommends, and
``NoteVerifier.verify`` insists on that so a key can never vouch for a
checkpoint of another log. Parsing and verifying live in the regulator's
verifier package (``complaints_verifier.note``), so the service and the
regulators run the same code; they are re-exported here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from complaints_verifier.note import (
    ED25519_TYPE,
    SIGNATURE_PREFIX,
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    b64,
    check_name,
    encode_note,
    key_id,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "NoteVerifier",
    "Signer",
    "load_or_create_signing_key",
    "load_signing_key",
]


class Signer:
    """Signs checkpoints as signed notes with an Ed25519 key named after the log's origin."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        """Sign as ``name``, which must be the origin of the checkpoints to sign."""
        check_name(name)
        self.name = name
        self._private_key = private_key
        public_key = private_key.public_key().public_bytes_raw()
        self.key_id = key_id(name, public_key)
        self._verifier_key = f"{name}+{self.key_id.hex()}+{b64(ED25519_TYPE + public_key)}"

    @property
    def verifier_key(self) -> str:
        """The public verifier key, ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        return self._verifier_key

    def sign_note(self, text: str) -> str:
        """Return ``text`` (newline-terminated note text) signed as a one-signature note."""
        if not text.endswith("\n"):
            raise CheckpointError("note text must end with a newline")
        signature = self._private_key.sign(encode_note(text))
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {b64(self.key_id + signature)}\n"

    def sign(self, checkpoint: Checkpoint) -> str:
        """Return the signed note of ``checkpoint``."""
        if checkpoint.origin != self.name:
            raise CheckpointError(f"key {self.name!r} cannot sign for origin {checkpoint.origin!r}")
        return self.sign_note(checkpoint.body())


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load an unencrypted PEM (PKCS#8) Ed25519 private key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load the key at ``path``, first generating it (mode 0600) if the file is missing."""
    try:
        return load_signing_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # mkstemp creates the file 0600; linking it into place is atomic and fails if
    # another process got there first, so nobody ever reads a half-written key
    # and concurrent starters all end up with the same one.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return load_signing_key(path)
    finally:
        os.unlink(temporary)
    return key
