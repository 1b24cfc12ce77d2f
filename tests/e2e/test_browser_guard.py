"""The page fixture keeps pages on this machine: a request elsewhere is caught."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

PAGE = b"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>t</title></head>
<body><h1 id="t">\xe6\x8a\x95\xe8\xaf\x89</h1>
<script>fetch("http://example.invalid/x").catch(() => {});</script></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_outside_requests_are_aborted_and_reported(
    page: Page, local_site: str, external_requests: list[str]
) -> None:
    page.goto(local_site)
    assert page.text_content("#t") == "投诉"
    page.wait_for_timeout(300)
    assert external_requests == ["http://example.invalid/x"]
    external_requests.clear()  # seen: the guard worked, so teardown must not fail
