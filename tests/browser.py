"""Headless Chromium for page tests: Debian's browser driven by Playwright.

The pages of this project must work inside an operator's closed network, so
every page test runs with the outside world cut off: a request to any host
other than the loopback address is aborted, and the test fails at teardown
naming the address it tried. The browser is Debian's `chromium` package
(never a downloaded one); `.ci/run` installs it, and a test needing it fails
with the install command when it is missing.

Use the fixtures from plain `def` tests (Playwright's sync API cannot run
inside an event loop):

    def test_page(page: Page, live_server: str) -> None:
        page.goto(f"{live_server}/dashboard")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INSTALL_HINT = (
    "Debian's Chromium is missing: run "
    "`apt-get update && apt-get install -y chromium chromium-driver fonts-noto-cjk` "
    "(.ci/run does this in CI)"
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def is_local(url: str) -> bool:
    """Whether a page request stays on this machine (data: and blob: URLs do)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module.

    Not per session: while Playwright's sync driver is alive it leaves its event
    loop marked as running in the main thread, and every async test after it
    would fail with "Runner.run() cannot be called from a running event loop".
    """
    if shutil.which(CHROMIUM) is None:
        pytest.fail(INSTALL_HINT)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def external_requests() -> list[str]:
    """Every request a page tried to send off this machine (filled by `page`)."""
    return []


@pytest.fixture
def page(browser: Browser, external_requests: list[str]) -> Iterator[Page]:
    """A fresh browser context and page; requests off the machine are aborted.

    The test fails at teardown if the page tried to reach any other host:
    a page that needs the internet does not work in an operator's network.
    """
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})

    def guard(route: Route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            external_requests.append(url)
            route.abort()

    context.route("**/*", guard)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()
    assert not external_requests, f"the page tried to leave the machine: {external_requests}"
