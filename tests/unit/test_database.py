"""SQLite engines: writers queue on the write lock, readers never wait for it."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from services.kernel.database import create_database_engine, reading, replayable


def test_a_read_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/db.sqlite")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(5)
        done = threading.Event()
        seen: list[int] = []

        def reader() -> None:
            with reading(engine) as conn:
                seen.extend(r[0] for r in conn.execute(text("SELECT x FROM t")))
            done.set()

        threading.Thread(target=reader).start()
        assert done.wait(3), "the read waited for the writer's lock"
        assert seen == [1], "uncommitted rows are not seen"
    finally:
        release.set()
        thread.join()
    with reading(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()


def test_only_replayable_writes_skip_the_fsync_on_sqlite(tmp_path: Path) -> None:
    # An outbox result lost in a power cut is made good by sending again under the same
    # delivery key; every other write (a webhook subscription, a feed position with its
    # rows) must wait for the WAL's fsync. One pooled connection serves both kinds.
    engine = create_database_engine(f"sqlite:///{tmp_path / 'n.db'}", pool_size=1)
    try:
        with replayable(engine).begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        with replayable(engine).begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        engine.dispose()


def test_a_write_sets_the_fsync_mode_only_when_it_changes(tmp_path: Path) -> None:
    # Every SQLite write transaction of every service goes through this hook: plain
    # writes on a connection already in FULL must not pay an extra statement.
    from sqlalchemy import event

    engine = create_database_engine(f"sqlite:///{tmp_path / 'n.db'}", pool_size=1)
    pragmas: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: (
            pragmas.append(statement) if statement.startswith("PRAGMA synchronous") else None
        ),
    )
    try:
        for _ in range(3):
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
        assert pragmas == []
        with replayable(engine).begin() as conn:
            conn.execute(text("SELECT 1"))
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        assert pragmas == ["PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"]
    finally:
        engine.dispose()
