"""The Complaint aggregate on its own: decisions, events and replay, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain.calendar import AroundTheClock
from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
)
from services.complaints.domain.policy_book import PolicyBook

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = Actor("agent-1", "agent")
SUPERVISOR = Actor("sup-1", "supervisor")
CALENDAR = AroundTheClock()
POLICY = PolicyBook.default().in_force(T0)


def registered(category: str | None = None, at: datetime = T0) -> Complaint:
    return Complaint.register(
        id=uuid.uuid4(),
        actor=AGENT,
        at=at,
        case_number="260302-000001",
        customer={"sealed": "sealed:v1:x", "language": "en"},
        channel="phone",
        description="sealed:v1:y",
        category=category,
        received_at=at,
        policy=POLICY,
        calendar=CALENDAR,
    )


def replay(complaint: Complaint) -> Complaint:
    """Rebuild the aggregate from its events, as the repository does."""
    rebuilt = None
    for event in complaint.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Complaint)
    return rebuilt


def test_registration_starts_the_clocks_of_the_pinned_policy() -> None:
    complaint = registered("network_fault")
    assert complaint.owner == "agent-1"
    assert complaint.policy == {"id": "cn-service-spec", "version": 1}
    assert complaint.deadline("acceptance").due_at == T0 + timedelta(hours=24)
    assert complaint.deadline("repair").due_at == T0 + timedelta(hours=4)
    assert complaint.next_alarm() == T0 + timedelta(hours=4) * 0.8


def test_history_replays_to_the_same_state() -> None:
    complaint = registered()
    complaint.accept(
        AGENT,
        T0 + timedelta(hours=1),
        category="billing",
        severity="low",
        reason=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    complaint.transfer(
        SUPERVISOR, T0 + timedelta(hours=2), to_agent=None, to_team="billing", reason="specialists"
    )
    events = list(complaint.pending_events)
    rebuilt = replay(complaint)
    assert [type(e).__name__ for e in events] == ["Registered", "Accepted", "Transferred"]
    assert rebuilt.status == complaint.status
    assert rebuilt.deadlines == complaint.deadlines
    assert rebuilt.assignee == {"type": "team", "id": "billing"}
    assert rebuilt.owner == "agent-1"


def test_refusals_carry_their_reason() -> None:
    complaint = registered()
    with pytest.raises(ActionNotAllowed) as refused:
        complaint.resolve(AGENT, T0, resolution="x", remedy=None, calendar=CALENDAR)
    assert refused.value.status == "received"
    assert "accept" in refused.value.allowed
    with pytest.raises(InvalidValue):
        complaint.accept(
            AGENT,
            T0,
            category="weather",
            severity="low",
            reason=None,
            policy=POLICY,
            calendar=CALENDAR,
        )
    with pytest.raises(NotPermitted):
        complaint.transfer(AGENT, T0, to_agent=None, to_team="ops", reason="x")
    with pytest.raises(CommandRejected):
        complaint.resume(AGENT, T0, reason=None, calendar=CALENDAR)
    assert len(complaint.pending_events) == 1, "a refusal records nothing"


def test_alarms_are_raised_once_and_never_for_completed_milestones() -> None:
    complaint = registered("network_fault")
    # Repair: 4 h, warned at 80 %, i.e. 3 h 12 min after receipt.
    assert complaint.raise_sla_events(T0 + timedelta(hours=3)) == []
    assert complaint.raise_sla_events(T0 + timedelta(hours=3, minutes=30)) == ["SlaWarning"]
    assert complaint.raise_sla_events(T0 + timedelta(hours=3, minutes=45)) == []
    assert complaint.raise_sla_events(T0 + timedelta(hours=5)) == ["SlaBreached"]
    assert complaint.raise_sla_events(T0 + timedelta(hours=6)) == []
    complaint.accept(
        AGENT,
        T0 + timedelta(hours=6),
        category="network_fault",
        severity="high",
        reason=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    # Acceptance was completed in time: even days later it raises nothing;
    # only the investigation clock started at acceptance can. Its warning and
    # breach are both due after this gap: the breach alone is recorded.
    complaint.raise_sla_events(T0 + timedelta(days=5))
    alarms = [
        (type(e).__name__, getattr(e, "milestone", None))
        for e in complaint.pending_events
        if type(e).__name__.startswith("Sla")
    ]
    assert alarms == [
        ("SlaWarning", "repair"),
        ("SlaBreached", "repair"),
        ("SlaBreached", "investigation"),
    ]


def test_pause_moves_the_due_time_by_the_paused_time() -> None:
    complaint = registered()
    complaint.pause(
        AGENT, T0 + timedelta(hours=1), reason="waiting", policy=POLICY, calendar=CALENDAR
    )
    assert complaint.raise_sla_events(T0 + timedelta(days=3)) == []
    complaint.resume(AGENT, T0 + timedelta(hours=11), reason=None, calendar=CALENDAR)
    assert complaint.deadline("acceptance").due_at == T0 + timedelta(hours=34)


def test_erasure_only_after_closure_and_only_by_supervisors() -> None:
    complaint = registered()
    with pytest.raises(ActionNotAllowed):
        complaint.erase(SUPERVISOR, T0, reason="asked")
    complaint.withdraw(AGENT, T0, reason="sorted out")
    with pytest.raises(NotPermitted):
        complaint.erase(AGENT, T0, reason="asked")
    complaint.erase(SUPERVISOR, T0, reason="asked")
    assert complaint.erased and "erase" not in complaint.allowed_actions


def test_a_milestone_completed_late_is_recorded_as_breached_even_without_the_monitor() -> None:
    complaint = registered()
    late = T0 + timedelta(hours=25)
    complaint.accept(
        AGENT,
        late,
        category="billing",
        severity="low",
        reason=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    types = [type(e).__name__ for e in complaint.pending_events]
    assert types == ["Registered", "SlaBreached", "Accepted"]
    assert complaint.deadline("acceptance").breached_at == late
    assert complaint.breached


def test_reclassifying_a_fault_stops_its_repair_clock() -> None:
    complaint = registered("network_fault")
    complaint.accept(
        AGENT,
        T0 + timedelta(hours=1),
        category="billing",
        severity="low",
        reason=None,
        policy=POLICY,
        calendar=CALENDAR,
    )
    assert "repair" not in complaint.deadlines
    assert complaint.raise_sla_events(T0 + timedelta(hours=30)) == []
    assert replay(complaint).deadlines == complaint.deadlines


def test_a_breach_stays_on_record_through_a_reopen() -> None:
    complaint = registered()
    complaint.accept(
        AGENT, T0, category="billing", severity="low", reason=None, policy=POLICY, calendar=CALENDAR
    )
    assert complaint.raise_sla_events(T0 + timedelta(days=4)) == ["SlaBreached"]  # supersedes
    at = T0 + timedelta(days=4, hours=1)
    complaint.investigate(AGENT, at, findings="f", policy=POLICY, calendar=CALENDAR)
    complaint.resolve(AGENT, at, resolution="r", remedy=None, calendar=CALENDAR)
    complaint.dispute(AGENT, at, reason="no")
    complaint.reopen(AGENT, at, reason=None, policy=POLICY, calendar=CALENDAR)
    assert complaint.deadline("investigation").breached_at is None, "fresh clock"
    assert complaint.breached, "the first round's breach is not forgotten"
    assert replay(complaint).breached
