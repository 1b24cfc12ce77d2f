"""The feed handler: which messages each event causes, recorded once however often replayed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.notifications.cases import load
from services.notifications.outbox import Message, MessageFilter
from tests.integration.notifications.conftest import Feed, Stack


def messages(stack: Stack, **query: Any) -> list[Message]:
    rows, _ = stack.outbox.list(MessageFilter(**query), limit=200)
    return sorted(rows, key=lambda m: m.seq)


def test_a_replayed_page_never_creates_a_message_twice(stack: Stack, feed: Feed) -> None:
    zh = feed.registered(language="zh-CN")
    en = feed.registered(language="en", channel="email")
    page = [zh, en, feed.item(zh["complaint_id"], "Accepted", category="billing")]
    stack.apply(page)
    first = messages(stack)
    stack.apply(page)  # the position commit was lost: the page comes again
    stack.apply(page[1:])
    assert [m.id for m in messages(stack)] == [m.id for m in first]
    assert len(first) == 3


def test_the_customer_is_written_to_in_their_language_on_their_channel(
    stack: Stack, feed: Feed
) -> None:
    zh = feed.registered(language="zh-CN", channel="sms")
    en = feed.registered(language="en", channel="email")
    no_email = feed.registered(language="en", channel="email", email=None)
    stack.apply([zh, en, no_email])
    by_case = {m.complaint_id: m for m in messages(stack)}
    assert (by_case[zh["complaint_id"]].language, by_case[zh["complaint_id"]].channel) == (
        "zh-CN",
        "sms",
    )
    assert by_case[zh["complaint_id"]].recipient_masked == "138****5678"
    assert (by_case[en["complaint_id"]].language, by_case[en["complaint_id"]].channel) == (
        "en",
        "email",
    )
    assert by_case[en["complaint_id"]].recipient_masked == "z***@example.com"
    assert by_case[no_email["complaint_id"]].channel == "sms"  # no e-mail on file
    receipt = by_case[zh["complaint_id"]]
    assert (receipt.template, receipt.audience, receipt.recipient) == (
        "receipt",
        "customer",
        "customer",
    )
    assert receipt.template_context["case_number"] == zh["data"]["case_number"]


def test_customer_lifecycle_messages(stack: Stack, feed: Feed) -> None:
    reg = feed.registered()
    cid = reg["complaint_id"]
    page = [
        reg,
        feed.item(cid, "Accepted", category="billing", severity="low", deadlines={}),
        feed.item(cid, "NoteAdded", text="called back"),
        feed.item(cid, "Investigated", findings="x", deadlines={}),
        feed.item(cid, "Resolved", sealed={"resolution": "sha256:" + "0" * 64}, deadlines={}),
        feed.item(cid, "Confirmed", satisfaction=5, has_comment=False),
        feed.item(cid, "Closed", sealed={"outcome": "sha256:" + "1" * 64}),
    ]
    stack.apply(page)
    assert [m.template for m in messages(stack)] == ["receipt", "acceptance", "result", "survey"]
    result = messages(stack)[2]
    # The result's words are read at send time, never kept in the outbox.
    assert "resolution" not in result.template_context
    assert "sealed" not in result.template_context


def test_staff_are_told_of_warnings_breaches_disputes_and_escalations(
    stack: Stack, feed: Feed
) -> None:
    reg = feed.registered(owner="agent-1")
    cid = reg["complaint_id"]
    warning = {"milestone": "acceptance", "due_at": "2026-03-02T02:00:00+00:00"}
    stack.apply(
        [
            reg,
            feed.item(cid, "Transferred", assignee={"type": "team", "id": "billing"}, reason="r"),
            feed.item(cid, "SlaWarning", **warning),
            feed.item(cid, "SlaBreached", **warning),
            feed.item(cid, "Disputed", reason="not fixed"),
            feed.item(cid, "Escalated", body="MIIT", reference="A-1", reason=None),
        ]
    )
    staff = [
        (m.template, m.recipient, m.channel, m.language)
        for m in messages(stack)
        if m.audience != "customer"
    ]
    assert staff == [
        # owner agent-1 is also in the billing team: one message, not two
        ("sla_warning", "agent-1", "email", "zh-CN"),
        ("sla_warning", "agent-2", "email", "en"),
        # breaches reach supervisors, the owner and the assignee (issue 9)
        ("sla_breached", "sup-1", "email", "zh-CN"),
        ("sla_breached", "sup-2", "sms", "zh-CN"),
        ("sla_breached", "agent-1", "email", "zh-CN"),
        ("sla_breached", "agent-2", "email", "en"),
        ("disputed", "sup-1", "email", "zh-CN"),
        ("disputed", "sup-2", "sms", "zh-CN"),
        ("escalated", "sup-1", "email", "zh-CN"),
        ("escalated", "sup-2", "sms", "zh-CN"),
    ]
    warned = next(m for m in messages(stack) if m.template == "sla_warning")
    assert warned.recipient_masked == "a***@operator.example"
    escalated = [m for m in messages(stack) if m.template.startswith("escalated")]
    assert all(m.template_context["appeal_body"] == "MIIT" for m in escalated)
    assert [m.template for m in escalated if m.audience == "customer"] == ["escalated_customer"]


def test_the_customer_hears_every_step_and_no_survey_after_a_rating(
    stack: Stack, feed: Feed
) -> None:
    rated, silent = feed.registered(), feed.registered()
    due = {"due_at": "2026-03-05T02:00:00+00:00", "completed_at": None}
    page = [
        rated,
        silent,
        feed.item(
            rated["complaint_id"],
            "Paused",
            reason="awaiting_customer",
            resume_at=None,
            limit_at="2026-03-06T02:00:00+00:00",
            deadlines={},
        ),
        feed.item(
            rated["complaint_id"],
            "AutoResumed",
            trigger="limit",
            resumed_at="2026-03-06T02:00:00+00:00",
            deadlines={"investigation": due},
        ),
        feed.item(
            rated["complaint_id"], "Restored", restored_at="2026-03-02T03:00:00+00:00", deadlines={}
        ),
        feed.item(rated["complaint_id"], "Closed", outcome="ok", reason=None, rated=True),
        feed.item(
            silent["complaint_id"], "Reopened", reason=None, deadlines={"investigation": due}
        ),
        feed.item(silent["complaint_id"], "Returned", reference="R-1"),
        feed.item(
            silent["complaint_id"],
            "DeemedAccepted",
            window_ended_at="2026-03-08T02:00:00+00:00",
            dispute_until=None,
        ),
        feed.item(silent["complaint_id"], "Withdrawn"),
    ]
    stack.apply(page)
    to_customer = [
        (m.complaint_id == rated["complaint_id"], m.template)
        for m in messages(stack)
        if m.audience == "customer" and m.template != "receipt"
    ]
    assert to_customer == [
        (True, "paused"),
        (True, "resumed"),
        (True, "restored"),
        (False, "reopened"),
        (False, "returned_customer"),
        (False, "deemed_accepted"),
        (False, "withdrawn"),
    ], "no survey after the customer rated"
    paused = next(m for m in messages(stack) if m.template == "paused")
    assert paused.template_context["pause_reason"] == "awaiting_customer"
    assert paused.template_context["pause_ends_at"] == "2026-03-06T02:00:00+00:00"


def test_the_case_table_follows_transfers(stack: Stack, feed: Feed) -> None:
    reg = feed.registered()
    cid = reg["complaint_id"]
    stack.apply(
        [
            reg,
            feed.item(cid, "Transferred", assignee={"type": "agent", "id": "agent-2"}, reason="r"),
        ]
    )
    with stack.engine.connect() as conn:
        case = load(conn, cid)
    assert case is not None
    assert case.assignee == {"type": "agent", "id": "agent-2"}
    assert case.case_number == reg["data"]["case_number"]


def test_the_case_table_follows_claims(stack: Stack, feed: Feed) -> None:
    reg = feed.registered()
    cid = reg["complaint_id"]
    claimed = feed.item(cid, "Claimed", assignee={"type": "agent", "id": "agent-9"})
    stack.apply([reg, claimed])
    with stack.engine.connect() as conn:
        case = load(conn, cid)
    assert case is not None and case.assignee == {"type": "agent", "id": "agent-9"}


def test_webhook_subscribers_get_the_events_they_asked_for(stack: Stack, feed: Feed) -> None:
    everything = stack.subscriptions.create("http://127.0.0.1:9/all")
    accepted_only = stack.subscriptions.create("http://127.0.0.1:9/acc", ["Accepted"])
    reg = feed.registered()
    accepted = feed.item(reg["complaint_id"], "Accepted", category="billing", deadlines={})
    stack.apply([reg, accepted])
    stack.apply([reg, accepted])
    hooks = messages(stack, channel="webhook")
    assert sorted((m.recipient, m.event_type) for m in hooks) == sorted(
        [
            (everything.id, "Registered"),
            (everything.id, "Accepted"),
            (accepted_only.id, "Accepted"),
        ]
    )
    assert hooks[0].recipient_masked == "http://127.0.0.1:9"
    assert hooks[0].template_context["event"]["event_id"] in (reg["event_id"], accepted["event_id"])


def test_an_unconfigured_channel_falls_back_to_the_default(stack: Stack, feed: Feed) -> None:
    stack.intake.available = {"log", "webhook"}
    stack.apply([feed.registered(channel="sms")])
    assert [m.channel for m in messages(stack)] == ["log"]


def test_events_before_a_registration_are_skipped(stack: Stack, feed: Feed) -> None:
    stack.apply([feed.item("11111111-1111-1111-1111-111111111111", "Accepted", category="x")])
    assert messages(stack) == []
    with stack.engine.connect() as conn:
        assert conn.execute(select(1)).scalar() == 1


def test_a_contact_update_changes_the_language_and_channel_of_later_messages(
    stack: Stack, feed: Feed
) -> None:
    reg = feed.registered(language="zh-CN", channel="email")
    cid = reg["complaint_id"]
    update = feed.item(
        cid,
        "ContactUpdated",
        customer={
            "phone": "139****1111",
            "email": "z***@example.com",
            "language": "en",
            "preferred_channel": "sms",
        },
        reason="moved",
    )
    stack.apply([reg, update, feed.item(cid, "Accepted", category="billing")])
    receipt, acceptance = messages(stack, complaint_id=cid)
    assert (receipt.language, receipt.channel) == ("zh-CN", "email")
    assert (acceptance.language, acceptance.channel) == ("en", "sms")
    assert acceptance.recipient_masked == "139****1111"


def test_each_rung_of_the_ladder_reaches_whom_it_names(stack: Stack, feed: Feed) -> None:
    reg = feed.registered(owner="agent-1")
    cid = reg["complaint_id"]
    rung = {"milestone": "acceptance", "reached_at": "2026-03-02T02:00:00+00:00"}
    stack.apply(
        [
            reg,
            feed.item(cid, "LadderStepReached", level=1, notify="owner", **rung),
            feed.item(cid, "LadderStepReached", level=2, notify="department_head", **rung),
            feed.item(cid, "LadderStepReached", level=3, notify="supervisors", **rung),
        ]
    )
    told = [
        (m.template_context["level"], m.recipient)
        for m in messages(stack)
        if m.template == "ladder"
    ]
    assert told == [(1, "agent-1"), (2, "head-1"), (3, "sup-1"), (3, "sup-2")]
