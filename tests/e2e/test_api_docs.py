"""Every service's /docs and /redoc work with the network cut off (headless Chromium).

The services run as real processes; the `page` fixture aborts any request off
this machine and fails the test if one was tried, so a page that still needs
a CDN fails here. On the complaints service a person's first steps are walked
through: Authorize with a bearer token, then "Try it out" on registration with
the prefilled example body, which must register a complaint.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.kernel.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.processes import SERVICES, ServiceProcess, four_services


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """The four services, each on its own SQLite file, for the whole module."""
    with four_services(tmp_path_factory.mktemp("docs")) as running:
        yield running


@pytest.mark.parametrize("service", SERVICES)
def test_swagger_ui_lists_the_operations_offline(
    page: Page, services: dict[str, ServiceProcess], service: str
) -> None:
    base = services[service].url
    operations = len(
        [op for path in httpx.get(f"{base}/openapi.json").json()["paths"].values() for op in path]
    )
    page.goto(f"{base}/docs")
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible(timeout=15_000)
    assert blocks.count() == operations
    expect(page.locator(".docs-licences a").first).to_have_attribute(
        "href", "/docs/assets/swagger-ui-LICENSE.txt"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_redoc_lists_the_operations_offline(
    page: Page, services: dict[str, ServiceProcess], service: str
) -> None:
    base = services[service].url
    document = httpx.get(f"{base}/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    summary = next(iter(next(iter(document["paths"].values())).values()))["summary"]
    page.goto(f"{base}/redoc")
    expect(page.locator(".api-content")).to_be_visible(timeout=20_000)
    expect(page.locator("h2", has_text=summary).first).to_be_attached()
    # ReDoc's menu lists every operation of the document.
    assert page.locator("li[data-item-id*='operation/']").count() == operations


def test_licences_are_served_with_the_assets(services: dict[str, ServiceProcess]) -> None:
    base = services["complaints"].url
    for name, words in {
        "swagger-ui-LICENSE.txt": "Apache License",
        "redoc-LICENSE.txt": "MIT License",
    }.items():
        response = httpx.get(f"{base}/docs/assets/{name}")
        assert response.status_code == 200
        assert words in response.text
    assert httpx.get(f"{base}/docs/assets/nothing.js").status_code == 404


def test_authorize_then_try_it_out_registers_a_complaint(
    page: Page, services: dict[str, ServiceProcess]
) -> None:
    base = services["complaints"].url
    token = mint_token(JWT_SECRET, "agent-1", ["agent"])
    page.goto(f"{base}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input[type='text'], .modal-ux input[type='password']").first.fill(token)
    page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    page.locator(".modal-ux .auth-btn-wrapper button.btn-done").click()

    register = page.locator(".opblock-post", has=page.locator("[data-path='/v1/complaints']"))
    register.first.locator(".opblock-summary").click()
    register.first.get_by_role("button", name="Try it out").click()
    register.first.get_by_role("button", name="Execute").click()
    status = register.first.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("201", timeout=15_000)

    listing = httpx.get(
        f"{base}/v1/complaints", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert listing, "the example body registered nothing"
