"""The staff directory: how to reach agents, teams and supervisors.

Staff addresses are not in the feed (it names staff by id only), so they come
from a file the operator maintains: TOML or JSON, read at start-up. A team
stands for its members; supervisors are the staff whose role says so. One
parser for every service that reads the file (notifications for addresses,
audit for team membership and whom a team's report goes to), so they can
never read one file two ways.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-CN", "en")
STAFF_CHANNELS = ("email", "sms", "log")


class DirectoryError(ValueError):
    """The staff directory file is malformed."""


@dataclass(frozen=True)
class StaffMember:
    """One member of staff and how they want to be told."""

    id: str
    email: str | None = None
    phone: str | None = None
    language: str = "zh-CN"
    channel: str = "email"
    role: str = "agent"

    def address(self, channel: str) -> str | None:
        """Where this member is reached on `channel`."""
        return {"email": self.email, "sms": self.phone}.get(channel)


@dataclass(frozen=True)
class StaffDirectory:
    """Staff by id, team memberships, and the supervisors."""

    staff: Mapping[str, StaffMember]
    teams: Mapping[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path) -> StaffDirectory:
        """Read a TOML or JSON directory file."""
        raw = path.read_bytes()
        doc = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StaffDirectory:
        """Build a directory from its document form (see notifications/staff.sample.toml)."""
        staff = {}
        for staff_id, entry in dict(doc.get("staff", {})).items():
            member = StaffMember(id=staff_id, **entry)
            if member.language not in LANGUAGES:
                raise DirectoryError(f"staff {staff_id}: language must be one of {LANGUAGES}")
            if member.channel not in STAFF_CHANNELS:
                raise DirectoryError(f"staff {staff_id}: channel must be one of {STAFF_CHANNELS}")
            staff[staff_id] = member
        teams = {
            team_id: tuple(entry.get("members", ()))
            for team_id, entry in dict(doc.get("teams", {})).items()
        }
        return cls(staff=staff, teams=teams)

    def get(self, staff_id: str) -> StaffMember | None:
        """A member by id, if the directory knows them."""
        return self.staff.get(staff_id)

    def team_of(self, staff_id: str | None) -> str | None:
        """The first team (by name) that lists `staff_id`, or None."""
        if staff_id is None:
            return None
        return next((team for team in sorted(self.teams) if staff_id in self.teams[team]), None)

    def supervisors(self) -> list[str]:
        """Ids of every supervisor, in a stable order."""
        return sorted(m.id for m in self.staff.values() if m.role == "supervisor")

    def with_role(self, role: str) -> list[str]:
        """The ids of the staff whose role is `role` (e.g. team_lead, department_head)."""
        return sorted(m.id for m in self.staff.values() if m.role == role)

    def resolve(self, assignee: Mapping[str, Any] | None) -> list[str]:
        """Staff ids an assignee stands for: the agent, or every member of the team."""
        if not assignee:
            return []
        if assignee.get("type") == "team":
            return list(self.teams.get(str(assignee.get("id")), ()))
        return [str(assignee["id"])] if assignee.get("id") else []
