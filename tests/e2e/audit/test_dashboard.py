"""The dashboard in headless Chromium, against the real complaints and audit services.

Real processes, real data written through the complaints API; the page is
signed in with a supervisor's token, its charts must draw, a filter must
change its figures, its CSV must be its table, and it must load nothing from
anywhere but the audit service (the `page` fixture fails the test otherwise).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page

from tests.e2e.audit.conftest import System, bearer
from tests.processes import ROOT

CANVAS_DRAWN = """id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas) return 0;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
  return drawn;
}"""


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/dashboard")
    assert page.url.endswith("/dashboard/sign-in")  # not signed in yet: sent to sign in
    page.fill("textarea[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")


def table(page: Page, name: str) -> dict[str, list[str]]:
    rows = page.locator(f"#table-{name} tbody tr")
    out = {}
    for n in range(rows.count()):
        cells = rows.nth(n).locator("td").all_inner_texts()
        out[cells[0]] = cells[1:]
    return out


def test_the_dashboard_with_real_services(
    start_system: Callable[..., System], tmp_path: Path, page: Page
) -> None:
    system = start_system(
        f"sqlite:///{tmp_path / 'complaints.db'}",
        f"sqlite:///{tmp_path / 'audit.db'}",
        # The result falls due 48 h after the investigation: within a 100 h window.
        AUDIT_AT_RISK_HOURS="100",
    )
    system.write_complaints(4, tag="1")
    system.wait_until_caught_up()
    base = system.audit.url
    token = bearer("supervisor", sub="supervisor-1")["Authorization"].removeprefix("Bearer ")

    agent = bearer("agent")["Authorization"].removeprefix("Bearer ")
    page.goto(f"{base}/dashboard/sign-in")
    page.fill("textarea[name=token]", agent)
    page.click("button[type=submit]")
    assert "Needs the role supervisor" in page.inner_text(".error")  # roles as on the API

    sign_in(page, base, token)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["audit_session"]["httpOnly"] is True
    assert page.inner_text("[data-card=open] .value") == "4"
    for chart in ("chart-compliance", "chart-breaches", "chart-satisfaction"):
        page.wait_for_selector(f"#{chart}[data-drawn=true]", state="attached")
        assert page.evaluate(CANVAS_DRAWN, chart) > 100, chart
    # Four complaints by agent-1, accepted in time: compliance 100%, owned by agent-1.
    agents = table(page, "agent")
    assert agents == {"agent-1": ["4", "4", "100.0%", "—", "—"]}
    assert table(page, "team") == {"未分班组": ["4", "4", "100.0%", "—", "—"]}  # zh-CN page
    api = httpx.get(
        f"{base}/v1/audit/indicators",
        params={"by": "assignee"},
        headers=bearer("supervisor"),
    ).json()
    assert api["groups"][0]["counts"]["open"] == 4
    assert api["groups"][0]["compliance"]["overall"]["rate"] == 1.0

    # docs/dashboard.png (shown in the README) is refreshed on demand only, so a test
    # run leaves the checkout as it found it.
    shot = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(shot / "dashboard.png"), full_page=True)
    assert (shot / "dashboard.png").stat().st_size > 10_000

    with page.expect_download() as download:
        page.click("#download")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    shown = {(r["table"], r["group"]): r for r in csv.DictReader(io.StringIO(text))}
    assert set(shown) == {("team", "no team"), ("agent", "agent-1")}
    assert shown[("agent", "agent-1")]["received"] == agents["agent-1"][0]
    assert shown[("agent", "agent-1")]["compliance"] == "1.0"

    page.select_option("select[name=category]", "privacy")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert "category=privacy" in page.url
    assert page.inner_text("[data-card=open] .value") == "0"
    assert table(page, "agent") == {}

    page.goto(f"{base}/dashboard?lang=en")
    assert page.inner_text("h1") == "Complaint quality dashboard"
    assert_at_risk_from_the_work_queue(system, page)


def assert_at_risk_from_the_work_queue(system: System, page: Page) -> None:
    """The at-risk list is the complaints service's work queue, and degrades without it."""
    base = system.audit.url
    queue = httpx.get(
        f"{system.complaints.url}/v1/complaints", headers=bearer("supervisor"), timeout=10
    ).json()["items"]
    due = sorted(queue, key=lambda row: row["next_due_at"])
    rows = page.locator("#at-risk tbody tr")
    # None of these clocks was warned: a list from the ledger's warnings would be empty.
    assert rows.count() == 4
    assert "within 100 h" in page.inner_text("#at-risk-section h2")
    links = [rows.nth(n).locator("a") for n in range(4)]
    assert [link.inner_text() for link in links] == [row["case_number"] for row in due]
    # Investigated at once: the overall 48 h from receipt falls due before the result
    # (48 h from the investigation); the milestone is named from the ledger's clocks.
    milestones = [rows.nth(n).locator("td").nth(1).inner_text() for n in range(4)]
    assert milestones == ["overall handling"] * 4  # named in the page's language
    assert page.inner_text("[data-card=at_risk] .value") == "4"
    href = links[0].get_attribute("href")
    assert href == f"/dashboard/cases/{due[0]['complaint_id']}"
    case_file = page.request.get(f"{base}{href}")  # the page's own session cookie
    assert case_file.status == 200
    assert case_file.json()["complaint_id"] == due[0]["complaint_id"]
    assert [e["type"] for e in case_file.json()["entries"]][:1] == ["Registered"]

    system.complaints.stop()  # the work queue is gone; the page still answers, and says so
    response = page.goto(f"{base}/dashboard?lang=en")
    assert response is not None and response.status == 200
    assert "cannot be read right now" in page.inner_text("#at-risk-unavailable")
    assert page.inner_text("[data-card=at_risk] .value") == "—"
    assert page.inner_text("[data-card=open] .value") == "4"  # the ledger's figures still show
