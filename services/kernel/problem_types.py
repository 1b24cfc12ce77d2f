"""The problem types of the services' own: each `type` URI resolves to a page saying what it means.

Every other problem is `about:blank`, titled by its HTTP status alone
(RFC 9457 §4.2.1). A type named here is a relative URI (`/problems/<name>`),
resolved against the service that answered; GET it for this page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from services.kernel.problems import Problem


@dataclass(frozen=True)
class ProblemType:
    """A documented problem type: its title, status and what a client should do."""

    title: str
    status: int
    meaning: str
    extensions: dict[str, str]


PROBLEM_TYPES: dict[str, ProblemType] = {
    "action-not-allowed": ProblemType(
        "Action not allowed",
        409,
        "The complaint's workflow does not allow this action in its current status "
        "(S-1). Pick one of the allowed actions, or reload the complaint first.",
        {
            "status_name": "The complaint's current status.",
            "action": "The action that was refused.",
            "allowed_actions": "The actions the status allows now.",
        },
    ),
    "code-refused": ProblemType(
        "Code refused",
        401,
        "The one-time code is wrong, used or expired, or the case number is unknown "
        "(the two look alike on purpose). Ask for a new code.",
        {},
    ),
    "code-locked": ProblemType(
        "Code locked",
        429,
        "Too many wrong codes for this case: no code is accepted until `locked_until`.",
        {"locked_until": "When codes are accepted again (ISO 8601)."},
    ),
}


def problem_type_uri(name: str) -> str:
    """The `type` URI of a documented problem type."""
    if name not in PROBLEM_TYPES:
        raise KeyError(name)
    return f"/problems/{name}"


def problems_public() -> None:
    """Marks the problem type pages as open to anyone."""


problems_public.allowed_roles = "public"  # type: ignore[attr-defined]

router = APIRouter(include_in_schema=False, dependencies=[Depends(problems_public)])


@router.get("/problems/{name}")
async def problem_type_page(name: str) -> HTMLResponse:
    """What a problem type means and which extension members it carries."""
    found = PROBLEM_TYPES.get(name)
    if found is None:
        raise Problem(404, "Not Found", "No such problem type.")
    members = "".join(
        f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in found.extensions.items()
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(found.title)}</title></head>
<body><h1>{escape(found.title)}</h1>
<p>HTTP status {found.status}. {escape(found.meaning)}</p>
{f"<h2>Extension members</h2><ul>{members}</ul>" if members else ""}
</body></html>
"""
    return HTMLResponse(html)
