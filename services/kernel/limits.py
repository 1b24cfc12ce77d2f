"""Request-body size limit, enforced before the body reaches a handler."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kernel.problems import Problem, problem_response


class BodySizeLimitMiddleware:
    """Answer 413 when a request body is larger than `max_bytes`.

    Checks `Content-Length` first and counts streamed chunks too, so a
    chunked upload cannot slip past the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            413, "Payload Too Large", f"The request body exceeds {self.max_bytes} bytes."
        )
        await problem_response(problem)(scope, receive, send)


class _TooLarge(Exception):
    pass
