"""A command's rows ride with its events: a lost race is an IntegrityError, never a 500.

Regression (CI, PostgreSQL): racing writes on one complaint sometimes
answered 500 with psycopg's `PipelineAborted`. The command's rows had been
queued in the events' pipeline segment; when the events lost the race
(a unique violation), the rows were aborted with them and, once psycopg had
prepared the library's statements, leaving the pipeline raised
`PipelineAborted` (an `OperationalError`) instead of the conflict. Here the
recorder is driven directly, alternating won and lost races many times so
that the statements get prepared, and every lost race must be an
`IntegrityError` that leaves neither its events nor its row behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from uuid import uuid4

import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.complaints.domain.clock import ShiftedClock
from services.kernel.database import Row
from tests.integration.complaints_fixtures import build_app

UPSERT = sa.text(
    "INSERT INTO race_rows (id, n) VALUES (:id, :n) ON CONFLICT (id) DO UPDATE SET n = excluded.n"
)


def _event(originator: object, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator,  # type: ignore[arg-type]
        originator_version=version,
        topic="tests:RaceEvent",
        state=b"{}",
    )


def test_lost_races_with_rows_are_integrity_errors(database_url: Callable[[str], str]) -> None:
    url = database_url("complaints")
    app = build_app(url, ShiftedClock())
    recorder = app.state.complaints.recorder
    engine = sa.create_engine(app.state.queue.engine.url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE race_rows (id INTEGER PRIMARY KEY, n INTEGER)"))
    try:
        contested = uuid4()
        recorder.insert_events([_event(contested, 1)], rows=[Row(UPSERT, {"id": 1, "n": 0})])
        chance = random.Random(13)
        lost = won = 0
        for n in range(1, 240):
            losing = chance.random() < 0.5
            originator = contested if losing else uuid4()
            events = [_event(originator, 1), _event(originator, 2)]
            try:
                recorder.insert_events(events, rows=[Row(UPSERT, {"id": 1, "n": n})])
            except IntegrityError:
                assert losing, "a fresh aggregate was refused"
                lost += 1
                continue
            assert not losing, "a stale version was recorded"
            won += 1
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT n FROM race_rows")).scalar_one() == n
        assert lost > 50 and won > 50
        assert len(recorder.select_events(contested)) == 1, "a lost race left events"
    finally:
        engine.dispose()
        app.state.queue.engine.dispose()
        app.state.complaints.close()
