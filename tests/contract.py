"""Every response a test receives in-process is checked against the app's OpenAPI document.

`tests/conftest.py` wraps `httpx.ASGITransport`, so each request an
integration test sends to an app is validated with openapi-core (a stock
validator, not ours) against that app's own `/openapi.json`: the status must
be documented for the operation, the content type declared, the body valid
against the schema and the required headers present. A test fails at the
request that broke the contract, naming the operation and the reason.

Requests to paths the document leaves out on purpose (the docs pages, the
dashboard's HTML, unknown paths answered 404/405) are not validated: there is
no operation to hold them to. The route-by-role test checks that every other
route is in the document.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from services.kernel.problems import PROBLEM_JSON


class RecordedRequest:
    """An httpx request in openapi-core's request protocol."""

    def __init__(self, request: httpx.Request, body: bytes) -> None:
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = request.url.path
        self.method = request.method.lower()
        self.body: bytes | None = body or None
        self.content_type = request.headers.get("content-type", "").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class RecordedResponse:
    """An httpx response in openapi-core's response protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(list(response.headers.items()))
        self.data: bytes | None = response.content


_documents: dict[str, OpenAPI] = {}


def _text(data: bytes | str, **_: Any) -> str:
    return data.decode() if isinstance(data, bytes) else data


def openapi_of(app: FastAPI) -> OpenAPI:
    """The app's document as openapi-core sees it (built once per distinct document)."""
    document = json.dumps(app.openapi(), sort_keys=True)
    key = hashlib.sha256(document.encode()).hexdigest()
    if key not in _documents:
        # RFC 9457's media type is JSON; openapi-core knows only the common +json types.
        config = Config(
            extra_media_type_deserializers={PROBLEM_JSON: json.loads, "text/csv": _text}
        )
        _documents[key] = OpenAPI.from_dict(json.loads(document), config=config)
    return _documents[key]


def check(app: FastAPI, request: httpx.Request, body: bytes, response: httpx.Response) -> None:
    """Raise AssertionError when `response` breaks the app's published contract."""
    openapi = openapi_of(app)
    recorded = RecordedRequest(request, body)
    try:
        openapi.validate_response(recorded, RecordedResponse(response))
    except (PathNotFound, OperationNotFound):
        return  # deliberately undocumented (see the module docstring)
    except Exception as exc:
        reasons = [str(exc)]
        cause = exc.__cause__
        while cause is not None:
            reasons.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__
        for error in getattr(exc, "schema_errors", None) or ():
            reasons.append(str(error.message))
        raise AssertionError(
            f"{request.method} {request.url.path} → {response.status_code} "
            f"({response.headers.get('content-type')}) breaks the OpenAPI document: "
            + "; ".join(reasons)
            + f"\nbody: {response.content[:600]!r}"
        ) from None


Exchange = tuple[FastAPI, httpx.Request, bytes, httpx.Response]


def record(monkeypatch: Any) -> list[Exchange]:
    """Keep every in-process exchange (an ASGITransport wrapper) for `check_all`.

    Validation waits until the test is over: building a validator takes a
    moment, and tests that race real seconds (deadline monitors) must not
    pay it while they run.
    """
    exchanges: list[Exchange] = []
    original = httpx.ASGITransport.handle_async_request

    async def handle(self: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await original(self, request)
        content = await response.aread()
        kept = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )
        if isinstance(self.app, FastAPI):
            exchanges.append((self.app, request, body, kept))
        return kept

    monkeypatch.setattr(httpx.ASGITransport, "handle_async_request", handle)
    return exchanges


def check_all(exchanges: list[Exchange]) -> None:
    """Validate every recorded exchange; fail naming each response that broke the contract."""
    failures: list[str] = []
    for app, request, body, response in exchanges:
        try:
            check(app, request, body, response)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, f"{len(failures)} response(s) broke the contract:\n" + "\n".join(
        failures[:5]
    )
