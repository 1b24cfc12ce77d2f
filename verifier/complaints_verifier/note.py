"""Signed checkpoints of the audit ledger in the C2SP formats: parsing and verifying.

A checkpoint (c2sp.org/tlog-checkpoint) is the note text::

    <origin>
    <tree size in decimal>
    <base64 root hash>

signed as a C2SP signed note (c2sp.org/signed-note) with Ed25519: the text, a
blank line, then one line per signature, ``— <key name> base64(key id || sig)``.
Being the standard format, the checkpoints can be checked by any
transparency-dev / sumdb note tool as well as by this verifier.

The log names its signing key after its origin, as C2SP recommends, and
``NoteVerifier.verify`` insists on that so a key can never vouch for a
checkpoint of another log. The audit service signs with the same formats
(``services.audit.checkpoint.Signer``), built on what this module defines.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\N{EM DASH} "
# signed-note asks verifiers to bound the work per note and to accept at least 16.
_MAX_SIGNATURES = 100
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


class CheckpointError(ValueError):
    """A checkpoint, signed note or verifier key is malformed or not validly signed."""


def b64(data: bytes) -> str:
    """Standard base64, as text."""
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII input
        raise CheckpointError(f"{what} is not valid base64") from exc


def check_name(name: str) -> None:
    """Enforce the signed-note key name rules (no spaces keep signature lines parseable)."""
    if not name or "+" in name or any(char.isspace() for char in name):
        raise CheckpointError(f"invalid key name {name!r}")


def encode_note(text: str) -> bytes:
    """Return note text as the UTF-8 bytes that get signed, enforcing signed-note's charset."""
    if any(char < " " and char != "\n" for char in text):
        raise CheckpointError("note contains a control character")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError("note is not valid UTF-8") from exc


def key_id(name: str, public_key: bytes) -> bytes:
    """The signed-note key id: the first 4 bytes of SHA-256(name, newline, type, key)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


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
        encode_note(self.origin)
        if self.tree_size < 0:
            raise CheckpointError(f"negative tree size {self.tree_size}")
        if len(self.root_hash) != 32:
            raise CheckpointError("root hash must be 32 bytes")

    def body(self) -> str:
        """Return the note text that gets signed."""
        return f"{self.origin}\n{self.tree_size}\n{b64(self.root_hash)}\n"

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
        if b64(root_hash) != root:
            raise CheckpointError("root hash is not canonical base64")
        return cls(origin, int(size), root_hash)


class NoteVerifier:
    """Checks signed notes against one trusted Ed25519 verifier key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        """Trust ``public_key`` under the key name ``name``."""
        check_name(name)
        self.name = name
        self._public_key = public_key
        self.key_id = key_id(name, public_key.public_bytes_raw())

    @classmethod
    def from_key(cls, verifier_key: str) -> NoteVerifier:
        """Parse a ``<name>+<hex key id>+<base64(0x01 || public key)>`` verifier key."""
        # The base64 part may itself contain '+', names never do.
        parts = verifier_key.split("+", 2)
        if len(parts) != 3 or not _KEY_ID_HEX.fullmatch(parts[1]):
            raise CheckpointError("malformed verifier key")
        name, key_id, material = parts
        raw = _b64decode(material, "verifier key")
        if len(raw) != 33 or raw[:1] != ED25519_TYPE:
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
        encode_note(note)
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
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointError("malformed signature line")
            name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            check_name(name)
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
