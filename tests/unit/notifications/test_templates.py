"""Templates: every message in zh-CN and en, with the case number and nothing personal."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.notifications.cases import Case
from services.notifications.intake import template_context
from services.notifications.rules import RuleBook
from services.notifications.settings import PACKAGE_DIR
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
}
TEMPLATES = sorted(Renderer().names())
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
