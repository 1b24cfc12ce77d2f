"""Teams from the staff directory: which team an agent works in, and its supervisors.

The audit service reads the same directory file the notifications service
does, with the same parser (`services.kernel.staff_directory`), only for team
membership and roles: the feed names staff by id, a case's team is the team
it was transferred to, else its handler's team here, and a team's scheduled
report goes to its supervisors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.kernel.staff_directory import StaffDirectory


@dataclass(frozen=True)
class Teams:
    """Team membership and supervisors, as the staff directory gives them."""

    directory: StaffDirectory = field(default_factory=lambda: StaffDirectory({}, {}))

    @classmethod
    def load(cls, path: Path | None) -> Teams:
        """Read the directory file; no file means no teams."""
        return cls() if path is None else cls(StaffDirectory.load(path))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Teams:
        """Build from the directory's document form."""
        return cls(StaffDirectory.from_dict(doc))

    def team_of(self, agent: str | None) -> str | None:
        """The first team (by name) that lists `agent`, or None."""
        return self.directory.team_of(agent)

    def names(self) -> list[str]:
        """Every team, by name."""
        return sorted(self.directory.teams)

    def supervisors(self, team: str) -> list[str]:
        """The team's supervisors: its members whose role is supervisor, else every supervisor."""
        own = [
            m
            for m in self.directory.teams.get(team, ())
            if (member := self.directory.get(m)) is not None and member.role == "supervisor"
        ]
        return sorted(own) or self.directory.supervisors()
