"""The database itself refuses to change the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from services.audit.checkpoint import Signer
from services.audit.checkpoints import CheckpointLog
from services.audit.immutability import install_schema
from services.audit.ledger import Ledger
from services.audit.tables import checkpoints, entries, nodes
from services.kernel.database import create_database_engine
from tests.audit_helpers import drop_triggers, items

ORIGIN = "test.example/audit"


def ledger_engine(url: str) -> Engine:
    engine = create_database_engine(url)
    with engine.begin() as conn:
        install_schema(conn)
        install_schema(conn)  # Installing twice is harmless (every start does it).
    with engine.begin() as conn:
        Ledger(engine).append(conn, items(4))
    CheckpointLog(engine, Signer(Ed25519PrivateKey.generate(), ORIGIN)).issue()
    return engine


@pytest.fixture
def engine(database_url: Callable[[str], str]) -> Iterator[Engine]:
    engine = ledger_engine(database_url("audit"))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = ledger_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_database: Callable[[], str]) -> Iterator[Engine]:
    engine = ledger_engine(postgres_database())
    yield engine
    engine.dispose()


def snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], ...]:
    with engine.connect() as conn:
        return tuple(
            [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))]
            for table in (entries, nodes, checkpoints)
        )


def refused(engine: Engine, statement: str) -> None:
    before = snapshot(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET complaint_id = 'other' WHERE entry_index = 1",
        "UPDATE ledger_entries SET entry_index = entry_index + 100",
        "DELETE FROM ledger_entries WHERE entry_index = 3",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_nodes SET node_index = node_index WHERE level = 0",
        "DELETE FROM ledger_nodes WHERE level = 2",
        "UPDATE ledger_checkpoints SET tree_size = 1",
        "DELETE FROM ledger_checkpoints",
    ],
)
def test_update_and_delete_are_refused(engine: Engine, statement: str) -> None:
    refused(engine, statement)


@pytest.mark.parametrize("table", ["ledger_entries", "ledger_nodes", "ledger_checkpoints"])
def test_truncate_is_refused_on_postgresql(postgres_engine: Engine, table: str) -> None:
    # SQLite has no TRUNCATE statement; its DELETE trigger covers "DELETE FROM t".
    refused(postgres_engine, f"TRUNCATE {table}")
    refused(postgres_engine, f"TRUNCATE {table} CASCADE")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT OR REPLACE INTO ledger_entries (entry_index, position, event_id, complaint_id, "
        "leaf) VALUES (1, 999, 'forged', 'forged', x'7b7d')",
        "REPLACE INTO ledger_entries (entry_index, position, event_id, complaint_id, leaf) "
        "SELECT entry_index, position, event_id, complaint_id, x'7b7d' FROM ledger_entries",
        "INSERT OR REPLACE INTO ledger_entries (entry_index, position, event_id, complaint_id, "
        "leaf) VALUES (50, 999, (SELECT event_id FROM ledger_entries WHERE entry_index = 2), "
        "'x', x'7b7d')",
        "INSERT OR REPLACE INTO ledger_nodes (level, node_index, hash) VALUES (0, 0, x'00')",
        "INSERT INTO ledger_nodes (level, node_index, hash) VALUES (0, 0, x'00') "
        "ON CONFLICT (level, node_index) DO UPDATE SET hash = excluded.hash",
    ],
)
def test_sqlite_insert_or_replace_cannot_overwrite(sqlite_engine: Engine, statement: str) -> None:
    refused(sqlite_engine, statement)


def test_sqlite_delete_trigger_alone_would_not_stop_a_replace(sqlite_engine: Engine) -> None:
    # Why the BEFORE INSERT trigger exists: REPLACE deletes the old row without firing
    # delete triggers unless PRAGMA recursive_triggers is on.
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER ledger_nodes_no_replace")
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO ledger_nodes (level, node_index, hash) VALUES (0, 0, x'00')"
        )
    with sqlite_engine.connect() as conn:
        leaf = conn.execute(select(nodes.c.hash).where(nodes.c.level == 0, nodes.c.node_index == 0))
        assert leaf.scalar_one() == b"\x00"


def test_appending_still_works_and_admins_can_drop_the_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        Ledger(engine).append(conn, items(2, start=100))
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_entries WHERE entry_index = 5")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 5
