"""The portal JSON API against a real complaints service: customer acts, refused tokens."""

from __future__ import annotations

import httpx

from services.kernel.customer_tokens import CustomerTokens
from tests.e2e.notifications.conftest import bearer
from tests.e2e.portal.conftest import (
    CUSTOMER_SECRET,
    SystemFactory,
    last_act,
    link_token,
    register,
    resolve,
)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_customer_reads_and_confirms_with_a_link_token(system: SystemFactory) -> None:
    s = system()
    complaint = register(s.complaints.url)
    resolve(s.complaints.url, complaint["id"])
    number = complaint["case_number"]
    token = link_token(s.complaints.url, number)
    url = f"{s.portal.url}/v1/customer/complaints/{number}"
    view = httpx.get(url, headers=_auth(token))
    assert view.status_code == 200, view.text
    doc = view.json()
    assert doc["status"] == "resolved"
    assert doc["customer"]["phone"] == "138****5678"
    assert doc["result"]["resolution"] == "Refund issued"
    assert doc["allowed_actions"] == ["confirm", "dispute"]
    assert doc["received_at"].endswith("+08:00")  # local time, Asia/Shanghai
    assert "description" not in doc and "owner" not in doc
    confirmed = httpx.post(
        f"{url}/confirm", json={"satisfaction": 4, "comment": "quick"}, headers=_auth(token)
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed"] is True
    last = last_act(s.complaints.url, complaint["id"])
    assert last["type"] == "Confirmed"
    assert last["actor"]["role"] == "customer"
    assert last["data"]["satisfaction"] == 4
    again = httpx.post(f"{url}/confirm", json={"satisfaction": 5}, headers=_auth(token))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_dispute_through_the_api(system: SystemFactory) -> None:
    s = system()
    complaint = register(s.complaints.url)
    resolve(s.complaints.url, complaint["id"])
    number = complaint["case_number"]
    token = link_token(s.complaints.url, number)
    r = httpx.post(
        f"{s.portal.url}/v1/customer/complaints/{number}/dispute",
        json={"reason": "The refund is too small"},
        headers=_auth(token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disputed"
    last = last_act(s.complaints.url, complaint["id"])
    assert (last["type"], last["actor"]["role"]) == ("Disputed", "customer")


def test_tampered_expired_other_case_and_staff_tokens_are_refused(system: SystemFactory) -> None:
    s = system()
    one, other = register(s.complaints.url), register(s.complaints.url)
    token = link_token(s.complaints.url, one["case_number"])
    other_token = link_token(s.complaints.url, other["case_number"])
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    expired, _ = CustomerTokens([CUSTOMER_SECRET]).mint(one["case_number"], -120, "test")
    forged, _ = CustomerTokens(["another-secret-of-enough-length-0123456789"]).mint(
        one["case_number"], 600, "test"
    )
    staff = bearer("supervisor")["Authorization"].removeprefix("Bearer ")
    url = f"{s.portal.url}/v1/customer/complaints/{one['case_number']}"
    for bad in (tampered, expired, forged, other_token, staff, "not-a-token"):
        r = httpx.get(url, headers=_auth(bad))
        assert r.status_code == 401, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        page = httpx.get(f"{s.portal.url}/c/{one['case_number']}", params={"t": bad})
        assert page.status_code == 401
        assert "Refund" not in page.text and one["case_number"] not in page.text
    assert httpx.get(url).status_code == 401
    acted = httpx.post(f"{url}/dispute", json={"reason": "x"}, headers=_auth(other_token))
    assert acted.status_code == 401
    assert last_act(s.complaints.url, one["id"])["type"] == "Registered"


def test_page_shows_the_case_in_the_customers_language(system: SystemFactory) -> None:
    s = system()
    complaint = register(s.complaints.url, language="zh-CN")
    resolve(s.complaints.url, complaint["id"])
    number = complaint["case_number"]
    token = link_token(s.complaints.url, number)
    page = httpx.get(f"{s.portal.url}/c/{number}", params={"t": token})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "处理结果" in page.text and "Refund issued" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    english = httpx.get(f"{s.portal.url}/c/{number}", params={"t": token, "lang": "en"})
    assert '<html lang="en">' in english.text and "Confirm the result" in english.text
    assert httpx.get(f"{s.portal.url}/static/portal.css").status_code == 200


def test_code_requests_always_answer_202(system: SystemFactory) -> None:
    s = system()
    complaint = register(s.complaints.url)
    for body in (
        {"case_number": complaint["case_number"], "phone": "13900000000"},
        {"case_number": "991231-000001", "phone": "13812345678"},
        {"case_number": complaint["case_number"], "phone": "+86 138 1234 5678"},
    ):
        r = httpx.post(f"{s.portal.url}/v1/customer/codes", json=body)
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": True}
    bad = httpx.post(f"{s.portal.url}/v1/customer/codes", json={"case_number": "x y"})
    assert bad.status_code == 422
    body = {"case_number": "991231-000001", "code": "123456"}
    unknown = httpx.post(f"{s.portal.url}/v1/customer/tokens", json=body)
    assert unknown.status_code == 401
