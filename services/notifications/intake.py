"""From feed events to outbox messages: the feed consumer's handler.

For each item of a page, in order: update what is known of the case, ask the
rules which messages the event causes, add one webhook message per matching
subscription, and put them all in the outbox on the consumer's connection,
so they commit together with the feed position. Nothing here talks to the
outside world.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from services.kernel.staff_directory import StaffDirectory
from services.notifications import cases
from services.notifications.cases import Case
from services.notifications.masking import mask_address
from services.notifications.outbox import NewMessage, Outbox
from services.notifications.rules import PREFERRED, STAFF, Audience, Rule, RuleBook
from services.notifications.webhooks import Subscription, Subscriptions

log = logging.getLogger("services.notifications.intake")

# Public event fields a template may use; anything else in `data` stays out of the outbox.
TEMPLATE_FIELDS = (
    "category",
    "severity",
    "milestone",
    "due_at",
    "resume_at",
    "limit_at",
    "trigger",
    "resumed_at",
    "dispute_until",
    "confirmation_due_at",
    "window_ended_at",
    "restored_at",
    "reference",
    "level",
    "notify",
    "reached_at",
)
# Pause reason codes a customer's notice explains (anything else reads as "other").
PAUSE_REASONS = ("awaiting_customer", "awaiting_third_party", "site_visit_booked")
WEBHOOK = "webhook"


def template_context(item: Mapping[str, Any], case: Case) -> dict[str, Any]:
    """What a message's template is rendered with: no names, no addresses."""
    data = item.get("data") or {}
    open_deadlines = {
        milestone: clock["due_at"]
        for milestone, clock in (data.get("deadlines") or {}).items()
        if clock.get("due_at") and not clock.get("completed_at")
    }
    context: dict[str, Any] = {
        "case_number": case.case_number,
        "event_type": item["type"],
        "occurred_at": item.get("occurred_at"),
        "deadlines": dict(sorted(open_deadlines.items(), key=lambda kv: kv[1])),
    }
    context.update({key: data[key] for key in TEMPLATE_FIELDS if key in data})
    if item["type"] == "AccessCodeIssued":
        # Which issue the code belongs to; the code itself is fetched at send time.
        context["code_version"] = item["version"]
        context["expires_at"] = data.get("expires_at")
    if item["type"] == "Paused":
        reason = data.get("reason")
        context["pause_reason"] = reason if reason in PAUSE_REASONS else "other"
        context["pause_ends_at"] = min(
            (t for t in (data.get("resume_at"), data.get("limit_at")) if t), default=None
        )
    if item["type"] == "Escalated":
        context["appeal_body"] = data.get("body")
        context["reference"] = data.get("reference")
    return context


class Intake:
    """Decides the messages of each feed event and records them in the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        rules: RuleBook,
        directory: StaffDirectory,
        subscriptions: Subscriptions,
        available_channels: Collection[str],
        default_channel: str | None = "log",
    ) -> None:
        self.outbox = outbox
        self.rules = rules
        self.directory = directory
        self.subscriptions = subscriptions
        self.available = set(available_channels)
        self.default_channel = default_channel

    def __call__(self, conn: Connection, items: Sequence[Mapping[str, Any]]) -> None:
        """Handle one feed page on the consumer's transaction."""
        subscribers = self.subscriptions.all(conn)
        new: list[NewMessage] = []
        for item in items:
            case = cases.apply(conn, item)
            if case is None:
                log.warning(
                    "event for an unknown complaint",
                    extra={"event_id": item.get("event_id"), "event_type": item.get("type")},
                )
                continue
            new.extend(self.decide(item, case))
            new.extend(self.webhooks(item, case, subscribers))
        added = self.outbox.add(conn, new)
        if added:
            log.info("messages recorded", extra={"count": added, "events": len(items)})

    def decide(self, item: Mapping[str, Any], case: Case) -> list[NewMessage]:
        """The rule-driven messages one event causes."""
        out: list[NewMessage] = []
        for rule in self.rules.for_event(str(item["type"])):
            if not rule.applies_to(item.get("data") or {}, (item.get("actor") or {}).get("role")):
                continue
            if rule.audience is Audience.CUSTOMER:
                out.append(self._to_customer(item, case, rule))
            else:
                out.extend(
                    self._to_staff(item, case, rule, staff_id)
                    for staff_id in self._staff(rule, case, item.get("data") or {})
                )
        return out

    def _staff(self, rule: Rule, case: Case, data: Mapping[str, Any]) -> list[str]:
        if rule.audience is Audience.LADDER:
            named = str(data.get("notify") or "")
            if named in (Audience.OWNER, Audience.ASSIGNEE, Audience.SUPERVISORS):
                return self._staff(
                    Rule(rule.event, Audience(named), rule.template, rule.channel), case, data
                )
            return self.directory.with_role(named)
        if rule.audience is Audience.OWNER:
            return [case.owner] if case.owner else []
        if rule.audience is Audience.ASSIGNEE:
            return self.directory.resolve(case.assignee)
        return self.directory.supervisors()

    def _to_customer(self, item: Mapping[str, Any], case: Case, rule: Rule) -> NewMessage:
        channel = case.preferred_channel if rule.channel == PREFERRED else rule.channel
        if channel == "email" and not case.masked_email:
            channel = "sms"  # no e-mail address on file: fall back to the phone
        return self._message(
            item,
            case,
            rule,
            recipient="customer",
            channel=channel,
            language=case.language,
            masked=case.masked_address(channel),
        )

    def _to_staff(
        self, item: Mapping[str, Any], case: Case, rule: Rule, staff_id: str
    ) -> NewMessage:
        member = self.directory.get(staff_id)
        channel = (member.channel if member else "email") if rule.channel == STAFF else rule.channel
        return self._message(
            item,
            case,
            rule,
            recipient=staff_id,
            channel=channel,
            language=member.language if member else "zh-CN",
            masked=mask_address(channel, member.address(channel)) if member else None,
        )

    def _message(
        self,
        item: Mapping[str, Any],
        case: Case,
        rule: Rule,
        *,
        recipient: str,
        channel: str,
        language: str,
        masked: str | None,
    ) -> NewMessage:
        if channel not in self.available and self.default_channel:
            channel = self.default_channel
        return NewMessage(
            complaint_id=case.complaint_id,
            case_number=case.case_number,
            event_id=str(item["event_id"]),
            event_type=str(item["type"]),
            feed_position=int(item["position"]),
            audience=rule.audience.value,
            recipient=recipient,
            recipient_masked=masked,
            channel=channel,
            template=rule.template,
            language=language,
            context=template_context(item, case),
        )

    def webhooks(
        self, item: Mapping[str, Any], case: Case, subscribers: Sequence[Subscription]
    ) -> list[NewMessage]:
        """One message per subscription that wants this event type."""
        return [
            NewMessage(
                complaint_id=case.complaint_id,
                case_number=case.case_number,
                event_id=str(item["event_id"]),
                event_type=str(item["type"]),
                feed_position=int(item["position"]),
                audience=WEBHOOK,
                recipient=subscription.id,
                recipient_masked=mask_address(WEBHOOK, subscription.url),
                channel=WEBHOOK,
                template=WEBHOOK,
                language="",
                # The feed item is public and masked already: it is the payload as is.
                context={"event": json.loads(json.dumps(item))},
            )
            for subscription in subscribers
            if subscription.wants(str(item["type"]))
        ]
