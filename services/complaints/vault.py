"""Personal data at rest: sealed with a per-complaint data key (S-11).

Each complaint gets its own AES-256-GCM data key. The key is stored wrapped
(Fernet) under the master key from the environment, in the complaints
database, outside the event store. Events carry only sealed personal fields,
so the rest of each event stays readable to the system, and erasing a
complaint is destroying its key: the events stay, their personal fields can
never be opened again (crypto-shredding). Several master keys may be given;
the first wraps, all unwrap, and `rotate()` re-wraps every data key under the
first without touching a single event.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Engine, Float, LargeBinary, MetaData, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from services.kernel.database import is_sqlite, reading

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

SEALED_PREFIX = "sealed:v1:"


class MasterKeyMissing(RuntimeError):
    """No master key is configured: personal data could not be protected."""


def new_master_key() -> str:
    """A fresh master key (urlsafe base64, 32 bytes), for `make run` and key rotation."""
    return Fernet.generate_key().decode()


def is_sealed(value: Any) -> bool:
    """Whether a stored value is a sealed personal field."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


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
        metadata.create_all(engine, checkfirst=True)

    def seal(self, complaint_id: str, value: Any) -> str:
        """Encrypt a JSON value under the complaint's data key (made on first use)."""
        key = self._key(complaint_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        plaintext = json.dumps(value, ensure_ascii=False).encode()
        # The complaint id is authenticated data: a sealed value cannot be moved to another case.
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, complaint_id.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + ciphertext).decode()

    def open(self, complaint_id: str, sealed: str) -> Any | None:
        """The clear value, or None when the complaint's key was destroyed (erased)."""
        key = self._key(complaint_id, create=False)
        if key is None:
            return None
        raw = base64.b64decode(sealed[len(SEALED_PREFIX) :])
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], complaint_id.encode())
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
        """Destroy the complaint's data key: its personal data is gone for good."""
        with self.engine.begin() as conn:
            conn.execute(delete(data_keys).where(data_keys.c.complaint_id == complaint_id))
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

    def _key(self, complaint_id: str, *, create: bool) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(complaint_id)
        if cached is not None and now - cached[0] < self.cache_seconds and cached[1] is not None:
            return cached[1]
        with reading(self.engine) as conn:
            wrapped = conn.execute(
                select(data_keys.c.wrapped_key).where(data_keys.c.complaint_id == complaint_id)
            ).scalar_one_or_none()
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
