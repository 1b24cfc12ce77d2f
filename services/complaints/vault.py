"""Personal data at rest: sealed with a per-complaint data key (S-11).

Each complaint gets its own AES-256-GCM data key. The key is stored wrapped
(Fernet) under the master key from the environment, in the complaints
database, outside the event store. Events carry only sealed personal fields,
so the rest of each event stays readable to the system, and erasing a
complaint is destroying its key: the events stay, their personal fields can
never be opened again (crypto-shredding). Several master keys may be given;
the first wraps, all unwrap, and `rotate()` re-wraps every data key under the
first without touching a single event.

Free text (the customer's words and staff text alike) is sealed as a
`sealed:v2:` value that also carries a public commitment to it: the SHA-256
of a random 32-byte salt followed by the text's UTF-8 bytes. The salt is
sealed with the text, so the commitment can be published (feed, audit
ledger) and later checked against the text by whoever is shown both, yet
after erasure nobody can test a guess against it.

Erasure is final: destroying a key leaves a tombstone (`erased_keys`) in the
same transaction, and no key is ever made again for a tombstoned complaint,
so nothing sealed after an erasure can exist, and a value that no key opens
reads as erased rather than failing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.complaints.domain.errors import PersonalDataErased
from services.kernel.database import Row, is_sqlite, reading, sqlalchemy_url, sqlite_path

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)
# Stores a drafted key with the command's events (values bound by column name).
KEY_INSERT = data_keys.insert()

# One row per erased complaint: its key is gone and may never be made again.
erased_keys = Table(
    "erased_keys",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("erased_at", Float, nullable=False),
)

SEALED_PREFIX = "sealed:v1:"
SEALED_TEXT_PREFIX = "sealed:v2:"
COMMITMENT_SCHEME = "sha256:"
SALT_BYTES = 32
log = logging.getLogger("services.complaints.vault")


class MasterKeyMissing(RuntimeError):
    """No master key is configured: personal data could not be protected."""


def new_master_key() -> str:
    """A fresh master key (urlsafe base64, 32 bytes), for `make run` and key rotation."""
    return Fernet.generate_key().decode()


def is_sealed(value: Any) -> bool:
    """Whether a stored value is a sealed personal field or sealed free text."""
    return isinstance(value, str) and value.startswith((SEALED_PREFIX, SEALED_TEXT_PREFIX))


def commit(salt: bytes, text: str) -> str:
    """The public commitment to `text` under `salt`: `sha256:` and 64 hex digits."""
    return COMMITMENT_SCHEME + hashlib.sha256(salt + text.encode()).hexdigest()


def commitment_of(sealed: Any) -> str | None:
    """The commitment a sealed text carries, readable without any key (None: it has none)."""
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_TEXT_PREFIX):
        return None
    digest = sealed[len(SEALED_TEXT_PREFIX) :].split(":", 1)[0]
    return COMMITMENT_SCHEME + digest


@dataclass(frozen=True)
class OpenedText:
    """A sealed text opened: the text, and the salt that opens its commitment."""

    text: str
    salt: str  # hex
    commitment: str


@dataclass
class KeyDraft:
    """Data keys made during one command, stored only with the command's events.

    A key stored in a transaction of its own outlived a command that crashed
    before its events committed; drafted, it commits with them or not at all.
    """

    keys: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    # Complaints known to be new (being registered): no stored key to look up.
    new: set[str] = field(default_factory=set)

    def rows(self) -> list[Row]:
        """The inserts that store the drafted keys (wrapped)."""
        now = time.time()
        return [
            Row(KEY_INSERT, {"complaint_id": cid, "wrapped_key": wrapped, "created_at": now})
            for cid, (_, wrapped) in self.keys.items()
        ]


class Vault:
    """Seals and opens personal data with per-complaint keys."""

    def __init__(self, engine: Engine, master_keys: list[str], cache_seconds: float = 5.0) -> None:
        if not master_keys:
            raise MasterKeyMissing(
                "Set COMPLAINTS_MASTER_KEY (a Fernet key; `make run` generates one in ./var/)."
            )
        self.engine = engine
        self.master = MultiFernet([Fernet(k.encode()) for k in master_keys])
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()
        self._drafts = threading.local()
        metadata.create_all(engine, checkfirst=True)

    @contextmanager
    def drafting(self) -> Iterator[KeyDraft]:
        """Within this block (on this thread) new data keys are drafted, not stored.

        The caller saves `draft.rows()` with the command's events, then calls
        `kept(draft)`; a draft left unsaved is simply forgotten.
        """
        draft = KeyDraft()
        outer = getattr(self._drafts, "current", None)
        self._drafts.current = draft
        try:
            yield draft
        finally:
            self._drafts.current = outer

    def current_draft(self) -> KeyDraft | None:
        """The draft open on this thread, if any."""
        draft: KeyDraft | None = getattr(self._drafts, "current", None)
        return draft

    def kept(self, draft: KeyDraft) -> None:
        """The draft's keys were committed: cache them like stored ones."""
        now = time.monotonic()
        with self._lock:
            for cid, (key, _) in draft.keys.items():
                self._cache[cid] = (now, key)

    def seal(self, complaint_id: str, value: Any) -> str:
        """Encrypt a JSON value under the complaint's data key (made on first use).

        Refused (`PersonalDataErased`) once the complaint was erased: its key
        is never made again.
        """
        key = self._key(complaint_id, create=True)
        if key is None:
            raise PersonalDataErased(
                "The customer's personal data has been erased: nothing new can be sealed."
            )
        nonce = os.urandom(12)
        plaintext = json.dumps(value, ensure_ascii=False).encode()
        # The complaint id is authenticated data: a sealed value cannot be moved to another case.
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, complaint_id.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + ciphertext).decode()

    def seal_text(self, complaint_id: str, text: str) -> str:
        """Seal free text with a fresh salt; the result carries the text's commitment.

        The commitment is authenticated with the ciphertext, so neither can be
        swapped for another's.
        """
        key = self._key(complaint_id, create=True)
        if key is None:
            raise PersonalDataErased(
                "The customer's personal data has been erased: nothing new can be sealed."
            )
        salt = os.urandom(SALT_BYTES)
        digest = commit(salt, text).removeprefix(COMMITMENT_SCHEME)
        nonce = os.urandom(12)
        plaintext = json.dumps({"text": text, "salt": salt.hex()}, ensure_ascii=False).encode()
        aad = f"{complaint_id}:{digest}".encode()
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad)
        return f"{SEALED_TEXT_PREFIX}{digest}:{base64.b64encode(nonce + ciphertext).decode()}"

    def open_text(self, complaint_id: str, sealed: str) -> OpenedText | None:
        """A sealed text with its salt, or None when erased or sealed without a commitment."""
        if not sealed.startswith(SEALED_TEXT_PREFIX):
            return None
        key = self._key(complaint_id, create=False)
        if key is None:
            return None
        digest, encoded = sealed[len(SEALED_TEXT_PREFIX) :].split(":", 1)
        raw = base64.b64decode(encoded)
        aad = f"{complaint_id}:{digest}".encode()
        try:
            opened = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], aad))
        except InvalidTag:
            log.warning("sealed value opens with no key", extra={"complaint_id": complaint_id})
            return None
        return OpenedText(
            text=str(opened["text"]),
            salt=str(opened["salt"]),
            commitment=COMMITMENT_SCHEME + digest,
        )

    def open(self, complaint_id: str, sealed: str) -> Any | None:
        """The clear value, or None when the complaint's key was destroyed (erased)."""
        if sealed.startswith(SEALED_TEXT_PREFIX):
            text = self.open_text(complaint_id, sealed)
            return None if text is None else text.text
        key = self._key(complaint_id, create=False)
        if key is None:
            return None
        raw = base64.b64decode(sealed[len(SEALED_PREFIX) :])
        try:
            plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], complaint_id.encode())
        except InvalidTag:
            # Sealed under a key since destroyed (a key made again after an erasure,
            # before erasure was final): no key opens it, so it reads as erased.
            log.warning("sealed value opens with no key", extra={"complaint_id": complaint_id})
            return None
        return json.loads(plaintext)

    def open_fields(self, complaint_id: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """A record whose `sealed` entry holds personal fields, opened and merged."""
        opened = dict(record)
        sealed = opened.pop("sealed", None)
        if sealed is None:
            return opened
        clear = self.open(complaint_id, sealed)
        if clear is None:
            return None
        opened.update(clear)
        return opened

    def destroy(self, complaint_id: str) -> None:
        """Destroy the complaint's data key for good: a tombstone forbids a new one."""
        with self.engine.begin() as conn:
            conn.execute(delete(data_keys).where(data_keys.c.complaint_id == complaint_id))
            tombstoned = conn.execute(
                select(erased_keys.c.complaint_id).where(erased_keys.c.complaint_id == complaint_id)
            ).first()
            if tombstoned is None:
                conn.execute(
                    erased_keys.insert().values(complaint_id=complaint_id, erased_at=time.time())
                )
        with self._lock:
            self._cache[complaint_id] = (time.monotonic(), None)
        if is_sqlite(str(self.engine.url)):
            # secure_delete zeroes the freed page; the checkpoint clears the old WAL frames.
            raw = self.engine.raw_connection()
            try:
                # Outside any transaction; best effort while readers hold old frames.
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()

    def rotate(self) -> int:
        """Re-wrap every data key under the first master key; returns how many."""
        count = 0
        with self.engine.begin() as conn:
            rows = conn.execute(select(data_keys.c.complaint_id, data_keys.c.wrapped_key)).all()
            for complaint_id, wrapped in rows:
                conn.execute(
                    data_keys.update()
                    .where(data_keys.c.complaint_id == complaint_id)
                    .values(wrapped_key=self.master.rotate(wrapped))
                )
                count += 1
        return count

    def _drafted(self, draft: KeyDraft, complaint_id: str) -> bytes:
        fresh = AESGCM.generate_key(256)
        draft.keys[complaint_id] = (fresh, self.master.encrypt(fresh))
        return fresh

    def _key(self, complaint_id: str, *, create: bool) -> bytes | None:
        now = time.monotonic()
        drafted: KeyDraft | None = getattr(self._drafts, "current", None)
        if drafted is not None and complaint_id in drafted.keys:
            return drafted.keys[complaint_id][0]
        if drafted is not None and create and complaint_id in drafted.new:
            return self._drafted(drafted, complaint_id)
        with self._lock:
            cached = self._cache.get(complaint_id)
        if cached is not None and now - cached[0] < self.cache_seconds and cached[1] is not None:
            return cached[1]
        with reading(self.engine) as conn:
            wrapped = conn.execute(
                select(data_keys.c.wrapped_key).where(data_keys.c.complaint_id == complaint_id)
            ).scalar_one_or_none()
            # A key that outlived its erasure (made concurrently with it) opens nothing.
            if wrapped is not None or create:
                erased = conn.execute(
                    select(erased_keys.c.complaint_id).where(
                        erased_keys.c.complaint_id == complaint_id
                    )
                ).first()
                if erased is not None:
                    wrapped, create = None, False
        if wrapped is None and create and drafted is not None:
            return self._drafted(drafted, complaint_id)
        if wrapped is None and create:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        data_keys.insert().values(
                            complaint_id=complaint_id,
                            wrapped_key=self.master.encrypt(AESGCM.generate_key(256)),
                            created_at=time.time(),
                        )
                    )
            except IntegrityError:
                pass  # Made meanwhile by another writer: use theirs.
            return self._key(complaint_id, create=False)
        key: bytes | None = None
        if wrapped is not None:
            try:
                key = self.master.decrypt(wrapped)
            except InvalidToken as exc:
                raise MasterKeyMissing("No configured master key opens the data keys.") from exc
        with self._lock:
            self._cache[complaint_id] = (now, key)
        return key


def master_keys_open_stored_keys(database_url: str, master_keys: list[str]) -> bool | None:
    """Whether the keys open a data key already stored (None: none stored, or no database yet).

    Checked at start-up: a master key dropped too early (or mistyped) would
    otherwise show as 500s on every complaint with personal data. Never
    creates a database; an unreachable one is left for the service to report.
    """
    if is_sqlite(database_url):
        if not sqlite_path(database_url).is_file():
            return None
        engine = create_engine(sqlalchemy_url(database_url))
    else:
        engine = create_engine(sqlalchemy_url(database_url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("data_keys"):
                return None
            wrapped = conn.execute(select(data_keys.c.wrapped_key).limit(1)).scalar()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if wrapped is None:
        return None
    try:
        MultiFernet([Fernet(k.encode()) for k in master_keys]).decrypt(wrapped)
    except InvalidToken:
        return False
    return True
