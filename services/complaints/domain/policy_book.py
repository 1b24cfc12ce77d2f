"""The policy book: every version of every policy, which is in force when, and the calendars.

New complaints pin the version in force at receipt (``in_force``); a
complaint's own version is found again with ``get``. A version may be
retired for new complaints (``effective_until``), and a version whose file
is gone but which the service kept (its database holds the text of every
version it has used) stays available to the complaints pinned to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from services.complaints.domain import allowance
from services.complaints.domain.calendar import (
    AROUND_THE_CLOCK,
    AroundTheClock,
    Calendar,
    CalendarError,
    load_calendars,
)
from services.complaints.domain.policy import (
    DEFAULT_POLICY_ID,
    PolicyError,
    SlaPolicy,
    UnknownPolicyError,
)
from services.complaints.domain.policy_files import (
    default_policy_dir,
    load_policy,
    parse_policy_text,
)


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
            for key, name in (("calendar", policy.calendar), *policy.calendars.items()):
                if name not in self._calendars:
                    where = "calendar" if key == "calendar" else f"calendars.{key}"
                    raise PolicyError(
                        f"policy {policy.id} v{policy.version}: {where}: unknown calendar "
                        f"{name!r}; known: {', '.join(sorted(self._calendars))}"
                    )
            bound = {name: self._calendars[name] for name in policy.calendar_names()}
            policy = replace(policy, bound=bound)
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
    def load(
        cls,
        directory: Path,
        default_id: str | None = None,
        now: datetime | None = None,
        kept: Mapping[tuple[str, int], str] | None = None,
    ) -> PolicyBook:
        """Load ``directory/*.toml`` policies and ``directory/calendars/*.toml`` calendars.

        ``kept`` holds the text of versions the service has used (from its
        database): one whose file is gone is loaded from it, repealed (for
        the complaints pinned to it, never for new ones); one whose file now
        says something else is refused, since a released version is never
        edited (only ``effective_until`` may be added).

        With ``now``, every policy in force from then on must be computable:
        each duration started now (or at a later effective date) must fall on
        dates its calendar covers; and no policy's version in force now may be
        a repealed one.
        """
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
        policies.extend(_kept(kept or {}, {(p.id, p.version): p for p in policies}))
        try:
            book = cls(policies, calendars, default_id)
        except PolicyError as exc:
            raise PolicyError(f"{directory}: {exc}") from exc
        if now is not None:
            book.check_not_repealed(now)
            book.check_computable(now)
        return book

    def current_and_future(self, now: datetime) -> list[SlaPolicy]:
        """The versions new complaints may pin from ``now`` on."""
        out: list[SlaPolicy] = []
        for versions in self._by_id.values():
            started = [p for p in versions if p.effective_from <= now]
            out.extend(p for p in started[-1:] if not p.retired_at(now))
            out.extend(p for p in versions if p.effective_from > now and not p.repealed)
        return out

    def check_not_repealed(self, now: datetime) -> None:
        """Refuse a book in which a policy's version in force at ``now`` has lost its file."""
        missing = [
            f"{versions[-1].id} v{versions[-1].version}"
            for versions in (
                [p for p in all_versions if p.effective_from <= now]
                for all_versions in self._by_id.values()
            )
            if versions and versions[-1].repealed
        ]
        if missing:
            raise PolicyError(
                f"policy file missing for the version in force: {', '.join(missing)}; "
                "restore the file (retire it with effective_until) or add a later version"
            )

    def check_computable(self, now: datetime) -> None:
        """Refuse a policy whose durations cannot be computed from ``now`` on its calendars."""
        for policy in self.current_and_future(now):
            start = max(now, policy.effective_from)
            for key, name, duration in _durations(policy):
                calendar = policy.calendar_for(name, self.calendar(policy.calendar))
                where = f"{policy.origin}: {key}"
                try:
                    due_at = allowance.due(calendar, start, duration)
                except (CalendarError, ValueError, OverflowError) as exc:
                    raise PolicyError(f"{where}: cannot be computed: {exc}") from None
                last = calendar.valid_through()
                if last is not None and _local_day(calendar, due_at) > last:
                    raise PolicyError(
                        f"{where}: a due time from {start:%Y-%m-%d} falls on "
                        f"{_local_day(calendar, due_at)}, after calendar {calendar.name!r} "
                        f"runs out ({last}; add the next year's holidays)"
                    )

    def calendars_running_out(self, now: datetime, within: timedelta) -> dict[str, str]:
        """Calendars in use whose known dates end within ``within`` of ``now``."""
        out: dict[str, str] = {}
        for policy in self.current_and_future(now):
            for name in policy.calendar_names():
                last = self.calendar(name).valid_through()
                if last is not None and last <= (now + within).date():
                    out[name] = last.isoformat()
        return out

    @classmethod
    def default(cls) -> PolicyBook:
        """Load the policies shipped with the service."""
        return cls.load(default_policy_dir())

    def in_force(self, at: datetime, policy_id: str | None = None) -> SlaPolicy:
        """Return the policy in force at ``at``.

        That is the version of ``policy_id`` (the default id if None) with the
        latest ``effective_from <= at``, unless it was retired by then
        (``effective_until``) or has lost its file: then none is, since
        retiring a version never brings an older one back.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise PolicyError(f"in_force: 'at' must be timezone-aware, got {at!r}")
        policy_id = policy_id or self.default_id
        candidates = [p for p in self._by_id.get(policy_id, []) if p.effective_from <= at]
        if not candidates:
            raise PolicyError(f"no version of policy {policy_id!r} in force at {at.isoformat()}")
        latest = max(candidates, key=lambda p: p.effective_from)
        if latest.repealed:
            raise PolicyError(
                f"policy {policy_id!r} v{latest.version}, in force at {at.isoformat()}, "
                "has lost its file; no version is in force"
            )
        if latest.retired_at(at):
            assert latest.effective_until is not None
            raise PolicyError(
                f"policy {policy_id!r} v{latest.version} was retired at "
                f"{latest.effective_until.isoformat()}; no later version is in force at "
                f"{at.isoformat()}"
            )
        return latest

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


def _kept(
    kept: Mapping[tuple[str, int], str], from_files: Mapping[tuple[str, int], SlaPolicy]
) -> list[SlaPolicy]:
    """The kept versions whose files are gone; refuses a released version edited in place."""
    repealed = []
    for (policy_id, version), text in sorted(kept.items()):
        origin = f"policy {policy_id} v{version} (kept in the database)"
        stored = replace(parse_policy_text(text, origin), repealed=True)
        current = from_files.get((policy_id, version))
        if current is None:
            repealed.append(stored)
        elif not current.same_rules(stored):
            raise PolicyError(
                f"{current.origin}: differs from the version complaints have pinned "
                "(kept in the database); a released version is never edited: add version "
                f"{version + 1} with a later effective_from"
            )
    return repealed


def _durations(policy: SlaPolicy) -> list[tuple[str, str, timedelta]]:
    """Every duration of a policy: (key as written, milestone or window, duration)."""
    out = [(f"milestones.{n}", n, d) for n, d in policy.milestones.items()]
    for category, table in policy.category_milestones.items():
        out.extend((f"categories.{category}.milestones.{n}", n, d) for n, d in table.items())
    for i, override in enumerate(policy.overrides):
        out.extend((f"overrides[{i}].milestones.{n}", n, d) for n, d in override.milestones.items())
    out.extend((f"windows.{n}", n, d) for n, d in policy.windows.items())
    return out


def _local_day(calendar: Calendar, at: datetime) -> date:
    zone = getattr(calendar, "timezone", None)
    return at.astimezone(zone).date() if zone is not None else at.date()
