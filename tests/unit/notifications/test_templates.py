"""Templates: every message in zh-CN and en, with the case number and nothing personal."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.notifications.cases import Case
from services.notifications.intake import template_context
from services.notifications.rules import RuleBook
from services.notifications.settings import PACKAGE_DIR
from services.notifications.staff_messages import STAFF_MESSAGE_TEMPLATES
from services.notifications.templating import LANGUAGES, Renderer, RenderError

CASE_NUMBER = "260301-004217"
CONTEXT: dict[str, Any] = {
    "case_number": CASE_NUMBER,
    "deadlines": {"acceptance": "2026-03-02T02:00:00+00:00", "repair": "2026-03-01T06:00:00+00:00"},
    "category": "billing",
    "severity": "high",
    "resolution": "The duplicate charge was refunded.",
    "remedy": None,
    "milestone": "acceptance",
    "due_at": "2026-03-02T02:00:00+00:00",
    "appeal_body": "MIIT appeal centre",
    "reference": "APL-1",
    "code": "123456",
    "expires_at": "2026-03-02T02:10:00+00:00",
    "pause_reason": "awaiting_customer",
    "pause_ends_at": "2026-03-04T02:00:00+00:00",
    "window_ended_at": "2026-03-05T02:00:00+00:00",
    "dispute_until": "2026-03-20T02:00:00+00:00",
    "restored_at": "2026-03-01T05:00:00+00:00",
    "level": 2,
    "notify": "team_lead",
    "reached_at": "2026-03-02T04:00:00+00:00",
}
# The feed's messages; the staff messages other services ask for are tested below.
TEMPLATES = sorted(Renderer().names() - STAFF_MESSAGE_TEMPLATES)
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_rule_names_a_template_present_in_both_languages() -> None:
    renderer = Renderer()
    rules = RuleBook.load(PACKAGE_DIR / "rules.toml", templates=renderer.names())
    assert {rule.template for rule in rules.rules} == set(TEMPLATES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_carries_the_case_number(template: str, language: str) -> None:
    text = Renderer().render(template, language, CONTEXT)
    assert CASE_NUMBER in text.subject
    assert CASE_NUMBER in text.body
    assert "\n" not in text.subject
    assert bool(CJK.search(text.body)) is (language == "zh-CN")


def test_receipt_gives_the_deadlines_in_local_time_and_what_happens_next() -> None:
    zh = Renderer(timezone="Asia/Shanghai").render("receipt", "zh-CN", CONTEXT)
    assert "受理：2026-03-02 10:00 (UTC+08:00) 前" in zh.body
    assert "故障修复：2026-03-01 14:00 (UTC+08:00) 前" in zh.body
    en = Renderer(timezone="Asia/Shanghai").render("receipt", "en", CONTEXT)
    assert "acceptance: by 2026-03-02 10:00 (UTC+08:00)" in en.body
    assert "What happens next" in en.body


def test_result_says_how_to_confirm_dispute_and_appeal() -> None:
    en = Renderer().render("result", "en", CONTEXT).body
    assert "confirm" in en and "dispute" in en and "appeal" in en and "12300" in en
    zh = Renderer().render("result", "zh-CN", CONTEXT).body
    assert "确认" in zh and "异议" in zh and "申诉" in zh


def test_process_notices_say_what_is_needed_and_by_when_in_local_time() -> None:
    zh = Renderer(timezone="Asia/Shanghai").render("paused", "zh-CN", CONTEXT).body
    assert "补充信息" in zh and "2026-03-04 10:00 (UTC+08:00)" in zh
    en = Renderer(timezone="Asia/Shanghai").render("deemed_accepted", "en", CONTEXT).body
    assert "deemed accepted" in en and "2026-03-20 10:00 (UTC+08:00)" in en
    ny = Renderer(timezone="America/New_York").render("restored", "en", CONTEXT).body
    assert "2026-03-01 00:00 (UTC-05:00)" in ny, "the configured zone, not a fixed one"


def test_an_unknown_language_falls_back_to_chinese() -> None:
    text = Renderer().render("survey", "fr", CONTEXT)
    assert CJK.search(text.body)


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(RenderError):
        Renderer().render("sla_warning", "en", {"case_number": CASE_NUMBER, "deadlines": {}})


def test_template_context_holds_no_personal_data() -> None:
    item = {
        "type": "Registered",
        "event_id": "e-1",
        "occurred_at": "2026-03-01T02:00:00+00:00",
        "data": {
            "case_number": CASE_NUMBER,
            "customer": {"name": "张*", "phone": "138****5678", "email": "z***@example.com"},
            "owner": "agent-1",
            "deadlines": {
                "acceptance": {"due_at": "2026-03-02T02:00:00+00:00", "completed_at": None},
                "repair": {"due_at": None, "completed_at": None},
            },
        },
    }
    context = template_context(item, Case(complaint_id="c-1", case_number=CASE_NUMBER))
    flat = repr(context)
    for personal in ("张", "138", "example.com", "customer", "agent-1"):
        assert personal not in flat
    assert context["deadlines"] == {"acceptance": "2026-03-02T02:00:00+00:00"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["receipt", "result", "survey"])
def test_linked_notices_carry_the_portal_link_when_given(template: str, language: str) -> None:
    link = f"https://care.example/c/{CASE_NUMBER}?t=abc.def.ghi"
    with_link = Renderer().render(template, language, {**CONTEXT, "portal_link": link})
    assert link in with_link.body
    assert "https://" not in Renderer().render(template, language, CONTEXT).body


TEAM_REPORT: dict[str, Any] = {
    "team": "billing-team",
    "period": {"from": "2026-03-02", "to": "2026-03-08", "label": "2026-W10"},
    "figures": {
        "received": 12,
        "resolved": 9,
        "open": 3,
        "compliance": 0.8333,
        "breached": 2,
        "satisfied_share": 0.75,
        "responses": 8,
        "reopen_rate": None,
        "escalation_rate": 0.1111,
        "to_accept_median_hours": 2.5,
        "to_final_result_median_hours": None,
    },
    "dashboard_url": "https://audit.example/dashboard?team=billing-team",
    "tree_size": 1843,
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_team_report_gives_the_figures_and_the_dashboard_link(language: str) -> None:
    text = Renderer().render("team_report", language, TEAM_REPORT)
    assert "billing-team" in text.subject and "2026-W10" in text.subject
    hours = "2.5 小时" if language == "zh-CN" else "2.5 h"
    for shown in ("12", "83.3%", "75.0%", "11.1%", hours, "—", TEAM_REPORT["dashboard_url"]):
        assert shown in text.body, shown
    assert bool(CJK.search(text.body)) is (language == "zh-CN")
