"""The portal's words in zh-CN and en, and how the customer's language is chosen.

The choice, first match wins: `?lang=` (remembered in a cookie), the cookie,
the language on the customer's case, the browser's `Accept-Language`, the
portal's default.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("zh-CN", "en")
COOKIE = "portal_lang"

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "我的投诉",
        "case": "案件编号",
        "status": "当前状态",
        "received_at": "受理时间",
        "deadlines": "处理时限",
        "done": "已完成",
        "breached": "已超时",
        "due": "截止",
        "result": "处理结果",
        "remedy": "补救措施",
        "contact": "联系方式",
        "confirm_title": "确认处理结果",
        "survey_title": "评价本次处理",
        "satisfaction": "满意度（1–5 星，5 为非常满意）",
        "stars": "{n} 星",
        "comment": "意见（选填）",
        "confirm": "确认结果",
        "dispute_title": "对结果有异议",
        "reason": "异议原因",
        "dispute": "提出异议",
        "confirmed": "您已确认处理结果，感谢您的评价。",
        "rated": "感谢您的评价：{n} 星。",
        "sent": "已提交，正在刷新……",
        "failed": "提交失败：",
        "lookup_title": "查询我的投诉",
        "lookup_intro": "请输入案件编号和登记时留下的手机号码，我们会向您发送一次性验证码。",
        "phone": "手机号码",
        "send_code": "获取验证码",
        "code_sent": "如果信息匹配，验证码已发送，请在几分钟内输入。",
        "code": "6 位验证码",
        "open": "查看案件",
        "invalid_link": "链接无效或已过期",
        "invalid_link_text": "请使用案件编号和手机号码重新查询。",
        "lookup_link": "用验证码查询",
        "hotline": "客服热线",
        "appeal": "若对处理仍不满意，您可向工业和信息化部电信用户申诉受理中心（12300）申诉。",
        "language": "语言",
        "error": "出错了",
        "status.received": "已登记",
        "status.accepted": "已受理",
        "status.investigated": "调查完成",
        "status.resolved": "已答复，待您确认",
        "status.disputed": "有异议，重新处理中",
        "status.escalated": "已转申诉机构",
        "status.returned": "申诉机构已退回，继续处理中",
        "status.closed": "已办结",
        "status.withdrawn": "已撤回",
        "milestone.acceptance": "受理",
        "milestone.investigation": "初步调查",
        "milestone.result": "结果答复",
        "milestone.repair": "故障修复",
        "milestone.overall": "全程处理",
        "milestone.reply": "申诉转办答复",
        "milestone.dispute": "异议处理",
        "milestone.appeal": "申诉处理",
    },
    "en": {
        "title": "My complaint",
        "case": "Case number",
        "status": "Status",
        "received_at": "Received",
        "deadlines": "Time limits",
        "done": "done",
        "breached": "overdue",
        "due": "due",
        "result": "Result",
        "remedy": "Remedy",
        "contact": "Contact",
        "confirm_title": "Confirm the result",
        "survey_title": "Rate how we handled it",
        "satisfaction": "Satisfaction (1–5 stars, 5 = very satisfied)",
        "stars": "{n} stars",
        "comment": "Comment (optional)",
        "confirm": "Confirm the result",
        "dispute_title": "Disagree with the result",
        "reason": "Why do you disagree?",
        "dispute": "Dispute the result",
        "confirmed": "You confirmed the result. Thank you for your rating.",
        "rated": "Thank you for your rating: {n} stars.",
        "sent": "Sent, refreshing…",
        "failed": "Could not send: ",
        "lookup_title": "Look up my complaint",
        "lookup_intro": "Enter your case number and the phone number you gave us; "
        "we will send you a one-time code.",
        "phone": "Phone number",
        "send_code": "Send me a code",
        "code_sent": "If the details match, a code is on its way; enter it within minutes.",
        "code": "6-digit code",
        "open": "Open my case",
        "invalid_link": "This link is invalid or has expired",
        "invalid_link_text": "Please look up your case with its number and your phone.",
        "lookup_link": "Look up with a code",
        "hotline": "Hotline",
        "appeal": "If you remain dissatisfied, you may appeal to the MIIT Telecom User "
        "Appeal Centre (12300).",
        "language": "Language",
        "error": "Something went wrong",
        "status.received": "Registered",
        "status.accepted": "Accepted",
        "status.investigated": "Investigated",
        "status.resolved": "Answered, awaiting your confirmation",
        "status.disputed": "Disputed, being handled again",
        "status.escalated": "With the appeal body",
        "status.returned": "Returned by the appeal body, being handled again",
        "status.closed": "Closed",
        "status.withdrawn": "Withdrawn",
        "milestone.acceptance": "Acceptance",
        "milestone.investigation": "Preliminary investigation",
        "milestone.result": "Result",
        "milestone.repair": "Network repair",
        "milestone.overall": "Overall handling",
        "milestone.reply": "Reply to the appeal centre",
        "milestone.dispute": "Handling your dispute",
        "milestone.appeal": "Appeal",
    },
}


def supported(language: str | None) -> str | None:
    """The supported language a tag names (`zh`, `zh-cn`, `en-GB`...), or None."""
    if not language:
        return None
    tag = language.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an `Accept-Language` header, by weight."""
    if not header:
        return None
    ranked = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, i, tag))
    for _, _, tag in sorted(ranked):
        found = supported(tag)
        if found:
            return found
    return None


def choose(
    query: str | None,
    cookies: Mapping[str, str],
    case_language: str | None,
    accept_language: str | None,
    default: str,
) -> str:
    """The language to answer in."""
    return (
        supported(query)
        or supported(cookies.get(COOKIE))
        or supported(case_language)
        or from_accept_language(accept_language)
        or supported(default)
        or "zh-CN"
    )


class Words:
    """The catalogue of one language, for templates: `t("case")`, `t("stars", n=4)`."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.table = TEXT[language]

    def __call__(self, key: str, **values: object) -> str:
        text = self.table.get(key) or TEXT["en"].get(key) or key
        return text.format(**values) if values else text
