"""Tests of the C2SP signed-note checkpoints."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    Signer,
    load_or_create_signing_key,
    load_signing_key,
)

ORIGIN = "audit.example/ledger"
ROOT_B64 = base64.b64encode(bytes(range(32))).decode()

# The example key and note of golang.org/x/mod/sumdb/note, the reference implementation.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate(), ORIGIN)


@pytest.fixture
def checkpoint() -> Checkpoint:
    return Checkpoint(ORIGIN, 42, hashlib.sha256(b"root").digest())


def test_roundtrip(signer: Signer, checkpoint: Checkpoint) -> None:
    note = signer.sign(checkpoint)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(checkpoint.root_hash).decode()}\n\n")
    signature_line = note.splitlines()[-1]
    assert signature_line.startswith(f"\u2014 {ORIGIN} ")
    blob = base64.b64decode(signature_line.split(" ")[2])
    assert len(blob) == 4 + 64 and blob[:4] == signer.key_id
    assert NoteVerifier.from_key(signer.verifier_key).verify(note) == checkpoint


def test_empty_tree_checkpoint(signer: Signer) -> None:
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert NoteVerifier.from_key(signer.verifier_key).verify(signer.sign(empty)) == empty


def test_key_id_and_verifier_key_known_answer() -> None:
    key = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    signer = Signer(key, "PeterNeumann")
    public = key.public_key().public_bytes_raw()
    assert signer.key_id == hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier_key == GO_VERIFIER_KEY


def test_note_format_matches_the_go_reference() -> None:
    signer = Signer(Ed25519PrivateKey.from_private_bytes(GO_SEED), "PeterNeumann")
    assert signer.sign_note(GO_TEXT) == GO_NOTE
    assert NoteVerifier.from_key(GO_VERIFIER_KEY).open(GO_NOTE) == GO_TEXT


def test_tampered_body_fails(signer: Signer, checkpoint: Checkpoint) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    note = signer.sign(checkpoint)
    for tampered in [
        note.replace("\n42\n", "\n43\n"),
        note.replace(
            base64.b64encode(checkpoint.root_hash).decode(), base64.b64encode(bytes(32)).decode()
        ),
    ]:
        assert tampered != note
        with pytest.raises(CheckpointError, match="invalid signature"):
            verifier.verify(tampered)


def test_tampered_signature_fails(signer: Signer, checkpoint: Checkpoint) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    body, line = signer.sign(checkpoint).rsplit("\n\n", 1)
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 1
    tampered = f"{body}\n\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(CheckpointError, match="invalid signature"):
        verifier.verify(tampered)


def test_origin_is_bound_to_the_key(signer: Signer, checkpoint: Checkpoint) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    note = signer.sign(checkpoint)
    with pytest.raises(CheckpointError):
        verifier.verify(note.replace(ORIGIN + "\n", "other.example/ledger\n", 1))
    # A validly signed note whose body names another log is still refused.
    foreign = Checkpoint("other.example/ledger", 42, checkpoint.root_hash)
    with pytest.raises(CheckpointError, match="origin"):
        verifier.verify(signer.sign_note(foreign.body()))
    with pytest.raises(CheckpointError, match="origin"):
        signer.sign(foreign)


def test_other_keys_are_not_trusted(signer: Signer, checkpoint: Checkpoint) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    impostor = Signer(Ed25519PrivateKey.generate(), ORIGIN)
    forged = impostor.sign(checkpoint)
    with pytest.raises(CheckpointError, match="not signed by"):
        verifier.verify(forged)
    # Claiming the trusted key id does not help: the signature itself fails.
    body, line = forged.rsplit("\n\n", 1)
    prefix, encoded = line.rsplit(" ", 1)
    blob = signer.key_id + base64.b64decode(encoded)[4:]
    with pytest.raises(CheckpointError, match="invalid signature"):
        verifier.verify(f"{body}\n\n{prefix} {base64.b64encode(blob).decode()}\n")


def test_unknown_signatures_are_ignored(signer: Signer, checkpoint: Checkpoint) -> None:
    cosigned = (
        signer.sign(checkpoint)
        + Signer(Ed25519PrivateKey.generate(), "witness.example")
        .sign_note(checkpoint.body())
        .split("\n\n")[1]
    )
    assert cosigned.count("\u2014") == 2
    assert NoteVerifier.from_key(signer.verifier_key).verify(cosigned) == checkpoint


UNKNOWN_SIGNATURE = "\u2014 witness.example AAAAAAAA\n"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: "",
        lambda note: note.replace("\n\n", "\n"),
        lambda note: note[:-1],
        lambda note: note + "\u2014 witness.example AAAA\n",
        lambda note: note + "- witness.example AAAAAAAA\n",
        lambda note: note + "\u2014 witness.example !!!!!!!!\n",
        lambda note: note + "\u2014  AAAAAAAA\n",
        lambda note: note + "\u2014 witness+example AAAAAAAA\n",
        lambda note: note + "\u2014 witness.example\n",
        lambda note: note + UNKNOWN_SIGNATURE * 100,
        lambda note: note.replace("\n42\n", "\n42\r\n"),
        lambda note: note.replace("\n\n", "\n\n\n"),
    ],
)
def test_malformed_notes_are_rejected(
    signer: Signer, checkpoint: Checkpoint, tamper: Callable[[str], str]
) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    note = signer.sign(checkpoint)
    # Unknown signatures alone are fine, so each failure below is the tampering's.
    assert verifier.verify(note + UNKNOWN_SIGNATURE * 99) == checkpoint
    with pytest.raises(CheckpointError):
        verifier.verify(tamper(note))


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n42\n{ROOT_B64}\nextension line\n",
        f"{ORIGIN}\n042\n{ROOT_B64}\n",
        f"{ORIGIN}\n\n42\n{ROOT_B64}\n",
    ],
)
def test_validly_signed_malformed_bodies_are_rejected(signer: Signer, body: str) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint|tree size"):
        NoteVerifier.from_key(signer.verifier_key).verify(signer.sign_note(body))


@pytest.mark.parametrize(
    "body",
    [
        "",
        "origin\n42\n",
        "origin\n42\n{root}",
        "origin\n42\n{root}\nextension\n",
        "\n42\n{root}\n",
        "origin\n042\n{root}\n",
        "origin\n+42\n{root}\n",
        "origin\n-1\n{root}\n",
        "origin\n 42\n{root}\n",
        "origin\n4_2\n{root}\n",
        "origin\n42\n{short}\n",
        "origin\n42\n{unpadded}\n",
        "origin\n42\n{root}x\n",
        "origin\n42\n{non_canonical}\n",
    ],
)
def test_parse_rejects_malformed_bodies(body: str) -> None:
    root = ROOT_B64
    # Same 32 bytes, but with non-zero padding bits in the last character.
    non_canonical = root[:-2] + chr(ord(root[-2]) + 1) + "="
    assert base64.b64decode(non_canonical) == base64.b64decode(root)
    text = body.format(
        root=root, short=root[:-4], unpadded=root.rstrip("="), non_canonical=non_canonical
    )
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)


def test_control_characters_are_refused() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key, ORIGIN)
    text = f"{ORIGIN}\n42\n{ROOT_B64}\t\n"
    with pytest.raises(CheckpointError, match="control"):
        signer.sign_note(text)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN + "\t", 42, bytes(32))
    # Even when validly signed, signed-note forbids control characters.
    blob = signer.key_id + key.sign(text.encode())
    note = f"{text}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(CheckpointError, match="control"):
        NoteVerifier.from_key(signer.verifier_key).verify(note)


def test_parse_accepts_what_body_writes(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    assert Checkpoint.parse(checkpoint.body()).body() == checkpoint.body()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+Alpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(key: str) -> None:
    with pytest.raises(CheckpointError):
        NoteVerifier.from_key(key)


def test_load_or_create_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit" / "ledger.pem"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert list(path.parent.iterdir()) == [path]
    again = load_or_create_signing_key(path)
    assert again.private_bytes_raw() == key.private_bytes_raw()
    assert load_signing_key(path).private_bytes_raw() == key.private_bytes_raw()


def test_load_signing_key_refuses_missing_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_signing_key(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(ValueError):
        load_signing_key(garbage)
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_signing_key(ec_key)
