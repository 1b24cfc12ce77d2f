"""The complaints application: commands and queries over the event store.

One `ComplaintsApplication` per process (an eventsourcing `Application` with
its name pinned, so its tables never move when the class is renamed). It
loads a complaint, asks the aggregate to decide, and saves the new events;
a lost race surfaces as `Conflict`, never as a half-written change.

One command is one transaction: the events, any data key the command made,
the rows of the projections registered in `companions` (the work queue) and
the caller's idempotency answer are written by the event store's recorder
(services.complaints.recorders) in the events' own transaction.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast, overload
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, Recording

from services.complaints.case_numbers import case_id, new_case_number
from services.complaints.domain import access
from services.complaints.domain.access import NoTeams, TeamMembership
from services.complaints.domain.clock import Clock, SystemClock
from services.complaints.domain.complaint import UPHELD, Actor, Complaint
from services.complaints.domain.errors import ActionNotAllowed, NotPermitted, PersonalDataErased
from services.complaints.domain.policy import PolicyError, SlaPolicy
from services.complaints.domain.policy_book import PolicyBook
from services.complaints.domain.workflow import Action
from services.complaints.group_commit import Change, GroupCommit
from services.complaints.vault import KeyDraft, Vault
from services.kernel.database import Row

PERSONAL_FIELDS = ("name", "phone", "email", "account")
# Every free-text parameter of each action: staff may type anything into them (a phone
# number into the findings, a name into a reason), so each is sealed with the complaint's
# data key and only its commitment leaves the case file. Codes (category, severity, the
# pause reason code, the appeal body and its reference) stay in clear.
FREE_TEXT: dict[Action, tuple[str, ...]] = {
    Action.ACCEPT: ("reason",),
    Action.TRANSFER: ("reason",),
    Action.CLAIM: ("reason",),
    Action.INVESTIGATE: ("findings",),
    Action.RESOLVE: ("resolution", "remedy"),
    Action.CONFIRM: ("comment",),
    Action.DISPUTE: ("reason",),
    Action.REOPEN: ("reason",),
    Action.ESCALATE: ("reason",),
    Action.RETURN: ("decision",),
    Action.RESTORE: ("how",),
    Action.FOLLOW_UP: ("text",),
    Action.ANSWER_FOLLOW_UP: ("text",),
    Action.CLOSE: ("outcome", "reason"),
    Action.WITHDRAW: ("reason",),
    Action.NOTES: ("text",),
    Action.PAUSE: ("note",),
    Action.RESUME: ("reason",),
    Action.UPDATE_CONTACT: ("reason",),
    Action.ERASE: ("reason",),
}
# (clear customer, category, received_at, policy) -> the earlier complaints repeated.
RepeatFinder = Callable[[Mapping[str, Any], str | None, datetime, SlaPolicy], list[dict[str, Any]]]
# Recorded reads (contact, words) retry a lost race this often before answering 409.
READ_ATTEMPTS = 5
# Commands without If-Match retry a lost race this often before answering 409.
WRITE_ATTEMPTS = 5
# The row that stores a caller's answer to a command (its Idempotency-Key), made
# from the complaint as the command leaves it; saved in the command's transaction.
Answer = Callable[[Complaint], Row]
# Rows a projection keeps in step with a complaint, saved with every change of it.
Companion = Callable[[Complaint], list[Row]]


class ComplaintNotFound(Exception):
    """No complaint has this id or case number (or none existed at that time)."""


class Conflict(Exception):
    """Another write to the same complaint won the race."""


class PreconditionFailed(Exception):
    """The caller's `If-Match` version is not the complaint's current version."""

    def __init__(self, expected: list[int], actual: int) -> None:
        wanted = " or ".join(str(v) for v in expected)
        super().__init__(f"The complaint is at version {actual}, not {wanted}.")
        self.expected = expected
        self.actual = actual


class ComplaintsApplication(Application[UUID]):
    """Registers complaints and carries out actions on them."""

    name = "complaints"
    snapshotting_intervals = {Complaint: 50}  # noqa: RUF012 - eventsourcing reads the class attr

    def __init__(
        self,
        env: Mapping[str, str],
        policies: PolicyBook,
        vault: Vault,
        clock: Clock | None = None,
        default_policy: str | None = None,
        snapshot_interval: int = 50,
        referral_policy: str | None = None,
        timezone: str = "Asia/Shanghai",
        teams: TeamMembership | None = None,
        allow_claims: bool = False,
    ) -> None:
        super().__init__(env=dict(env))
        self.snapshotting_intervals = {Complaint: snapshot_interval}  # type: ignore[misc]
        self.recorded_listeners: list[Callable[[Sequence[Recording[UUID]]], None]] = []
        self.companions: list[Companion] = []
        # When set, concurrent commands share one event-store transaction.
        self.group_commit: GroupCommit | None = None
        # The answer of the command running on this thread, saved by its first save.
        self._command = threading.local()
        self.policies = policies
        self.vault = vault
        self.clock: Clock = clock or SystemClock()
        self.default_policy = default_policy
        self.referral_policy = referral_policy
        # Finds the earlier complaints a new one repeats (customer history), when configured.
        self.repeat_finder: RepeatFinder | None = None
        # Told of the policy version a new complaint pins, before it is saved (the archive
        # keeps its text, so the complaint can always find it again).
        self.policy_pinned: Callable[[SlaPolicy], None] | None = None
        self.zone = ZoneInfo(timezone)
        # Need-to-know (domain/access.py): who works a team's cases, and whether agents may claim.
        self.teams: TeamMembership = teams or NoTeams()
        self.allow_claims = allow_claims

    # -- commands ---------------------------------------------------------------

    def register(
        self,
        actor: Actor,
        *,
        customer: Mapping[str, Any],
        channel: str,
        description: str,
        category: str | None,
        received_at: datetime | None,
        referral: Mapping[str, Any] | None = None,
        tier: str = "standard",
        answer: Answer | None = None,
    ) -> Complaint:
        """Register a new complaint; the acting agent becomes its owner (S-4).

        A referral from an appeal centre is received when the centre's referral
        arrived (unless `received_at` says otherwise) and pins the referral
        policy, whose clocks are the centre's own. `answer` is saved with it.
        """
        now = self.clock.now()
        received = received_at or (referral["received_at"] if referral else now)
        policy = self.policies.in_force(received, self.default_policy)
        if referral is not None and self.referral_policy:
            # No referral policy installed: the ordinary clocks, and the centre's date.
            with contextlib.suppress(PolicyError):
                policy = self.policies.in_force(received, self.referral_policy)
        if self.policy_pinned is not None:
            self.policy_pinned(policy)
        calendar = self.policies.calendar(policy.calendar)
        repeat_of = (
            self.repeat_finder(customer, category, received, policy)
            if self.repeat_finder is not None
            else []
        )
        for _ in range(5):
            number = new_case_number(now, self.zone)
            complaint_id = case_id(number)
            with self.vault.drafting() as draft:
                # A new id has no key to look up: should it be taken after all, the
                # save fails on the event store's key and the draft is dropped.
                draft.new.add(str(complaint_id))
                complaint = Complaint.register(
                    id=complaint_id,
                    actor=actor,
                    at=now,
                    case_number=number,
                    customer=self._sealed_customer(complaint_id, customer),
                    channel=channel,
                    description=self.vault.seal_text(str(complaint_id), description),  # never empty
                    category=category,
                    received_at=received,
                    policy=policy,
                    calendar=calendar,
                    referral=referral,
                    repeat_of=repeat_of,
                    tier=tier,
                )
                try:
                    self._commit(complaint, draft, answer)
                except IntegrityError:
                    continue  # Case number taken: draw another.
            return complaint
        raise Conflict("Could not draw a free case number.")

    def act(
        self,
        complaint_id: UUID,
        action: Action,
        actor: Actor,
        params: Mapping[str, Any],
        expected_versions: frozenset[int] | None = None,
        answer: Answer | None = None,
    ) -> Complaint:
        """Carry out `action` on a complaint, optionally only at one of `expected_versions`.

        `answer` is saved with the action's events; an action that records
        nothing (erasing again) saves it alone.
        """
        # Without If-Match the caller asked for the action on the case as it is,
        # so a lost race (a recorded read, a clock event, another handler) is
        # retried on the fresh state, whose rules are checked again; with
        # If-Match the caller named a version, and a lost race is theirs to see.
        attempts = 1 if expected_versions is not None else WRITE_ATTEMPTS
        with self.vault.drafting():
            for attempt in range(attempts):
                self._command.answer = answer
                try:
                    complaint = self._act(complaint_id, action, actor, params, expected_versions)
                    unsaved = self._command.answer
                except ActionNotAllowed as exc:
                    exc.allowed = self.offered_actions(exc.allowed)
                    raise
                except Conflict:
                    if attempt == attempts - 1:
                        raise
                    continue
                finally:
                    self._command.answer = None
                break
        if unsaved is not None:
            try:
                self.save(rows=[unsaved(complaint)])
            except IntegrityError as exc:
                raise Conflict("A request with this key was answered first.") from exc
        return complaint

    def _act(
        self,
        complaint_id: UUID,
        action: Action,
        actor: Actor,
        params: Mapping[str, Any],
        expected_versions: frozenset[int] | None,
    ) -> Complaint:
        complaint = self.get(complaint_id)
        if expected_versions is not None and complaint.version not in expected_versions:
            raise PreconditionFailed(sorted(expected_versions), complaint.version)
        if action is not Action.CLAIM:  # a claim is how a non-handler may take a case
            access.check_may_act(complaint, actor, self.teams)
        if complaint.erased and action is not Action.ERASE:
            # Erasure is final: the case file takes nothing new that could carry personal data.
            raise PersonalDataErased(
                f"The customer's personal data has been erased: '{action.value}' is refused, "
                "the case file is final."
            )
        now = self.clock.now()
        policy = self.pinned_policy(complaint)
        calendar = self.policies.calendar(policy.calendar)
        p = dict(params)
        if action is Action.ERASE and complaint.erased:
            # Erasing again finishes an erasure whose key destruction a crash cut short.
            self.vault.destroy(str(complaint_id))
            return complaint
        if action is Action.CLOSE:
            # Decided on the clear words, before they are sealed.
            p["upheld"] = p.get("outcome") == UPHELD
        if any(p.get(name) for name in FREE_TEXT.get(action, ())):
            for name in FREE_TEXT[action]:
                p[name] = self._seal(complaint_id, p.get(name))
        match action:
            case Action.ACCEPT:
                complaint.accept(actor, now, policy=policy, calendar=calendar, **p)
            case Action.TRANSFER:
                complaint.transfer(actor, now, **p)
            case Action.CLAIM:
                access.claim(
                    complaint,
                    actor,
                    now,
                    reason=p["reason"],
                    allowed=self.allow_claims,
                    teams=self.teams,
                )
            case Action.INVESTIGATE:
                complaint.investigate(actor, now, policy=policy, calendar=calendar, **p)
            case Action.RESOLVE:
                complaint.resolve(actor, now, policy=policy, calendar=calendar, **p)
            case Action.CONFIRM:
                complaint.confirm(actor, now, **p)
            case Action.DISPUTE:
                complaint.dispute(actor, now, reason=p["reason"], policy=policy, calendar=calendar)
            case Action.REOPEN:
                complaint.reopen(actor, now, policy=policy, calendar=calendar, **p)
            case Action.ESCALATE:
                complaint.escalate(actor, now, policy=policy, calendar=calendar, **p)
            case Action.RETURN:
                complaint.return_from_appeal(actor, now, **p)
            case Action.RESTORE:
                complaint.restore(actor, now, policy=policy, calendar=calendar, **p)
            case Action.FOLLOW_UP:
                complaint.demand_follow_up(
                    actor, now, text=p["text"], within=p["within"], warning_at=policy.warning_at
                )
            case Action.ANSWER_FOLLOW_UP:
                complaint.answer_follow_up(actor, now, text=p["text"])
            case Action.CLOSE:
                complaint.close(actor, now, policy=policy, calendar=calendar, **p)
            case Action.WITHDRAW:
                complaint.withdraw(actor, now, reason=p["reason"])
            case Action.NOTES:
                complaint.add_note(actor, now, text=p["text"])
            case Action.PAUSE:
                complaint.pause(actor, now, policy=policy, calendar=calendar, **p)
            case Action.RESUME:
                complaint.resume(actor, now, policy=policy, calendar=calendar, **p)
            case Action.UPDATE_CONTACT:
                current = self.contact_of(complaint)
                reason = p.pop("reason", None)
                changes = {k: v for k, v in p.items() if v is not None}
                merged = {**current, **changes}
                complaint.update_contact(
                    actor, now, customer=self._sealed_customer(complaint_id, merged), reason=reason
                )
            case Action.ERASE:
                complaint.erase(actor, now, **p)
        self._save_or_conflict(complaint)
        if action is Action.ERASE:
            # Recorded first, destroyed second: no erasure ever goes unrecorded.
            self.vault.destroy(str(complaint_id))
        return complaint

    def read_contact(
        self, complaint_id: UUID, actor: Actor, purpose: str
    ) -> tuple[Complaint, dict[str, Any]]:
        """The clear contact, after recording that `actor` read it and why (S-11).

        Retried on a lost race, like a read of the words.
        """
        for attempt in range(READ_ATTEMPTS):
            complaint = self.get(complaint_id)
            access.check_may_handle_contact(complaint, actor, self.teams)
            if complaint.erased:
                raise PersonalDataErased("The customer's personal data has been erased.")
            complaint.record_contact_read(
                actor, self.clock.now(), purpose=self._seal(complaint_id, purpose)
            )
            contact = self.contact_of(complaint)
            try:
                self._save_or_conflict(complaint)
            except Conflict:
                if attempt == READ_ATTEMPTS - 1:
                    raise
                continue
            return complaint, contact
        raise AssertionError("unreachable")

    def read_words(self, complaint_id: UUID, actor: Actor, purpose: str, scope: str) -> Complaint:
        """Record that `actor` opens the case's sealed words (S-11); the complaint after it.

        Handlers, supervisors and regulators only (`NotPermitted` otherwise).
        An erased case has nothing left to open: nothing is recorded then. A
        read is retried on a lost race (a read must not fail because someone
        wrote meanwhile; the lost attempt recorded nothing).
        """
        for attempt in range(READ_ATTEMPTS):
            complaint = self.get(complaint_id)
            if not access.may_read_words(complaint, actor, self.teams):
                raise NotPermitted(
                    "Only the case's owner, its assignee (or its team), supervisors and "
                    "regulators may read the customer's words."
                )
            if complaint.erased:
                return complaint
            access.record_text_read(
                complaint,
                actor,
                self.clock.now(),
                purpose=self._seal(complaint_id, purpose),
                scope=scope,
            )
            try:
                self._save_or_conflict(complaint)
            except Conflict:
                if attempt == READ_ATTEMPTS - 1:
                    raise
                continue
            return complaint
        raise AssertionError("unreachable")

    def contact_of(self, complaint: Complaint) -> dict[str, Any]:
        """The complaint's clear contact details (not recorded: for internal use)."""
        opened = self.vault.open_fields(str(complaint.id), complaint.customer)
        if opened is None or complaint.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")
        return opened

    @overload
    def _seal(self, complaint_id: UUID, text: str) -> str: ...
    @overload
    def _seal(self, complaint_id: UUID, text: None) -> None: ...
    def _seal(self, complaint_id: UUID, text: str | None) -> str | None:
        """Seal free text (with its commitment), so that erasure reaches it."""
        return self.vault.seal_text(str(complaint_id), text) if text else text

    def _sealed_customer(self, complaint_id: UUID, customer: Mapping[str, Any]) -> dict[str, Any]:
        personal = {k: customer.get(k) for k in PERSONAL_FIELDS}
        record = {k: v for k, v in customer.items() if k not in PERSONAL_FIELDS}
        record["sealed"] = self.vault.seal(str(complaint_id), personal)
        return record

    def raise_sla_events(self, complaint_id: UUID) -> list[str]:
        """Record the warnings and breaches now due on one complaint."""
        complaint = self.get(complaint_id)
        policy = self.pinned_policy(complaint)
        calendar = self.policies.calendar(policy.calendar)
        raised = complaint.raise_sla_events(self.clock.now(), policy, calendar)
        if raised:
            self._save_or_conflict(complaint)
        return raised

    # -- queries ----------------------------------------------------------------

    def get(self, complaint_id: UUID, version: int | None = None) -> Complaint:
        """The complaint now, or as it was at `version`."""
        try:
            complaint: Any = self.repository.get(complaint_id, version=version)
        except AggregateNotFoundError:
            raise ComplaintNotFound(str(complaint_id)) from None
        if not isinstance(complaint, Complaint):
            raise ComplaintNotFound(str(complaint_id))
        return complaint

    def get_as_of(self, complaint_id: UUID, as_of: datetime) -> Complaint:
        """The complaint as it was at the instant `as_of` (S-6)."""
        version = None
        for event in self.history(complaint_id):
            if event.timestamp <= as_of:
                version = event.originator_version
            else:
                break
        if version is None:
            raise ComplaintNotFound(f"{complaint_id} did not exist at {as_of.isoformat()}")
        return self.get(complaint_id, version=version)

    def history(self, complaint_id: UUID) -> list[DomainEvent]:
        """Every event of the case file, in order."""
        events = cast(list[DomainEvent], list(self.events.get(complaint_id)))
        if not events:
            raise ComplaintNotFound(str(complaint_id))
        return events

    def offered_actions(self, allowed: Sequence[str]) -> list[str]:
        """Of the actions a case allows, those this service offers: `claim` only if allowed."""
        return [a for a in allowed if a != Action.CLAIM or self.allow_claims]

    def pinned_policy(self, complaint: Complaint) -> SlaPolicy:
        """The policy version the complaint pinned at receipt."""
        return self.policies.get(complaint.policy["id"], int(complaint.policy["version"]))

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in self.recorded_listeners:
            listener(recordings)

    def save(
        self,
        *objs: Any,
        rows: Sequence[Row] = (),
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """Save aggregates with `rows`, and each complaint's companion rows, in one transaction."""
        together = list(rows)
        for obj in objs:
            if isinstance(obj, Complaint):
                for companion in self.companions:
                    together.extend(companion(obj))
        return super().save(*objs, rows=together, **kwargs)

    def save_changes(self, changes: Sequence[Change]) -> list[Recording[UUID]]:
        """Save several commands' changes (events already collected) in one transaction.

        Unlike `save`, the events stay with the caller, so a batch that failed
        can be saved again piecewise (group commit).
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        rows: list[Row] = []
        for complaint, events, extra in changes:
            processing.collect_events(*events)
            processing.aggregates[complaint.id] = complaint
            rows.extend(extra)
            for companion in self.companions:
                rows.extend(companion(complaint))
        processing.saved_kwargs["rows"] = rows
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _commit(self, complaint: Complaint, draft: KeyDraft | None, answer: Answer | None) -> None:
        """Save a command's change with its drafted data keys and its caller's answer."""
        rows = draft.rows() if draft is not None else []
        if answer is not None:
            rows.append(answer(complaint))
        if self.group_commit is not None:
            self.group_commit.save((complaint, complaint.collect_events(), rows))
        else:
            self.save(complaint, rows=rows)
        if draft is not None:
            self.vault.kept(draft)

    def _save_or_conflict(self, complaint: Complaint) -> None:
        answer: Answer | None = getattr(self._command, "answer", None)
        self._command.answer = None  # One answer per command, with its first save.
        try:
            self._commit(complaint, self.vault.current_draft(), answer)
        except IntegrityError as exc:
            raise Conflict("Another change to this complaint was saved first.") from exc
