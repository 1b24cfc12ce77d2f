"""What the customer may see and do on their own case, for the portal and SMS replies.

Called only by trusted services (the portal, the notifications service) with
their service token; the customer's own credential (a customer token) is
checked by the portal. Every act is an event with actor role `customer`.
Customer tokens are issued here, in one place: for the links in notices and
in exchange for a one-time code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.complaints.application import (
    ComplaintsApplication,
    Conflict,
    case_id,
)
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.customer import (
    CONFIRM,
    DISPUTE,
    AccessCodeIssued,
    AccessCodeRefused,
    AccessCodeUsed,
    CodeRules,
    CustomerMessaged,
    SurveyAnswered,
    code_for,
    code_state,
    customer_actions,
    customer_actor,
    same_phone,
)
from services.complaints.domain.errors import ActionNotAllowed, PersonalDataErased
from services.complaints.domain.workflow import Action
from services.complaints.representation import Words, free_text, masked_customer
from services.kernel.customer_tokens import CustomerTokens


class CodeLocked(Exception):
    """Too many wrong tries: the case refuses codes for a while."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"Too many wrong tries; try again after {until.isoformat()}.")
        self.until = until


class CodeRefused(Exception):
    """The code is wrong, used or expired."""


@dataclass(frozen=True)
class IssuedToken:
    """A customer token and when it expires."""

    token: str
    expires_at: datetime


class CustomerAccess:
    """The customer's view and acts, one-time codes, and customer tokens."""

    def __init__(
        self,
        app: ComplaintsApplication,
        tokens: CustomerTokens,
        *,
        link_ttl: timedelta,
        session_ttl: timedelta,
        rules: CodeRules,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.link_ttl = link_ttl
        self.session_ttl = session_ttl
        self.rules = rules
        secret = tokens.secrets[0] if tokens.secrets else secrets.token_hex(32)
        # A key of its own, derived so that a code never doubles as a signature.
        self._code_key = hmac.new(secret.encode(), b"one-time-codes", hashlib.sha256).digest()

    # -- reading ------------------------------------------------------------------

    def complaint(self, case_number: str) -> Complaint:
        """The complaint with this case number (ComplaintNotFound otherwise)."""
        return self.app.get(case_id(case_number))

    def view(self, case_number: str) -> dict[str, Any]:
        """The customer's view: no staff text but the result, contact masked."""
        complaint = self.complaint(case_number)
        events = self.app.history(complaint.id)
        deadlines = {
            name: {
                "due_at": complaint.deadline(name).due_at,
                "completed_at": complaint.deadline(name).completed_at,
                "breached": complaint.deadline(name).breached_at is not None,
            }
            for name in complaint.deadlines
        }
        vault = self.app.vault
        customer = masked_customer(vault, complaint.id, complaint.customer)
        resolved = complaint.resolution is not None
        return {
            "case_number": complaint.case_number,
            "status": complaint.status.value,
            "category": complaint.category,
            "received_at": complaint.received_at,
            "customer": {key: customer.get(key) for key in ("name", "phone", "email", "language")},
            "deadlines": deadlines,
            "result": {
                "resolution": free_text(vault, complaint.id, complaint.resolution, Words.CLEAR),
                "remedy": free_text(vault, complaint.id, complaint.remedy, Words.CLEAR),
            }
            if resolved
            else None,
            "confirmed": complaint.confirmed,
            "satisfaction": complaint.satisfaction,
            "escalation": complaint.escalation,
            "allowed_actions": customer_actions(complaint, events),
            "version": complaint.version,
        }

    # -- acting -------------------------------------------------------------------

    def confirm(self, case_number: str, via: str, satisfaction: int, comment: str | None) -> None:
        """Confirm the result with a rating; after closure, answer the survey instead."""
        complaint = self.complaint(case_number)
        self._check_not_erased(complaint)
        events = self.app.history(complaint.id)
        actions = customer_actions(complaint, events)
        if CONFIRM not in actions:
            raise ActionNotAllowed(CONFIRM, complaint.status.value, actions)
        actor = customer_actor(via)
        if Action.CONFIRM.value in complaint.allowed_actions:
            params = {"satisfaction": satisfaction, "comment": comment}
            self.app.act(complaint.id, Action.CONFIRM, actor, params)
            return
        complaint.trigger_event(
            SurveyAnswered,
            timestamp=self.app.clock.now(),
            actor=actor.as_dict(),
            satisfaction=satisfaction,
            comment=self._seal(complaint.id, comment),
        )
        self._save(complaint)

    def dispute(self, case_number: str, via: str, reason: str) -> None:
        """Dispute the result, as the policy allows (the workflow decides)."""
        complaint = self.complaint(case_number)
        actions = customer_actions(complaint, self.app.history(complaint.id))
        if DISPUTE not in actions:
            raise ActionNotAllowed(DISPUTE, complaint.status.value, actions)
        self.app.act(complaint.id, Action.DISPUTE, customer_actor(via), {"reason": reason})

    def message(self, case_number: str, via: str, text: str) -> None:
        """Put the customer's own words on file (sealed); the owner is told."""
        complaint = self.complaint(case_number)
        self._check_not_erased(complaint)
        complaint.trigger_event(
            CustomerMessaged,
            timestamp=self.app.clock.now(),
            actor=customer_actor(via).as_dict(),
            text=self._seal(complaint.id, text),
        )
        self._save(complaint)

    # -- tokens and codes ---------------------------------------------------------

    def link_token(self, case_number: str, via: str) -> IssuedToken:
        """A token for a notice's link to the portal."""
        complaint = self.complaint(case_number)  # only real cases get links
        return self._mint(complaint.case_number, self.link_ttl, via)

    def request_code(self, case_number: str, phone: str) -> bool:
        """Issue a code when the phone is the one on file; a mismatch counts as a wrong try.

        Returns whether a code was issued; the caller never tells the customer.
        """
        complaint = self.complaint(case_number)
        now = self.app.clock.now()
        state = code_state(self.app.history(complaint.id), now, self.rules)
        if state.locked(now):
            return False
        try:
            on_file = self.app.contact_of(complaint).get("phone")
        except PersonalDataErased:
            return False
        actor = customer_actor("portal").as_dict()
        if not same_phone(phone, on_file):
            complaint.trigger_event(
                AccessCodeRefused, timestamp=now, actor=actor, reason="phone-mismatch"
            )
            self._save(complaint)
            return False
        complaint.trigger_event(
            AccessCodeIssued,
            timestamp=now,
            actor=actor,
            nonce=secrets.token_hex(16),
            expires_at=now + self.rules.lifetime,
        )
        self._save(complaint)
        return True

    def code_to_send(self, complaint_id: UUID, version: int) -> tuple[str, datetime]:
        """The code issued at `version`, for the notice that carries it (CodeRefused if void)."""
        events = self.app.history(complaint_id)
        now = self.app.clock.now()
        state = code_state(events, now, self.rules)
        issue = state.open_issue
        if issue is None or issue.originator_version != version:
            raise CodeRefused("This code is no longer valid.")
        return code_for(self._code_key, str(complaint_id), issue.nonce), issue.expires_at

    def exchange_code(self, case_number: str, code: str) -> IssuedToken:
        """A customer token for the right code; a wrong one is on file and counts to the lock."""
        complaint = self.complaint(case_number)
        now = self.app.clock.now()
        state = code_state(self.app.history(complaint.id), now, self.rules)
        if state.locked_until is not None and state.locked(now):
            raise CodeLocked(state.locked_until)
        actor = customer_actor("portal").as_dict()
        issue = state.open_issue
        expected = code_for(self._code_key, str(complaint.id), issue.nonce) if issue else ""
        if issue is None or not hmac.compare_digest(expected.encode(), code.encode()):
            reason = "wrong-code" if issue is not None else "no-open-code"
            complaint.trigger_event(AccessCodeRefused, timestamp=now, actor=actor, reason=reason)
            self._save(complaint)
            after = code_state(self.app.history(complaint.id), now, self.rules)
            if after.locked_until is not None and after.locked(now):
                raise CodeLocked(after.locked_until)
            raise CodeRefused("The code is wrong or has expired.")
        complaint.trigger_event(
            AccessCodeUsed, timestamp=now, actor=actor, issued_version=issue.originator_version
        )
        self._save(complaint)
        return self._mint(complaint.case_number, self.session_ttl, "code")

    # -- internals ----------------------------------------------------------------

    def _mint(self, case_number: str, ttl: timedelta, via: str) -> IssuedToken:
        token, expires = self.tokens.mint(case_number, int(ttl.total_seconds()), via)
        return IssuedToken(token, datetime.fromtimestamp(expires, UTC))

    @staticmethod
    def _check_not_erased(complaint: Complaint) -> None:
        if complaint.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")

    def _seal(self, complaint_id: UUID, text: str | None) -> str | None:
        return self.app.vault.seal_text(str(complaint_id), text) if text else text

    def _save(self, complaint: Complaint) -> None:
        try:
            self.app.save(complaint)
        except IntegrityError as exc:
            raise Conflict("Another change to this complaint was saved first.") from exc
