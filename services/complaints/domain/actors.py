"""Who acts on a complaint: the actor every event names, and the roles that supervise."""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_ACTOR = {"id": "deadline-monitor", "role": "system"}
SUPERVISING = ("supervisor", "admin")


@dataclass(frozen=True)
class Actor:
    """Who acts: an id and the role they act in."""

    id: str
    role: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form carried by events."""
        return {"id": self.id, "role": self.role}
