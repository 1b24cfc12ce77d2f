"""One staff-directory parser for every service: notifications and audit read a file alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.audit.teams import Teams
from services.kernel.staff_directory import DirectoryError, StaffDirectory

DIRECTORY = """
[staff.agent-1]
email = "agent-1@operator.example"
[staff.lead-1]
email = "lead-1@operator.example"
language = "en"
role = "supervisor"
[staff.head-1]
email = "head-1@operator.example"
role = "supervisor"

[teams.billing]
members = ["agent-1", "lead-1"]
[teams.network]
members = ["agent-2"]
"""


def test_the_audit_teams_are_the_directory_the_notifications_read(tmp_path: Path) -> None:
    path = tmp_path / "staff.toml"
    path.write_text(DIRECTORY)
    directory, teams = StaffDirectory.load(path), Teams.load(path)
    assert teams.directory == directory
    assert teams.names() == ["billing", "network"]
    assert teams.team_of("agent-1") == directory.team_of("agent-1") == "billing"
    assert teams.team_of("nobody") is None
    assert teams.supervisors("billing") == ["lead-1"]
    # A team without a supervisor of its own is reported to every supervisor.
    assert teams.supervisors("network") == ["head-1", "lead-1"]


def test_a_malformed_directory_is_refused_by_the_audit_too(tmp_path: Path) -> None:
    path = tmp_path / "staff.toml"
    path.write_text('[staff.a]\nlanguage = "fr"\n')
    with pytest.raises(DirectoryError):
        Teams.load(path)
