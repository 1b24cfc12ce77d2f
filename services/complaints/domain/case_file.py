"""The case file's own entries: notes, the customer's contact details, and erasure (S-11).

Reads of the clear contact details go on record with their purpose;
corrections arrive already sealed by the application. Once the customer's
personal data is erased, nothing more goes on file that could carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.complaints.domain.actors import Actor
from services.complaints.domain.errors import NotPermitted, PersonalDataErased
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.workflow import Action


class CaseFile(NextActions):
    """Notes, contact details and erasure of personal data."""

    def add_note(self, actor: Actor, at: datetime, *, text: str) -> None:
        """Add a note to the case file (never after erasure: no new free text then)."""
        self._check_not_erased()
        self._check(Action.NOTES)
        self.trigger_event(self.NoteAdded, timestamp=at, actor=actor.as_dict(), text=text)

    def record_contact_read(self, actor: Actor, at: datetime, *, purpose: str) -> None:
        """Put a read of the clear contact details on record."""
        self._check_not_erased()
        self.trigger_event(self.ContactRead, timestamp=at, actor=actor.as_dict(), purpose=purpose)

    def update_contact(
        self, actor: Actor, at: datetime, *, customer: Mapping[str, Any], reason: str | None
    ) -> None:
        """Record corrected contact details (already sealed by the application)."""
        self._check_not_erased()
        self._check(Action.UPDATE_CONTACT)
        self.trigger_event(
            self.ContactUpdated,
            timestamp=at,
            actor=actor.as_dict(),
            customer=dict(customer),
            reason=reason,
        )

    def erase(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Erase the customer's personal data after closure or withdrawal."""
        self._check(Action.ERASE)
        self._check_not_erased()
        if actor.role not in ("supervisor", "admin", "system"):
            raise NotPermitted("Only a supervisor or an administrator may erase personal data.")
        self.trigger_event(self.Erased, timestamp=at, actor=actor.as_dict(), reason=reason)

    def _check_not_erased(self) -> None:
        if self.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")
