"""Tests of the audit ledger on SQLite and PostgreSQL: leaves, stored tree, proofs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError

from services.audit import merkle
from services.audit.immutability import install_schema
from services.audit.ledger import ConnectionNodeStore, Ledger, entry_fields
from services.audit.tables import nodes
from services.kernel.database import create_database_engine
from tests.audit_helpers import feed_item, items

RECORDED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: Callable[[str], str]) -> Iterator[Engine]:
    engine = create_database_engine(database_url("audit"))
    with engine.begin() as conn:
        install_schema(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine, clock=lambda: RECORDED)


def append_pages(ledger: Ledger, feed: list[dict[str, Any]], page: int) -> None:
    for start in range(0, len(feed), page):
        with ledger.engine.begin() as conn:
            ledger.append(conn, feed[start : start + page])


def memory_tree(leaves: list[bytes]) -> merkle.MemoryNodeStore:
    store = merkle.MemoryNodeStore()
    border = merkle.CompactRange()
    for leaf in leaves:
        store.put_nodes(border.append(merkle.leaf_hash(leaf)))
    return store


def test_entries_hold_the_canonical_json_of_index_item_and_time(ledger: Ledger) -> None:
    feed = items(5)
    append_pages(ledger, feed, page=2)
    stored = ledger.entries(0, 10)
    assert [e.index for e in stored] == [0, 1, 2, 3, 4]
    for index, (entry, item) in enumerate(zip(stored, feed, strict=True)):
        expected = {**item, "index": index, "recorded_at": RECORDED.isoformat()}
        assert entry.leaf == rfc8785.dumps(expected)
        assert entry.fields == expected
    assert ledger.size() == 5
    assert [e.index for e in ledger.entries(1, 3)] == [1, 2]


def test_the_stored_root_is_the_root_of_the_leaves(ledger: Ledger) -> None:
    append_pages(ledger, items(13), page=4)
    leaves = [e.leaf for e in ledger.entries(0, 13)]
    for size in range(1, 14):
        expected = merkle.root_from_leaves(merkle.leaf_hash(leaf) for leaf in leaves[:size])
        assert ledger.root(size) == expected
    assert ledger.root(0) == merkle.EMPTY_ROOT


def test_proofs_from_the_database_equal_the_in_memory_ones(ledger: Ledger) -> None:
    append_pages(ledger, items(21), page=5)
    leaves = [e.leaf for e in ledger.entries(0, 21)]
    memory = memory_tree(leaves)
    for size in range(1, 22):
        root = merkle.root_hash(size, memory)
        for index in range(size):
            proof = ledger.inclusion_proof(index, size)
            assert proof == merkle.inclusion_proof(index, size, memory)
            merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, proof, root)
        for old in range(1, size + 1):
            proof = ledger.consistency_proof(old, size)
            assert proof == merkle.consistency_proof(old, size, memory)
            merkle.verify_consistency(old, size, merkle.root_hash(old, memory), root, proof)


def test_a_proof_is_one_query_at_any_size(engine: Engine, ledger: Ledger) -> None:
    append_pages(ledger, items(1500), page=500)
    statements: list[str] = []

    def count(*args: Any) -> None:
        # Only reads count: on SQLite the engine also emits BEGIN IMMEDIATE.
        if args[2].lstrip().upper().startswith("SELECT"):
            statements.append(args[2])

    with engine.connect() as conn:
        store = ConnectionNodeStore(conn)
        event.listen(engine, "before_cursor_execute", count)
        try:
            merkle.inclusion_proof(777, 1500, store)
            inclusion_reads = len(statements)
            merkle.consistency_proof(1000, 1499, store)
            consistency_reads = len(statements) - inclusion_reads
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert (inclusion_reads, consistency_reads) == (1, 1)


def test_every_perfect_subtree_is_stored_once(engine: Engine, ledger: Ledger) -> None:
    append_pages(ledger, items(11), page=3)
    with engine.connect() as conn:
        keys = sorted(conn.execute(select(nodes.c.level, nodes.c.node_index)).tuples())
    expected = sorted((level, index) for level in range(4) for index in range(11 >> level))
    assert keys == expected


def test_a_repeated_event_is_refused_and_nothing_of_its_page_is_kept(ledger: Ledger) -> None:
    append_pages(ledger, items(3), page=3)
    again = [feed_item(100), items(1)[0]]
    with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
        ledger.append(conn, again)
    assert ledger.size() == 3


def test_reserved_field_names_are_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        entry_fields(0, {**feed_item(1), "index": 5}, RECORDED)


def test_leaf_bytes_round_trip_through_base64(ledger: Ledger) -> None:
    append_pages(ledger, [feed_item(1, data={"text": "汉字 and ünïcode"})], page=1)
    entry = ledger.entries(0, 1)[0]
    assert json.loads(base64.b64decode(base64.b64encode(entry.leaf)))["data"]["text"] == (
        "汉字 and ünïcode"
    )


def test_a_case_files_proofs_are_one_query(engine: Engine, ledger: Ledger) -> None:
    append_pages(ledger, items(300), page=100)
    indexes = [3, 4, 150, 151, 298]
    selects: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            selects.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        together = ledger.inclusion_proofs(indexes, 299)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(selects) == 1
    assert together == [ledger.inclusion_proof(index, 299) for index in indexes]
