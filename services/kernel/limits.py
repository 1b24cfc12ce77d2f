"""Limits on what a request may carry, enforced before it reaches a handler.

A body larger than the limit is a 413; a NUL character anywhere in the path,
the query or a body is a 400 (no database column stores it, and PostgreSQL
refuses it outright), so odd input is refused up front instead of failing
deep in a handler.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kernel.problems import Problem, problem_response


class RequestLimitsMiddleware:
    """Answer 413 when a request body is larger than `max_bytes`, 400 on a NUL character.

    `Content-Length` is checked first; a chunked body is read in full (up to
    the limit) before the app sees any of it, so an oversized upload is a 413
    however it is sent, never a parse error from deeper down.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = bytes(scope.get("query_string") or b"").lower()
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await self._refuse_nul(scope, receive, send)
            return
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see the disconnect.
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if b"\x00" in body or b"\\u0000" in body.lower():
            await self._refuse_nul(scope, receive, send)
            return
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse_nul(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(400, "Bad Request", "NUL characters are not accepted.")
        await problem_response(problem)(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            413, "Payload Too Large", f"The request body exceeds {self.max_bytes} bytes."
        )
        await problem_response(problem)(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives back the buffered messages, then the real stream."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
