"""SLA policy files: the shipped default, versions, and every kind of bad file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.complaints.domain.calendar import AroundTheClock, BusinessCalendar
from services.complaints.domain.policy import PolicyError, SlaPolicy, UnknownPolicyError
from services.complaints.domain.policy_book import PolicyBook
from services.complaints.domain.policy_files import default_policy_dir, load_policy

H = timedelta(hours=1)
CALENDAR = 'timezone = "Asia/Shanghai"\n[hours]\nmonday = ["09:00", "18:00"]\n'


def policy_text(
    version: int = 1,
    effective_from: str = "2026-01-01T00:00:00+08:00",
    calendar: str = "24x7",
    acceptance: str = "PT24H",
    extra: str = "",
) -> str:
    return f"""
id = "cn-service-spec"
version = {version}
effective_from = "{effective_from}"
source = "test"
calendar = "{calendar}"
warning_at = 0.8
pausable = ["acceptance"]
retention_after_close = "P2Y"
{extra}
[milestones]
acceptance = "{acceptance}"
investigation = "PT72H"
result = "PT48H"

[categories.network_fault.milestones]
repair = "PT4H"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def book() -> PolicyBook:
    return PolicyBook.load(default_policy_dir())


def test_default_policy_loads_with_the_specified_limits(book: PolicyBook) -> None:
    policy = book.in_force(datetime(2026, 6, 1, tzinfo=UTC))
    assert (policy.id, policy.version, policy.calendar) == ("cn-service-spec", 1, "24x7")
    assert policy.milestones_for(None) == {
        "acceptance": 24 * H,
        "investigation": 72 * H,
        "result": 48 * H,
    }
    assert policy.warning_at == 0.8
    assert policy.pausable == {"acceptance", "investigation", "result"}
    assert policy.retention_after_close == timedelta(days=732)  # 2 × 366: never purge early
    assert policy.effective_from == datetime(2025, 12, 31, 16, tzinfo=UTC)


def test_network_fault_adds_the_repair_milestone(book: PolicyBook) -> None:
    policy = book.get("cn-service-spec", 1)
    assert policy.milestones_for("network_fault")["repair"] == 4 * H
    assert "repair" not in policy.milestones_for("billing")
    assert policy.milestones_for("network_fault")["acceptance"] == 24 * H


def test_default_book_has_both_calendars(book: PolicyBook) -> None:
    assert isinstance(book.calendar("24x7"), AroundTheClock)
    assert isinstance(book.calendar("cn-workdays"), BusinessCalendar)
    with pytest.raises(UnknownPolicyError):
        book.calendar("mars")


def test_policy_is_immutable(book: PolicyBook) -> None:
    policy = book.get("cn-service-spec", 1)
    with pytest.raises(TypeError):
        policy.milestones["acceptance"] = H  # type: ignore[index]
    assert hash(policy) == hash(book.get("cn-service-spec", 1))


def test_category_milestones_may_override_base_ones() -> None:
    policy = SlaPolicy(
        id="p",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        source="test",
        calendar="24x7",
        warning_at=0.5,
        pausable=frozenset(),
        milestones={"acceptance": 24 * H, "investigation": H, "result": H},
        category_milestones={"privacy": {"acceptance": 2 * H}},
    )
    assert policy.milestones_for("privacy")["acceptance"] == 2 * H
    assert policy.milestones_for(None)["acceptance"] == 24 * H


def test_versions_are_pinned(tmp_path: Path) -> None:
    write(tmp_path, "v1.toml", policy_text())
    write(
        tmp_path,
        "v2.toml",
        policy_text(version=2, effective_from="2026-07-01T00:00:00+08:00", acceptance="PT12H"),
    )
    book = PolicyBook.load(tmp_path)
    assert book.in_force(datetime(2026, 3, 1, tzinfo=UTC)).version == 1
    assert book.in_force(datetime(2026, 6, 30, 16, tzinfo=UTC)).version == 2  # 00:00 +08:00
    assert book.in_force(datetime(2026, 6, 30, 15, 59, tzinfo=UTC)).version == 1
    assert book.in_force(datetime(2027, 1, 1, tzinfo=UTC)).version == 2
    # A complaint received in March keeps v1 after v2 takes effect.
    assert book.get("cn-service-spec", 1).milestones["acceptance"] == 24 * H
    assert book.get("cn-service-spec", 2).milestones["acceptance"] == 12 * H
    assert [p.version for p in book.policies()] == [1, 2]
    with pytest.raises(PolicyError, match="in force"):
        book.in_force(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(KeyError):
        book.get("cn-service-spec", 3)
    with pytest.raises(PolicyError, match="version 3"):
        book.get("cn-service-spec", 3)


def test_default_id_with_several_policies(tmp_path: Path) -> None:
    write(tmp_path, "main.toml", policy_text())
    write(tmp_path, "other.toml", policy_text().replace('"cn-service-spec"', '"other"'))
    assert PolicyBook.load(tmp_path).in_force(datetime(2026, 2, 1, tzinfo=UTC)).id == (
        "cn-service-spec"
    )
    other = PolicyBook.load(tmp_path, default_id="other")
    assert other.in_force(datetime(2026, 2, 1, tzinfo=UTC)).id == "other"
    assert other.in_force(datetime(2026, 2, 1, tzinfo=UTC), "cn-service-spec").id == (
        "cn-service-spec"
    )
    with pytest.raises(PolicyError, match="default policy id"):
        PolicyBook.load(tmp_path, default_id="nope")


def test_second_long_milestones(tmp_path: Path) -> None:
    path = write(tmp_path, "fast.toml", policy_text(acceptance="PT2S"))
    assert load_policy(path).milestones["acceptance"] == timedelta(seconds=2)


def test_business_calendar_policy(tmp_path: Path) -> None:
    write(tmp_path, "calendars/office.toml", CALENDAR)
    write(tmp_path, "p.toml", policy_text(calendar="office"))
    book = PolicyBook.load(tmp_path)
    assert book.calendar(book.policies()[0].calendar).name == "office"


def test_naive_in_force_is_refused(book: PolicyBook) -> None:
    with pytest.raises(PolicyError, match="timezone-aware"):
        book.in_force(datetime(2026, 6, 1))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (policy_text(extra='colour = "red"'), "colour: unknown key"),
        (policy_text().replace('source = "test"\n', ""), "source: missing"),
        (policy_text().replace('investigation = "PT72H"\n', ""), "milestones.investigation"),
        (policy_text(acceptance="24 hours"), "milestones.acceptance"),
        (policy_text(acceptance="P1M"), r"milestones.acceptance: .*months"),
        (policy_text(acceptance="PT0S"), "milestones.acceptance: .*positive"),
        (policy_text().replace("0.8", "1.2"), "warning_at"),
        (policy_text().replace("0.8", "0"), "warning_at"),
        (policy_text(effective_from="2026-01-01T00:00:00"), "effective_from"),
        (policy_text(effective_from="next tuesday"), "effective_from"),
        (policy_text(version=0), "version"),
        (policy_text().replace('"P2Y"', '"two years"'), "retention_after_close"),
        (policy_text(extra='effective_until = "2025-12-31T00:00:00+08:00"'), "effective_until"),
        (policy_text(extra='effective_until = "2027-01-01T00:00:00"'), "effective_until"),
        (policy_text().replace('["acceptance"]', '["acceptence"]'), "pausable"),
        (policy_text().replace('repair = "PT4H"', 'repair = "PT4X"'), "network_fault"),
        (policy_text() + "\n[categories.billing]\nsla = 1\n", "categories.billing"),
        ("id = ", "cannot read"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(PolicyError, match=field) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_unknown_calendar_is_refused_at_load(tmp_path: Path) -> None:
    write(tmp_path, "p.toml", policy_text(calendar="office"))
    with pytest.raises(PolicyError, match="calendar: unknown calendar 'office'"):
        PolicyBook.load(tmp_path)


def test_bad_calendar_file_is_a_policy_error(tmp_path: Path) -> None:
    write(tmp_path, "calendars/office.toml", 'timezone = "UTC"\n[hours]\n')
    write(tmp_path, "p.toml", policy_text(calendar="office"))
    with pytest.raises(PolicyError, match=r"office\.toml"):
        PolicyBook.load(tmp_path)


def test_duplicate_version_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", policy_text())
    write(tmp_path, "b.toml", policy_text(effective_from="2026-02-01T00:00:00+08:00"))
    with pytest.raises(PolicyError, match=r"b\.toml: version: 1 already in .*a\.toml"):
        PolicyBook.load(tmp_path)


def test_later_version_must_take_effect_later(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", policy_text())
    write(tmp_path, "b.toml", policy_text(version=2, effective_from="2025-06-01T00:00:00+08:00"))
    with pytest.raises(PolicyError, match="v2: effective_from"):
        PolicyBook.load(tmp_path)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy files"):
        PolicyBook.load(tmp_path)


def test_a_retired_version_is_not_in_force_and_brings_no_older_one_back(tmp_path: Path) -> None:
    write(tmp_path, "v1.toml", policy_text())
    write(
        tmp_path,
        "v2.toml",
        policy_text(
            version=2,
            effective_from="2026-07-01T00:00:00+08:00",
            extra='effective_until = "2026-10-01T00:00:00+08:00"',
        ),
    )
    book = PolicyBook.load(tmp_path)
    assert book.in_force(datetime(2026, 9, 30, tzinfo=UTC)).version == 2
    with pytest.raises(PolicyError, match="retired"):
        book.in_force(datetime(2026, 10, 1, tzinfo=UTC))
    # Complaints that pinned it keep it.
    assert book.get("cn-service-spec", 2).effective_until is not None
    assert book.current_and_future(datetime(2026, 11, 1, tzinfo=UTC)) == []


def test_kept_versions_whose_files_are_gone_serve_only_their_complaints(tmp_path: Path) -> None:
    kept = {("cn-service-spec", 1): policy_text(acceptance="PT6H")}
    write(tmp_path, "v2.toml", policy_text(version=2, effective_from="2026-07-01T00:00:00+08:00"))
    book = PolicyBook.load(tmp_path, now=datetime(2026, 8, 1, tzinfo=UTC), kept=kept)
    old = book.get("cn-service-spec", 1)
    assert old.repealed and old.milestones["acceptance"] == 6 * H
    with pytest.raises(PolicyError, match="lost its file"):
        book.in_force(datetime(2026, 3, 1, tzinfo=UTC))
    assert book.in_force(datetime(2026, 8, 1, tzinfo=UTC)).version == 2
    # The version in force now may not be one whose file is gone.
    with pytest.raises(PolicyError, match="cn-service-spec v1"):
        PolicyBook.load(tmp_path, now=datetime(2026, 3, 1, tzinfo=UTC), kept=kept)


def test_a_kept_version_may_gain_a_retirement_date_but_no_other_change(tmp_path: Path) -> None:
    kept = {("cn-service-spec", 1): policy_text()}
    write(tmp_path, "v1.toml", policy_text(extra='effective_until = "2027-01-01T00:00:00+08:00"'))
    assert PolicyBook.load(tmp_path, kept=kept).get("cn-service-spec", 1).effective_until
    write(tmp_path, "v1.toml", policy_text(acceptance="PT12H"))
    with pytest.raises(PolicyError, match="never edited"):
        PolicyBook.load(tmp_path, kept=kept)
