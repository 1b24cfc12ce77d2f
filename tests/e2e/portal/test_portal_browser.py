"""From the result e-mail to the customer's act, in headless Chromium, with real processes.

A result notice arrives over real SMTP with a portal link; the page opens in
the customer's language; confirming with 4 stars records `Confirmed` by role
`customer`; a dispute from the page disputes; a one-time code sent by e-mail
opens the case and wrong codes lock it.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.notifications.conftest import SmtpServer, eventually
from tests.e2e.portal.conftest import SystemFactory, history, last_act, register, resolve

ROOT = Path(__file__).resolve().parents[3]
LINK = re.compile(r"http://127\.0\.0\.1:\d+/c/[0-9A-Za-z-]+\?t=[A-Za-z0-9._-]+")
CODE = re.compile(r"\b(\d{6})\b")


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _mail(smtp: SmtpServer, address: str, subject_part: str) -> EmailMessage:
    def found() -> EmailMessage | None:
        for message in smtp.to(address):
            if subject_part in str(message["Subject"]):
                return message
        return None

    return eventually(found, timeout=30)


def test_result_link_opens_in_chinese_and_confirms_with_four_stars(
    system: SystemFactory, smtp: SmtpServer, page: Page, tmp_path: Path
) -> None:
    s = system(smtp_port=smtp.port)
    complaint = register(s.complaints.url, language="zh-CN", email="zhang@example.cn")
    number = complaint["case_number"]
    receipt = _mail(smtp, "zhang@example.cn", number)
    assert LINK.search(_body(receipt)), "the receipt carries a portal link"
    resolve(s.complaints.url, complaint["id"])
    result = _mail(smtp, "zhang@example.cn", "处理结果")
    match = LINK.search(_body(result))
    assert match, _body(result)
    assert match.group(0).startswith(f"{s.portal.url}/c/{number}?t=")

    page.set_viewport_size({"width": 390, "height": 844})  # A phone: the page is mobile-first.
    page.goto(match.group(0))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#status")).to_have_text("已答复，待您确认")
    expect(page.locator("#resolution")).to_have_text("Refund issued")
    expect(page.get_by_role("heading", name="确认处理结果")).to_be_visible()
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the page scrolls sideways on a phone"
    # docs/portal-result.png (in the README) is refreshed on demand only.
    shot = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(shot / "portal-result.png"), full_page=True)
    assert (shot / "portal-result.png").stat().st_size > 10_000
    # By keyboard, as the stars are labelled radios: 1 star, then three steps right.
    page.get_by_label("1 星").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_label("4 星")).to_be_checked()
    page.get_by_label("意见（选填）").fill("处理得很快")
    page.get_by_role("button", name="确认结果").click()
    expect(page.locator("#confirmed")).to_be_visible()

    last = last_act(s.complaints.url, complaint["id"])
    assert last["type"] == "Confirmed"
    assert last["actor"]["role"] == "customer"
    assert last["data"]["satisfaction"] == 4

    # The customer may switch language; the choice sticks.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#confirmed")).to_contain_text("You confirmed the result")


def test_dispute_from_the_page(system: SystemFactory, smtp: SmtpServer, page: Page) -> None:
    s = system(smtp_port=smtp.port)
    complaint = register(s.complaints.url, language="en", email="jane@example.org")
    resolve(s.complaints.url, complaint["id"])
    match = LINK.search(_body(_mail(smtp, "jane@example.org", "The result")))
    assert match
    page.goto(match.group(0))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Why do you disagree?").fill("The refund does not cover the fees")
    page.get_by_role("button", name="Dispute the result").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "disputed")
    last = last_act(s.complaints.url, complaint["id"])
    assert (last["type"], last["actor"]["role"]) == ("Disputed", "customer")
    # Once disputed, the page offers neither act any more.
    expect(page.get_by_role("button", name="Dispute the result")).to_have_count(0)


def test_tampered_link_shows_the_refusal_page(
    system: SystemFactory, smtp: SmtpServer, page: Page
) -> None:
    s = system(smtp_port=smtp.port)
    complaint = register(s.complaints.url, language="en", email="jane@example.org")
    match = LINK.search(_body(_mail(smtp, "jane@example.org", complaint["case_number"])))
    assert match
    response = page.goto(match.group(0)[:-3] + "xyz")
    assert response is not None and response.status == 401
    # No case to say the customer's language: the browser's (zh-CN here) decides.
    expect(page.get_by_role("heading", level=1)).to_have_text("链接无效或已过期")


def test_one_time_code_by_email_opens_the_case_and_wrong_codes_lock(
    system: SystemFactory, smtp: SmtpServer, page: Page
) -> None:
    s = system(smtp_port=smtp.port)
    complaint = register(s.complaints.url, language="en", email="jane@example.org")
    number = complaint["case_number"]
    page.goto(f"{s.portal.url}/c?lang=en")
    page.get_by_label("Case number").fill(number)
    page.get_by_label("Phone number").fill("+86 138-1234-5678")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.locator("#notice")).to_contain_text("If the details match")
    mail = _mail(smtp, "jane@example.org", "one-time code")
    found = CODE.search(_body(mail).replace(number, ""))
    assert found, _body(mail)
    page.get_by_label("6-digit code").fill(found.group(1))
    page.get_by_role("button", name="Open my case").click()
    expect(page.locator("#case")).to_have_attribute("data-case", number)
    types = [e["type"] for e in history(s.complaints.url, complaint["id"])]
    assert "AccessCodeIssued" in types and types[-1] in ("AccessCodeUsed", "ContactRead")
    assert found.group(1) not in str(history(s.complaints.url, complaint["id"]))

    # A new code, then wrong tries: the third locks the case, even for the right code.
    httpx.post(
        f"{s.portal.url}/v1/customer/codes", json={"case_number": number, "phone": "13812345678"}
    )
    second = eventually(
        lambda: [m for m in smtp.to("jane@example.org") if "one-time code" in str(m["Subject"])][1:]
    )[0]
    code_found = CODE.search(_body(second).replace(number, ""))
    assert code_found
    code = code_found.group(1)
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        httpx.post(
            f"{s.portal.url}/v1/customer/tokens", json={"case_number": number, "code": wrong}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    right = httpx.post(
        f"{s.portal.url}/v1/customer/tokens", json={"case_number": number, "code": code}
    )
    assert right.status_code == 429
