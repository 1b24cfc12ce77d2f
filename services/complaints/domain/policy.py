"""SLA policy as data (S-2, S-3): versioned TOML files with an effective date.

A policy names its milestones and how much working time each may take:
``acceptance`` counts from receipt, ``investigation`` from acceptance,
``result`` from the end of the investigation; category milestones (e.g.
``network_fault`` → ``repair``) count from receipt. Which event starts and
stops each clock is the workflow's business; the policy only says how long.

A complaint pins the ``(id, version)`` in force at receipt and looks it up
later with ``PolicyBook.get``, so revising a policy never moves the deadlines
of complaints already received.

Durations are ISO 8601 (``PT24H``, ``PT2S``). Milestones refuse years and
months, which have no fixed length. ``retention_after_close`` accepts them and
converts each year to 366 days and each month to 31 days: the longest the
calendar period can be, so data is never purged before the period has really
elapsed (``P2Y`` → 732 days).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

import isodate

from services.complaints.domain.calendar import (
    AROUND_THE_CLOCK,
    AroundTheClock,
    Calendar,
    CalendarError,
    load_calendars,
)

DEFAULT_POLICY_ID = "cn-service-spec"
BASE_MILESTONES = ("acceptance", "investigation", "result")

_DAYS_PER_YEAR = 366
_DAYS_PER_MONTH = 31


class PolicyError(ValueError):
    """A policy file or lookup is invalid; the message names the file and the field."""


class UnknownPolicyError(PolicyError, KeyError):
    """No policy with that id and version, or no calendar by that name (a ``KeyError`` too)."""

    def __str__(self) -> str:
        # KeyError would print the message quoted, as if it were a key.
        return str(self.args[0]) if self.args else ""


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

    def milestones_for(self, category: str | None) -> dict[str, timedelta]:
        """Return the base milestones, extended or overridden by those of ``category``."""
        result = dict(self.milestones)
        if category is not None:
            result.update(self.category_milestones.get(category, {}))
        return result


def parse_duration(text: Any, where: str, *, calendar_units: bool = False) -> timedelta:
    """Parse a positive ISO 8601 duration; years/months only with ``calendar_units``."""
    if not isinstance(text, str):
        raise PolicyError(f"{where}: expected an ISO 8601 duration string, got {text!r}")
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise PolicyError(f"{where}: not an ISO 8601 duration: {text!r} ({exc})") from None
    if isinstance(value, isodate.Duration):
        if not calendar_units:
            raise PolicyError(
                f"{where}: {text!r} uses years or months, which have no fixed length; "
                "use days or hours (e.g. P30D)"
            )
        days = float(value.years) * _DAYS_PER_YEAR + float(value.months) * _DAYS_PER_MONTH
        value = value.tdelta + timedelta(days=days)
    if value <= timedelta(0):
        raise PolicyError(f"{where}: duration must be positive, got {text!r}")
    return value


_POLICY_KEYS = {
    "id",
    "version",
    "effective_from",
    "source",
    "calendar",
    "warning_at",
    "pausable",
    "retention_after_close",
    "milestones",
    "categories",
}
_REQUIRED_KEYS = _POLICY_KEYS - {"retention_after_close", "categories"}


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def _milestone_table(raw: Any, where: str) -> dict[str, timedelta]:
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"{where}: expected a table of milestone = duration")
    return {name: parse_duration(value, f"{where}.{name}") for name, value in raw.items()}


def parse_policy(data: Mapping[str, Any], origin: str = "<policy>") -> SlaPolicy:
    """Validate a decoded policy document; errors name ``origin`` and the field."""
    unknown = sorted(set(data) - _POLICY_KEYS)
    if unknown:
        raise PolicyError(f"{origin}: {unknown[0]}: unknown key")
    missing = sorted(_REQUIRED_KEYS - set(data))
    if missing:
        raise PolicyError(f"{origin}: {missing[0]}: missing")

    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PolicyError(f"{origin}: version: expected a positive integer, got {version!r}")

    effective = data["effective_from"]
    if isinstance(effective, str):
        try:
            effective = datetime.fromisoformat(effective)
        except ValueError:
            raise PolicyError(f"{origin}: effective_from: not an ISO 8601 datetime") from None
    if not isinstance(effective, datetime):
        raise PolicyError(f"{origin}: effective_from: expected a datetime, got {effective!r}")
    if effective.tzinfo is None or effective.utcoffset() is None:
        raise PolicyError(f"{origin}: effective_from: needs a UTC offset, e.g. +08:00")

    warning = data["warning_at"]
    if isinstance(warning, bool) or not isinstance(warning, int | float) or not 0 < warning < 1:
        raise PolicyError(f"{origin}: warning_at: expected a fraction 0 < x < 1, got {warning!r}")

    milestones = _milestone_table(data["milestones"], f"{origin}: milestones")
    absent = [m for m in BASE_MILESTONES if m not in milestones]
    if absent:
        raise PolicyError(f"{origin}: milestones.{absent[0]}: missing")

    categories: dict[str, dict[str, timedelta]] = {}
    raw_categories = data.get("categories", {})
    if not isinstance(raw_categories, dict):
        raise PolicyError(f"{origin}: categories: expected a table")
    for category, body in raw_categories.items():
        where = f"{origin}: categories.{category}"
        if not isinstance(body, dict) or set(body) != {"milestones"}:
            raise PolicyError(f"{where}: expected exactly a 'milestones' table")
        categories[category] = _milestone_table(body["milestones"], f"{where}.milestones")

    pausable = data["pausable"]
    if not isinstance(pausable, list) or not all(isinstance(p, str) for p in pausable):
        raise PolicyError(f"{origin}: pausable: expected a list of milestone names")
    known = set(milestones).union(*categories.values())
    strangers = sorted(set(pausable) - known)
    if strangers:
        raise PolicyError(f"{origin}: pausable: unknown milestone {strangers[0]!r}")

    retention = data.get("retention_after_close")
    return SlaPolicy(
        id=_text(data, "id", origin),
        version=version,
        effective_from=effective,
        source=_text(data, "source", origin),
        calendar=_text(data, "calendar", origin),
        warning_at=float(warning),
        pausable=frozenset(pausable),
        milestones=milestones,
        category_milestones=categories,
        retention_after_close=None
        if retention is None
        else parse_duration(retention, f"{origin}: retention_after_close", calendar_units=True),
    )


def load_policy(path: Path) -> SlaPolicy:
    """Read and validate one policy file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc}") from exc
    return parse_policy(data, str(path))


def default_policy_dir() -> Path:
    """Return the directory of the policies shipped with the service."""
    return Path(__file__).resolve().parent.parent / "policies"


class PolicyBook:
    """Every version of every policy, and the calendars they use."""

    def __init__(
        self,
        policies: Iterable[SlaPolicy],
        calendars: Mapping[str, Calendar] | None = None,
        default_id: str | None = None,
    ) -> None:
        """Index ``policies``; check versions, calendars and the default id."""
        self._calendars = dict(calendars or {})
        self._calendars.setdefault(AROUND_THE_CLOCK, AroundTheClock())
        self._by_id: dict[str, list[SlaPolicy]] = {}
        for policy in policies:
            if policy.calendar not in self._calendars:
                raise PolicyError(
                    f"policy {policy.id} v{policy.version}: calendar: unknown calendar "
                    f"{policy.calendar!r}; known: {', '.join(sorted(self._calendars))}"
                )
            self._by_id.setdefault(policy.id, []).append(policy)
        for policy_id, versions in self._by_id.items():
            versions.sort(key=lambda p: p.version)
            for older, newer in pairwise(versions):
                if older.version == newer.version:
                    raise PolicyError(f"policy {policy_id} v{newer.version}: version: duplicate")
                # Otherwise in_force would be ambiguous, or a revision would apply retroactively.
                if newer.effective_from <= older.effective_from:
                    raise PolicyError(
                        f"policy {policy_id} v{newer.version}: effective_from: must be later "
                        f"than v{older.version}'s ({older.effective_from.isoformat()})"
                    )
        if default_id is None:
            ids = sorted(self._by_id)
            default_id = ids[0] if len(ids) == 1 else DEFAULT_POLICY_ID
        if self._by_id and default_id not in self._by_id:
            raise PolicyError(f"default policy id {default_id!r}: no such policy")
        self.default_id = default_id

    @classmethod
    def load(cls, directory: Path, default_id: str | None = None) -> PolicyBook:
        """Load ``directory/*.toml`` policies and ``directory/calendars/*.toml`` calendars."""
        try:
            calendars = load_calendars((directory / "calendars").glob("*.toml"))
        except CalendarError as exc:
            raise PolicyError(str(exc)) from exc
        files: dict[tuple[str, int], Path] = {}
        policies = []
        for path in sorted(directory.glob("*.toml")):
            policy = load_policy(path)
            if policy.calendar not in calendars:
                raise PolicyError(f"{path}: calendar: unknown calendar {policy.calendar!r}")
            key = (policy.id, policy.version)
            if key in files:
                raise PolicyError(f"{path}: version: {policy.version} already in {files[key]}")
            files[key] = path
            policies.append(policy)
        if not policies:
            raise PolicyError(f"{directory}: no policy files (*.toml)")
        try:
            return cls(policies, calendars, default_id)
        except PolicyError as exc:
            raise PolicyError(f"{directory}: {exc}") from exc

    @classmethod
    def default(cls) -> PolicyBook:
        """Load the policies shipped with the service."""
        return cls.load(default_policy_dir())

    def in_force(self, at: datetime, policy_id: str | None = None) -> SlaPolicy:
        """Return the policy in force at ``at``.

        That is the version of ``policy_id`` (the default id if None) with the
        latest ``effective_from <= at``.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise PolicyError(f"in_force: 'at' must be timezone-aware, got {at!r}")
        policy_id = policy_id or self.default_id
        candidates = [p for p in self._by_id.get(policy_id, []) if p.effective_from <= at]
        if not candidates:
            raise PolicyError(f"no version of policy {policy_id!r} in force at {at.isoformat()}")
        return max(candidates, key=lambda p: p.effective_from)

    def get(self, policy_id: str, version: int) -> SlaPolicy:
        """Return exactly ``(policy_id, version)``, e.g. the version a complaint pinned."""
        for policy in self._by_id.get(policy_id, []):
            if policy.version == version:
                return policy
        raise UnknownPolicyError(f"no policy {policy_id!r} version {version}")

    def policies(self) -> list[SlaPolicy]:
        """Return all policies, sorted by id then version."""
        return [p for policy_id in sorted(self._by_id) for p in self._by_id[policy_id]]

    def calendar(self, name: str) -> Calendar:
        """Return the calendar called ``name`` ("24x7" always exists)."""
        try:
            return self._calendars[name]
        except KeyError:
            raise UnknownPolicyError(f"no calendar {name!r}") from None
