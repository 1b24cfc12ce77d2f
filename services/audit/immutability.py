"""The database itself refuses to change the ledger: triggers on SQLite and PostgreSQL.

On SQLite, BEFORE UPDATE and BEFORE DELETE triggers abort the statement.
`INSERT OR REPLACE` needs its own trigger: REPLACE deletes the conflicting
row first, but SQLite fires delete triggers for that only when
`recursive_triggers` is on, so a BEFORE INSERT trigger refuses any insert
that collides with an existing key (SQLite has no TRUNCATE). An upsert
(`ON CONFLICT DO UPDATE`) runs the update trigger.

On PostgreSQL, a row trigger refuses UPDATE and DELETE and a statement
trigger refuses TRUNCATE.

An administrator can still drop the triggers: that is what the Merkle tree
and the signed checkpoints are for. The triggers make an accident or a
casual edit fail loudly; the proofs make a deliberate one detectable.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, UniqueConstraint, text

from services.audit.tables import APPEND_ONLY, metadata

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""

# An arbitrary constant: serialises schema installation between replicas starting together.
_PG_SCHEMA_LOCK = 0x61756474


def install_schema(conn: Connection) -> None:
    """Create the audit tables and their immutability triggers, idempotently."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
    metadata.create_all(conn, checkfirst=True)
    for table in APPEND_ONLY:
        if postgres:
            _postgres_triggers(conn, table)
        else:
            _sqlite_triggers(conn, table)


def _sqlite_triggers(conn: Connection, table: Table) -> None:
    name = table.name
    refuse = f"SELECT RAISE(ABORT, 'audit table {name} is append-only')"
    for operation in ("UPDATE", "DELETE"):
        conn.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS {name}_no_{operation.lower()} "
            f"BEFORE {operation} ON {name} BEGIN {refuse}; END"
        )
    collides = " OR ".join(
        "(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
        for key in _unique_keys(table)
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {name}_no_replace BEFORE INSERT ON {name} "
        f"WHEN EXISTS (SELECT 1 FROM {name} WHERE {collides}) BEGIN {refuse}; END"
    )


def _postgres_triggers(conn: Connection, table: Table) -> None:
    name = table.name
    conn.execute(text(_PG_FUNCTION))
    conn.exec_driver_sql(
        f"CREATE OR REPLACE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    )
    conn.exec_driver_sql(
        f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
    )


def _unique_keys(table: Table) -> list[list[str]]:
    """The column sets a REPLACE could collide on: the primary key and unique constraints."""
    keys = [[column.name for column in table.primary_key.columns]]
    keys += [[column.name] for column in table.columns if column.unique]
    keys += [
        [column.name for column in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    return keys
