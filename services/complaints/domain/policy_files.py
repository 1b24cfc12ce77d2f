"""How an SLA policy is written: versioned TOML files with an effective date, validated.

Durations are ISO 8601 (``PT24H``, ``PT2S``, ``P2D``). On a business calendar
a day count means working days (``P2D``: two working days, ending at the same
working time) and hours mean working hours; on "24x7" a day is 24 hours.
Milestones refuse years and months, which have no fixed length.
``retention_after_close`` accepts them and converts each year to 366 days and
each month to 31 days: the longest the calendar period can be, so data is
never purged before the period has really elapsed (``P2Y`` → 732 days).

``effective_until`` (optional) retires a version for new complaints from
that moment without deleting it: complaints that pinned it keep it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.complaints.domain import allowance
from services.complaints.domain.allowance import DurationError
from services.complaints.domain.policy import (
    BASE_MILESTONES,
    CATEGORIES,
    MILESTONES,
    SEVERITIES,
    TIERS,
    WINDOWS,
    LadderStep,
    Override,
    PauseRules,
    PolicyError,
    SlaPolicy,
)


def parse_duration(text: Any, where: str, *, calendar_units: bool = False) -> timedelta:
    """Parse a positive ISO 8601 duration; years/months only with ``calendar_units``."""
    try:
        return allowance.parse(text, where, calendar_units=calendar_units)
    except DurationError as exc:
        raise PolicyError(str(exc)) from None


_POLICY_KEYS = {
    "id",
    "version",
    "effective_from",
    "effective_until",
    "source",
    "calendar",
    "warning_at",
    "pausable",
    "retention_after_close",
    "milestones",
    "categories",
    "repeat_window",
    "repeat_same_category",
    "overrides",
    "windows",
    "calendars",
    "pause",
    "sources",
    "ladder",
}
_REQUIRED_KEYS = {
    "id",
    "version",
    "effective_from",
    "source",
    "calendar",
    "warning_at",
    "pausable",
    "milestones",
}


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def _milestone_table(raw: Any, where: str) -> dict[str, timedelta]:
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"{where}: expected a table of milestone = duration")
    for name in raw:
        if name not in MILESTONES:
            raise PolicyError(
                f"{where}.{name}: unknown milestone: no workflow step starts or completes it "
                f"(known: {', '.join(MILESTONES)})"
            )
    return {name: parse_duration(value, f"{where}.{name}") for name, value in raw.items()}


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise PolicyError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _overrides(raw: Any, origin: str) -> tuple[Override, ...]:
    if not isinstance(raw, list):
        raise PolicyError(f"{origin}: overrides: expected an array of tables ([[overrides]])")
    out = []
    for n, entry in enumerate(raw):
        where = f"{origin}: overrides[{n}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{where}: expected a table")
        unknown = sorted(set(entry) - {"category", "severity", "tier", "milestones", "source"})
        if unknown:
            raise PolicyError(f"{where}.{unknown[0]}: unknown key")
        if not {"category", "severity", "tier"} & set(entry):
            raise PolicyError(f"{where}: name at least one of category, severity, tier")
        if "milestones" not in entry:
            raise PolicyError(f"{where}.milestones: missing")
        out.append(
            Override(
                milestones=_milestone_table(entry["milestones"], f"{where}.milestones"),
                category=_choice(entry.get("category"), CATEGORIES, f"{where}.category"),
                severity=_choice(entry.get("severity"), SEVERITIES, f"{where}.severity"),
                tier=_choice(entry.get("tier"), TIERS, f"{where}.tier"),
            )
        )
    return tuple(out)


def _pause_rules(raw: Any, origin: str) -> PauseRules:
    if not isinstance(raw, dict):
        raise PolicyError(f"{origin}: pause: expected a table")
    unknown = sorted(set(raw) - {"reasons", "max_per_milestone", "max_total", "before_acceptance"})
    if unknown:
        raise PolicyError(f"{origin}: pause.{unknown[0]}: unknown key")
    reasons = raw.get("reasons")
    if reasons is not None and (
        not isinstance(reasons, list)
        or not reasons
        or not all(isinstance(r, str) and r.strip() for r in reasons)
    ):
        raise PolicyError(f"{origin}: pause.reasons: expected a non-empty list of reason codes")
    before = raw.get("before_acceptance", False)
    if not isinstance(before, bool):
        raise PolicyError(f"{origin}: pause.before_acceptance: expected true or false")

    def length(key: str) -> timedelta | None:
        value = raw.get(key)
        if value is None:
            return None
        parsed = parse_duration(value, f"{origin}: pause.{key}")
        # Pause lengths are wall-clock time: a working-day count has no meaning here.
        return timedelta(seconds=parsed.total_seconds())

    return PauseRules(
        reasons=frozenset(reasons) if reasons is not None else None,
        max_per_milestone=length("max_per_milestone"),
        max_total=length("max_total"),
        before_acceptance=before,
    )


def _ladder(raw: Any, origin: str, known: set[str]) -> tuple[LadderStep, ...]:
    if not isinstance(raw, list):
        raise PolicyError(f"{origin}: ladder: expected an array of tables ([[ladder]])")
    steps = []
    for n, entry in enumerate(raw):
        where = f"{origin}: ladder[{n}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{where}: expected a table")
        unknown = sorted(set(entry) - {"at", "after", "notify", "milestones"})
        if unknown:
            raise PolicyError(f"{where}.{unknown[0]}: unknown key")
        at = _choice(entry.get("at"), ("warning", "breach"), f"{where}.at")
        notify = entry.get("notify")
        if at is None or not isinstance(notify, str) or not notify.strip():
            raise PolicyError(f"{where}: needs 'at' (warning or breach) and 'notify'")
        after = timedelta(0)
        if "after" in entry:
            parsed = parse_duration(entry["after"], f"{where}.after")
            after = timedelta(seconds=parsed.total_seconds())
        names = entry.get("milestones")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(m, str) for m in names):
                raise PolicyError(f"{where}.milestones: expected a list of milestone names")
            strangers = sorted(set(names) - known)
            if strangers:
                raise PolicyError(f"{where}.milestones: unknown milestone {strangers[0]!r}")
        steps.append(
            LadderStep(
                at=at,
                notify=notify,
                after=after,
                milestones=None if names is None else frozenset(names),
            )
        )
    return tuple(steps)


def _string_table(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        raise PolicyError(f'{where}: expected a table of name = "text"')
    return {str(k): str(v) for k, v in raw.items()}


def _moment(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PolicyError(f"{where}: not an ISO 8601 datetime") from None
    if not isinstance(value, datetime):
        raise PolicyError(f"{where}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PolicyError(f"{where}: needs a UTC offset, e.g. +08:00")
    return value


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

    effective = _moment(data["effective_from"], f"{origin}: effective_from")
    until = None
    if "effective_until" in data:
        until = _moment(data["effective_until"], f"{origin}: effective_until")
        if until <= effective:
            raise PolicyError(f"{origin}: effective_until: must be later than effective_from")

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
        if category not in CATEGORIES:
            raise PolicyError(f"{where}: unknown category (known: {', '.join(CATEGORIES)})")
        if not isinstance(body, dict) or set(body) != {"milestones"}:
            raise PolicyError(f"{where}: expected exactly a 'milestones' table")
        categories[category] = _milestone_table(body["milestones"], f"{where}.milestones")
    overrides = _overrides(data.get("overrides", []), origin)

    windows: dict[str, timedelta] = {}
    raw_windows = data.get("windows", {})
    if not isinstance(raw_windows, dict):
        raise PolicyError(f"{origin}: windows: expected a table")
    for name, value in raw_windows.items():
        if name not in WINDOWS:
            raise PolicyError(
                f"{origin}: windows.{name}: unknown window (known: {', '.join(WINDOWS)})"
            )
        windows[name] = parse_duration(value, f"{origin}: windows.{name}")

    calendars = _string_table(data.get("calendars", {}), f"{origin}: calendars")
    for name in calendars:
        if name not in MILESTONES and name not in WINDOWS:
            raise PolicyError(f"{origin}: calendars.{name}: unknown milestone or window")

    pausable = data["pausable"]
    if not isinstance(pausable, list) or not all(isinstance(p, str) for p in pausable):
        raise PolicyError(f"{origin}: pausable: expected a list of milestone names")
    known = set(milestones).union(*categories.values(), *(o.milestones for o in overrides))
    strangers = sorted(set(pausable) - known)
    if strangers:
        raise PolicyError(f"{origin}: pausable: unknown milestone {strangers[0]!r}")

    retention = data.get("retention_after_close")
    repeat_window = data.get("repeat_window")
    same_category = data.get("repeat_same_category", True)
    if not isinstance(same_category, bool):
        raise PolicyError(f"{origin}: repeat_same_category: expected true or false")
    return SlaPolicy(
        id=_text(data, "id", origin),
        version=version,
        effective_from=effective,
        effective_until=until,
        source=_text(data, "source", origin),
        calendar=_text(data, "calendar", origin),
        warning_at=float(warning),
        pausable=frozenset(pausable),
        milestones=milestones,
        category_milestones=categories,
        retention_after_close=None
        if retention is None
        else parse_duration(retention, f"{origin}: retention_after_close", calendar_units=True),
        repeat_window=None
        if repeat_window is None
        else parse_duration(repeat_window, f"{origin}: repeat_window"),
        repeat_same_category=same_category,
        overrides=overrides,
        windows=windows,
        calendars=calendars,
        # Files from before pause rules keep their behaviour: pausable acceptance pauses.
        pause=_pause_rules(data["pause"], origin)
        if "pause" in data
        else PauseRules(before_acceptance="acceptance" in pausable),
        sources=_string_table(data.get("sources", {}), f"{origin}: sources"),
        ladder=_ladder(data.get("ladder", []), origin, {*MILESTONES, "follow_up"}),
        origin=origin,
    )


def parse_policy_text(text: str, origin: str) -> SlaPolicy:
    """Decode and validate a policy document, keeping its text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: cannot read policy: {exc}") from exc
    return replace(parse_policy(data, origin), text=text)


def load_policy(path: Path) -> SlaPolicy:
    """Read and validate one policy file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc}") from exc
    return parse_policy_text(text, str(path))


def default_policy_dir() -> Path:
    """Return the directory of the policies shipped with the service."""
    return Path(__file__).resolve().parent.parent / "policies"
