"""Tests of the checkpoint log: when it signs, what it signs, and when it refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, update

from services.audit import merkle
from services.audit.checkpoint import NoteVerifier, Signer
from services.audit.checkpoints import CheckpointLog, IntegrityAlarm
from services.audit.immutability import install_schema
from services.audit.ledger import Ledger
from services.audit.tables import nodes
from services.kernel.database import create_database_engine
from tests.audit_helpers import drop_triggers, items, truncate_tail

ORIGIN = "test.example/audit"


@pytest.fixture
def engine(database_url: Callable[[str], str]) -> Iterator[Engine]:
    engine = create_database_engine(database_url("audit"))
    with engine.begin() as conn:
        install_schema(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate(), ORIGIN)


def grow(engine: Engine, count: int, start: int) -> None:
    with engine.begin() as conn:
        Ledger(engine).append(conn, items(count, start=start))


def test_signs_only_when_the_tree_grew(engine: Engine, signer: Signer) -> None:
    log = CheckpointLog(engine, signer)
    empty = log.issue()
    assert empty is not None and empty.tree_size == 0
    assert log.issue() is None
    grow(engine, 5, start=1)
    five = log.issue()
    assert five is not None and five.tree_size == 5
    assert log.issue() is None
    checkpoint = NoteVerifier.from_key(signer.verifier_key).verify(five.note)
    assert (checkpoint.tree_size, checkpoint.root_hash) == (5, Ledger(engine).root(5))
    assert [c.tree_size for c in log.listing(-1, 10)] == [0, 5]
    assert [c.tree_size for c in log.listing(0, 10)] == [5]
    latest = log.latest()
    assert latest is not None and latest.note == five.note


def test_a_new_key_signs_the_same_tree_again(engine: Engine, signer: Signer) -> None:
    grow(engine, 3, start=1)
    assert CheckpointLog(engine, signer).issue() is not None
    rotated = Signer(Ed25519PrivateKey.generate(), ORIGIN)
    again = CheckpointLog(engine, rotated).issue()
    assert again is not None and again.tree_size == 3
    NoteVerifier.from_key(rotated.verifier_key).verify(again.note)


def test_refuses_to_sign_a_tree_that_rewrites_history(engine: Engine, signer: Signer) -> None:
    log = CheckpointLog(engine, signer)
    grow(engine, 6, start=1)
    log.issue()
    grow(engine, 2, start=100)
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(
            update(nodes).where(nodes.c.level == 2, nodes.c.node_index == 0).values(hash=b"\0" * 32)
        )
    with pytest.raises(IntegrityAlarm, match="does not extend"):
        log.issue()


def test_refuses_to_sign_a_shorter_tree(engine: Engine, signer: Signer) -> None:
    log = CheckpointLog(engine, signer)
    grow(engine, 6, start=1)
    log.issue()
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_entries WHERE entry_index >= 4")
    with pytest.raises(IntegrityAlarm, match="holds 4 entries"):
        log.issue()
    # Deleting the checkpoints too makes the service sign the short tree again;
    # only a verifier that kept an earlier checkpoint can tell (tests/integration/audit).
    truncate_tail(engine, 4)
    shorter = log.issue()
    assert shorter is not None and shorter.tree_size == 4
    assert shorter.root_hash == merkle.root_hash(4, _memory(engine))


def _memory(engine: Engine) -> merkle.MemoryNodeStore:
    store = merkle.MemoryNodeStore()
    border = merkle.CompactRange()
    for entry in Ledger(engine).entries(0, 100):
        store.put_nodes(border.append(entry.leaf_hash))
    return store
