"""Rules as data: the shipped defaults, and malformed files refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kernel.staff_directory import DirectoryError, StaffDirectory
from services.notifications.rules import Audience, RuleBook, RuleError
from services.notifications.settings import PACKAGE_DIR


def defaults() -> RuleBook:
    return RuleBook.load(PACKAGE_DIR / "rules.toml")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("Registered", {(Audience.CUSTOMER, "receipt")}),
        ("Accepted", {(Audience.CUSTOMER, "acceptance")}),
        ("Resolved", {(Audience.CUSTOMER, "result")}),
        ("Closed", {(Audience.CUSTOMER, "survey")}),
        ("SlaWarning", {(Audience.OWNER, "sla_warning"), (Audience.ASSIGNEE, "sla_warning")}),
        (
            "SlaBreached",
            {
                (Audience.SUPERVISORS, "sla_breached"),
                (Audience.OWNER, "sla_breached"),
                (Audience.ASSIGNEE, "sla_breached"),
            },
        ),
        ("Disputed", {(Audience.SUPERVISORS, "disputed"), (Audience.CUSTOMER, "acknowledgement")}),
        (
            "Escalated",
            {(Audience.SUPERVISORS, "escalated"), (Audience.CUSTOMER, "escalated_customer")},
        ),
        (
            "Returned",
            {
                (Audience.OWNER, "returned"),
                (Audience.SUPERVISORS, "returned"),
                (Audience.CUSTOMER, "returned_customer"),
            },
        ),
        ("DeemedAccepted", {(Audience.CUSTOMER, "deemed_accepted")}),
        ("NoteAdded", set()),
        ("ContactRead", set()),
    ],
)
def test_default_rules(event: str, expected: set[tuple[Audience, str]]) -> None:
    assert {(r.audience, r.template) for r in defaults().for_event(event)} == expected


def test_customers_get_their_preferred_channel_and_staff_theirs() -> None:
    for rule in defaults().rules:
        expected = "preferred" if rule.audience is Audience.CUSTOMER else "staff"
        assert rule.channel == expected


@pytest.mark.parametrize(
    "rule",
    [
        'event = "Registered"\naudience = "regulator"\ntemplate = "receipt"',
        'event = "Registered"\naudience = "customer"\ntemplate = "receipt"\nchannel = "fax"',
        'event = "SlaWarning"\naudience = "owner"\ntemplate = "sla_warning"\nchannel = "preferred"',
        'audience = "customer"\ntemplate = "receipt"',
        'event = "Registered"\naudience = "customer"\ntemplate = "no_such_template"',
    ],
)
def test_malformed_rules_fail_at_load(tmp_path: Path, rule: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f"[[rule]]\n{rule}\n")
    with pytest.raises(RuleError):
        RuleBook.load(path, templates={"receipt", "sla_warning"})


def test_staff_directory_sample_has_supervisors_and_teams() -> None:
    directory = StaffDirectory.load(PACKAGE_DIR / "staff.sample.toml")
    assert directory.supervisors() == ["supervisor-1", "supervisor-2"]
    assert directory.resolve({"type": "team", "id": "billing"}) == ["agent-1", "agent-2"]
    assert directory.resolve({"type": "agent", "id": "agent-9"}) == ["agent-9"]
    assert directory.resolve(None) == []


def test_staff_directory_reads_json_and_refuses_unknown_languages(tmp_path: Path) -> None:
    good = tmp_path / "staff.json"
    good.write_text('{"staff": {"a": {"email": "a@x.example", "language": "en"}}}')
    assert StaffDirectory.load(good).get("a") is not None
    bad = tmp_path / "bad.json"
    bad.write_text('{"staff": {"a": {"email": "a@x.example", "language": "fr"}}}')
    with pytest.raises(DirectoryError):
        StaffDirectory.load(bad)
