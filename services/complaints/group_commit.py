"""Group commit: concurrent commands saved in one event-store transaction (issue 13).

Each command still decides alone (loads its complaint, asks the aggregate,
seals); only the save is shared. A command hands its complaint and its rows
(data key, queue row, idempotency answer) to `GroupCommit.save` and waits.
The first to arrive while no batch is being written leads: it takes what has
gathered (after waiting `window` seconds, if configured, for more), saves it
all with one `Application.save` call (one transaction: one lock of the event
table, one commit, one fsync), and hands the lead to the next waiter.

A batch is all or nothing, so when it fails on a unique key (two commands on
one complaint, a case number or an idempotency key taken) each of its
commands is saved again alone: each caller gets its own answer, and the
loser of a race its own `IntegrityError` (a 409 upstream). Nothing is
acknowledged before its transaction committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError

from services.kernel.database import Row

# One command's change: the aggregate, its new events (already collected, so a
# failed batch can save them again), and its other rows.
Change = tuple[Any, Sequence[Any], Sequence[Row]]
# Saves changes in one transaction (ComplaintsApplication.save_changes).
SaveAll = Callable[[Sequence[Change]], Any]


@dataclass
class _Command:
    change: Change
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # Set when this waiter is handed the lead.
    error: BaseException | None = None


class GroupCommit:
    """Batches concurrent saves; each caller returns once its own change is committed."""

    def __init__(
        self,
        save_all: SaveAll,
        max_batch: int = 64,
        window: float = 0.0,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self.save_all = save_all
        self.max_batch = max(1, max_batch)
        self.window = window
        # Told each batch's size (the service's metrics: how much committing is shared).
        self.observe = observe
        self._lock = threading.Lock()
        self._waiting: list[_Command] = []
        self._leading = False
        self.batches = 0
        self.saved = 0

    def save(self, change: Change) -> None:
        """Save one command's change; raises what its own save raised."""
        command = _Command(change)
        with self._lock:
            self._waiting.append(command)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            command.done.wait()
            if not command.lead:
                if command.error is not None:
                    raise command.error
                return
        self._lead()
        if command.error is not None:
            raise command.error

    def _lead(self) -> None:
        if self.window > 0:
            time.sleep(self.window)  # Let more commands gather.
        with self._lock:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
        try:
            self._write(batch)
        finally:
            with self._lock:
                heir = self._waiting[0] if self._waiting else None
                if heir is None:
                    self._leading = False
            for command in batch:
                command.done.set()
            if heir is not None:
                heir.lead = True
                heir.done.set()

    def _write(self, batch: list[_Command]) -> None:
        self.batches += 1
        self.saved += len(batch)
        if self.observe is not None:
            self.observe(len(batch))
        try:
            self.save_all([c.change for c in batch])
            return
        except IntegrityError as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
        except BaseException as exc:
            for command in batch:
                command.error = exc
            return
        for command in batch:  # One of them lost a race: find which, each alone.
            try:
                self.save_all([command.change])
            except BaseException as exc:
                command.error = exc
