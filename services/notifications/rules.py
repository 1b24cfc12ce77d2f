"""Notification rules as data: which event types notify whom, how, with what.

The shipped defaults live in rules.toml beside this module; an operator may
point `NOTIFICATIONS_RULES_FILE` at their own. Rules are checked when loaded
(known audiences, channels and templates), so a typo fails at start-up
rather than silently dropping messages.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Audience(StrEnum):
    """Who a rule addresses."""

    CUSTOMER = "customer"
    OWNER = "owner"
    ASSIGNEE = "assignee"
    SUPERVISORS = "supervisors"
    # Whoever the event's `notify` names: owner, assignee, supervisors, or a staff role
    # (the policy's escalation ladder, 督办).
    LADDER = "ladder"


PREFERRED = "preferred"  # the customer's own choice of sms or email
STAFF = "staff"  # each staff member's own channel
CHANNELS = ("email", "sms", "log")


class RuleError(ValueError):
    """A rules file is malformed."""


@dataclass(frozen=True)
class Rule:
    """One event type notifies one audience with one template on one channel."""

    event: str
    audience: Audience
    template: str
    channel: str
    # Public event flags that cancel the message when true, e.g. "rated": no survey
    # to a customer who already gave a rating.
    unless: tuple[str, ...] = ()
    # Send only for acts of this actor role, e.g. "customer": an acknowledgement
    # answers the customer's own act, not one staff recorded on their behalf.
    by: str | None = None

    def applies_to(self, data: Mapping[str, Any], actor_role: str | None = None) -> bool:
        """Whether the event's public data (and who acted) lets this rule send."""
        if self.by is not None and actor_role != self.by:
            return False
        return not any(data.get(flag) for flag in self.unless)

    def __post_init__(self) -> None:
        # Only a customer has a "preferred" channel; only staff have their own in the directory.
        own = PREFERRED if self.audience is Audience.CUSTOMER else STAFF
        if self.channel not in (own, *CHANNELS):
            raise RuleError(
                f"rule {self.event}/{self.audience}: channel must be {own!r} or one of {CHANNELS}"
            )


class RuleBook:
    """The rules in force, looked up by event type."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)

    @classmethod
    def load(cls, path: Path, templates: Iterable[str] | None = None) -> RuleBook:
        """Read a rules file; with `templates`, every rule must name one of them."""
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        rules = []
        for entry in doc.get("rule", []):
            try:
                rules.append(
                    Rule(
                        event=str(entry["event"]),
                        audience=Audience(entry["audience"]),
                        template=str(entry["template"]),
                        channel=str(entry.get("channel", PREFERRED)),
                        unless=tuple(str(flag) for flag in entry.get("unless", [])),
                        by=str(entry["by"]) if "by" in entry else None,
                    )
                )
            except (KeyError, ValueError) as exc:
                raise RuleError(f"{path}: invalid rule {entry!r}: {exc}") from exc
        known = set(templates) if templates is not None else None
        for rule in rules:
            if known is not None and rule.template not in known:
                raise RuleError(f"{path}: rule {rule.event} names unknown template {rule.template}")
        return cls(rules)

    def for_event(self, event_type: str) -> Sequence[Rule]:
        """The rules an event type triggers, in file order."""
        return [rule for rule in self.rules if rule.event == event_type]
