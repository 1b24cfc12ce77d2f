"""JSON answers rendered in one pass of the standard library's encoder.

FastAPI's `jsonable_encoder` walks a document in Python, value by value,
before `json.dumps` walks it again; on the complaints service that walk was
a twentieth of the CPU a registration costs. The documents a service builds
itself hold only JSON values, datetimes, dates, UUIDs and enums, so the
encoder's `default` hook converts those few as `jsonable_encoder` would
(ISO 8601 text, the UUID's text, the enum's value) and everything else is
encoded by C code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from fastapi.responses import Response


def _value(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not a JSON value")


class DocumentResponse(Response):
    """`application/json` of a document built by the service (see the module's note)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, status_code, headers)

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, default=_value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
