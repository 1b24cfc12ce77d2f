"""SLA policy (S-2, S-3): one version of a policy, and what it says.

A policy names its milestones and how much working time each may take, the
windows of the result's confirmation and of a dispute after closure, the
rules of pauses, and which calendar each clock counts on. Which workflow step
starts and stops each clock is the workflow's business (``MILESTONES`` below);
the policy only says how long.

A complaint pins the ``(id, version)`` in force at receipt and looks it up
later with ``PolicyBook.get`` (``policy_book``), so revising a policy never
moves the deadlines of complaints already received. How a policy is written
(TOML, durations, overrides) is ``policy_files``.

Durations may depend on the complaint's category, severity and customer tier
(``[[overrides]]``); the most specific matching override wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from services.complaints.domain.calendar import (
    AROUND_THE_CLOCK,
    AroundTheClock,
    Calendar,
)

DEFAULT_POLICY_ID = "cn-service-spec"
BASE_MILESTONES = ("acceptance", "investigation", "result")
# Every milestone the workflow runs: what starts its clock and what completes it.
MILESTONES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "acceptance": ("receipt", "accept"),
        "investigation": ("accept or reopen", "investigate"),
        "result": ("investigate", "resolve"),
        "repair": ("receipt", "restore (or resolve)"),
        "overall": ("receipt or reopen", "resolve"),
        "reply": ("receipt of an appeal centre's referral", "resolve"),
        "dispute": ("dispute", "reopen, close or escalate"),
        "appeal": ("escalate", "reopen or close after the appeal body's answer"),
    }
)
WINDOWS = ("confirmation", "dispute_after_close")
TIERS = ("standard", "vip", "enterprise")
SEVERITIES = ("low", "medium", "high", "critical")
CATEGORIES = (
    "billing",
    "network_quality",
    "network_fault",
    "service_conduct",
    "contract",
    "privacy",
    "other",
)


class PolicyError(ValueError):
    """A policy file or lookup is invalid; the message names the file and the field."""


class UnknownPolicyError(PolicyError, KeyError):
    """No policy with that id and version, or no calendar by that name (a ``KeyError`` too)."""

    def __str__(self) -> str:
        # KeyError would print the message quoted, as if it were a key.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Override:
    """Durations for complaints matching a category, a severity and/or a customer tier."""

    milestones: Mapping[str, timedelta]
    category: str | None = None
    severity: str | None = None
    tier: str | None = None

    def matches(self, category: str | None, severity: str | None, tier: str | None) -> bool:
        """Whether every criterion this override names holds."""
        return (
            (self.category is None or self.category == category)
            and (self.severity is None or self.severity == severity)
            and (self.tier is None or self.tier == tier)
        )

    @property
    def specificity(self) -> tuple[int, bool, bool, bool]:
        """More criteria win; on a tie the customer's tier, then severity, then category."""
        named = (self.tier is not None, self.severity is not None, self.category is not None)
        return (sum(named), *named)


@dataclass(frozen=True)
class LadderStep:
    """One rung of the escalation ladder (督办): who is told, when a clock runs out.

    ``at`` is ``warning`` or ``breach``; the step fires ``after`` (wall-clock)
    that point while the milestone is still open. ``notify`` is ``owner``,
    ``assignee``, ``supervisors`` or a role of the staff directory (e.g.
    ``team_lead``, ``department_head``).
    """

    at: str
    notify: str
    after: timedelta = timedelta(0)
    milestones: frozenset[str] | None = None  # None: every milestone

    def covers(self, milestone: str) -> bool:
        """Whether this step applies to `milestone`."""
        return self.milestones is None or milestone in self.milestones


@dataclass(frozen=True)
class PauseRules:
    """What a pause may be: its reasons, how long, and whether before acceptance.

    Lengths are wall-clock time. ``reasons`` None accepts any reason (files
    written before reason codes existed).
    """

    reasons: frozenset[str] | None = None
    max_per_milestone: timedelta | None = None
    max_total: timedelta | None = None
    before_acceptance: bool = False


@dataclass(frozen=True)
class SlaPolicy:
    """One version of an SLA policy. Build it with ``parse_policy`` to get validation."""

    id: str
    version: int
    effective_from: datetime
    source: str
    calendar: str
    warning_at: float
    pausable: frozenset[str]
    milestones: Mapping[str, timedelta] = field(hash=False)
    category_milestones: Mapping[str, Mapping[str, timedelta]] = field(
        default_factory=dict, hash=False
    )
    retention_after_close: timedelta | None = None
    # Customer history: an earlier complaint of the same customer received within
    # this window (and, if so required, of the same category) makes a new one a repeat.
    repeat_window: timedelta | None = None
    repeat_same_category: bool = True
    overrides: tuple[Override, ...] = ()
    windows: Mapping[str, timedelta] = field(default_factory=dict, hash=False)
    calendars: Mapping[str, str] = field(default_factory=dict, hash=False)
    pause: PauseRules = field(default_factory=PauseRules)
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    ladder: tuple[LadderStep, ...] = ()
    origin: str = "<policy>"
    # Retired for new complaints from this moment; complaints pinned to it keep it.
    effective_until: datetime | None = None
    # Its file is gone: kept (from the service's database) for the complaints pinned to it.
    repealed: bool = False
    # The document it was read from, kept by the service once the version is used.
    text: str = field(default="", repr=False, compare=False, hash=False)
    # The calendars themselves, bound by the PolicyBook that loaded the policy.
    bound: Mapping[str, Calendar] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        # Read-only copies, so a shared policy cannot be changed through a caller's dict.
        object.__setattr__(self, "milestones", MappingProxyType(dict(self.milestones)))
        object.__setattr__(
            self,
            "category_milestones",
            MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in self.category_milestones.items()}
            ),
        )
        for name in ("windows", "calendars", "sources", "bound"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def retired_at(self, at: datetime) -> bool:
        """Whether new complaints received at `at` may no longer pin this version."""
        return self.repealed or (self.effective_until is not None and at >= self.effective_until)

    def same_rules(self, other: SlaPolicy) -> bool:
        """Whether `other` says the same as this version, but for its retirement date.

        Comments, layout and `effective_until` may change in a released file;
        nothing that moves a pinned complaint's deadlines may.
        """

        def rules(policy: SlaPolicy) -> SlaPolicy:
            return replace(policy, effective_until=None, origin="", repealed=False)

        return rules(self) == rules(other)

    def milestones_for(
        self, category: str | None, severity: str | None = None, tier: str | None = None
    ) -> dict[str, timedelta]:
        """The milestones of a complaint so classified: the most specific duration wins."""
        result = dict(self.milestones)
        if category is not None:
            result.update(self.category_milestones.get(category, {}))
        matching = [o for o in self.overrides if o.matches(category, severity, tier)]
        for override in sorted(matching, key=lambda o: o.specificity):  # stable: file order
            result.update(override.milestones)
        return result

    def window(self, name: str) -> timedelta | None:
        """The length of a window (``confirmation``, ``dispute_after_close``), if any."""
        return self.windows.get(name)

    def calendar_for(self, name: str, default: Calendar) -> Calendar:
        """The calendar a milestone or window counts on (the policy's unless named)."""
        wanted = self.calendars.get(name, self.calendar)
        if wanted == getattr(default, "name", None):
            return default
        found = self.bound.get(wanted)
        if found is not None:
            return found
        return AroundTheClock() if wanted == AROUND_THE_CLOCK else default

    def calendar_names(self) -> set[str]:
        """Every calendar the policy counts on."""
        return {self.calendar, *self.calendars.values()}
