"""Signed checkpoints of the audit ledger in the C2SP formats.

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
checkpoint of another log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

_ED25519_TYPE = b"\x01"
_SIGNATURE_PREFIX = "\N{EM DASH} "
# signed-note asks verifiers to bound the work per note and to accept at least 16.
_MAX_SIGNATURES = 100
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


class CheckpointError(ValueError):
    """A checkpoint, signed note or verifier key is malformed or not validly signed."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII input
        raise CheckpointError(f"{what} is not valid base64") from exc


def _check_name(name: str) -> None:
    """Enforce the signed-note key name rules (no spaces keep signature lines parseable)."""
    if not name or "+" in name or any(char.isspace() for char in name):
        raise CheckpointError(f"invalid key name {name!r}")


def _encode(text: str) -> bytes:
    """Return note text as the UTF-8 bytes that get signed, enforcing signed-note's charset."""
    if any(char < " " and char != "\n" for char in text):
        raise CheckpointError("note contains a control character")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError("note is not valid UTF-8") from exc


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519_TYPE + public_key).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    """The tree head of a log: origin, tree size and RFC 6962 root hash."""

    origin: str
    tree_size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        """Refuse values that would not serialise to a parseable body."""
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("origin must be one non-empty line")
        _encode(self.origin)
        if self.tree_size < 0:
            raise CheckpointError(f"negative tree size {self.tree_size}")
        if len(self.root_hash) != 32:
            raise CheckpointError("root hash must be 32 bytes")

    def body(self) -> str:
        """Return the note text that gets signed."""
        return f"{self.origin}\n{self.tree_size}\n{_b64(self.root_hash)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body; ``parse(text).body() == text`` holds for accepted input.

        Extension lines are rejected rather than dropped: this log never writes
        them, and ignoring signed content would make the result lie about the body.
        """
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise CheckpointError("checkpoint body must be exactly three lines")
        origin, size, root = lines[:3]
        if not _TREE_SIZE.fullmatch(size):
            raise CheckpointError(f"invalid tree size {size!r}")
        root_hash = _b64decode(root, "root hash")
        if _b64(root_hash) != root:
            raise CheckpointError("root hash is not canonical base64")
        return cls(origin, int(size), root_hash)


class Signer:
    """Signs checkpoints as signed notes with an Ed25519 key named after the log's origin."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        """Sign as ``name``, which must be the origin of the checkpoints to sign."""
        _check_name(name)
        self.name = name
        self._private_key = private_key
        public_key = private_key.public_key().public_bytes_raw()
        self.key_id = _key_id(name, public_key)
        self._verifier_key = f"{name}+{self.key_id.hex()}+{_b64(_ED25519_TYPE + public_key)}"

    @property
    def verifier_key(self) -> str:
        """The public verifier key, ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        return self._verifier_key

    def sign_note(self, text: str) -> str:
        """Return ``text`` (newline-terminated note text) signed as a one-signature note."""
        if not text.endswith("\n"):
            raise CheckpointError("note text must end with a newline")
        signature = self._private_key.sign(_encode(text))
        return f"{text}\n{_SIGNATURE_PREFIX}{self.name} {_b64(self.key_id + signature)}\n"

    def sign(self, checkpoint: Checkpoint) -> str:
        """Return the signed note of ``checkpoint``."""
        if checkpoint.origin != self.name:
            raise CheckpointError(f"key {self.name!r} cannot sign for origin {checkpoint.origin!r}")
        return self.sign_note(checkpoint.body())


class NoteVerifier:
    """Checks signed notes against one trusted Ed25519 verifier key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        """Trust ``public_key`` under the key name ``name``."""
        _check_name(name)
        self.name = name
        self._public_key = public_key
        self.key_id = _key_id(name, public_key.public_bytes_raw())

    @classmethod
    def from_key(cls, verifier_key: str) -> NoteVerifier:
        """Parse a ``<name>+<hex key id>+<base64(0x01 || public key)>`` verifier key."""
        # The base64 part may itself contain '+', names never do.
        parts = verifier_key.split("+", 2)
        if len(parts) != 3 or not _KEY_ID_HEX.fullmatch(parts[1]):
            raise CheckpointError("malformed verifier key")
        name, key_id, material = parts
        raw = _b64decode(material, "verifier key")
        if len(raw) != 33 or raw[:1] != _ED25519_TYPE:
            raise CheckpointError("verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != key_id:
            raise CheckpointError("verifier key id does not match its name and key")
        return verifier

    def open(self, note: str) -> str:
        """Return the text of ``note`` once its signature by this key is verified.

        Signatures by other keys are ignored, as signed-note requires; a bad
        signature by this key, or none at all, raises ``CheckpointError``.
        """
        _encode(note)
        split = note.rfind("\n\n")
        if split < 0:
            raise CheckpointError("note has no signature block")
        text, block = note[: split + 1], note[split + 2 :]
        if not block.endswith("\n"):
            raise CheckpointError("signature block must end with a newline")
        lines = block[:-1].split("\n")
        if len(lines) > _MAX_SIGNATURES:
            raise CheckpointError("too many signatures")
        verified = False
        for line in lines:
            if not line.startswith(_SIGNATURE_PREFIX):
                raise CheckpointError("malformed signature line")
            name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
            _check_name(name)
            blob = _b64decode(encoded, "signature")
            if len(blob) < 5:
                raise CheckpointError("signature too short")
            # Only the (name, key id) pair identifies a key; a match on one alone is a stranger.
            if name != self.name or blob[:4] != self.key_id:
                continue
            try:
                self._public_key.verify(blob[4:], text.encode("utf-8"))
            except InvalidSignature:
                raise CheckpointError(f"invalid signature by {self.name}") from None
            verified = True
        if not verified:
            raise CheckpointError(f"note is not signed by {self.name}")
        return text

    def verify(self, note: str) -> Checkpoint:
        """Return the checkpoint in ``note`` once signature and origin are verified."""
        checkpoint = Checkpoint.parse(self.open(note))
        if checkpoint.origin != self.name:
            raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {self.name!r}")
        return checkpoint


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
