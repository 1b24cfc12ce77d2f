"""The portal's pages: server-rendered (Jinja2), mobile-first, in the customer's language.

`/c/{case_number}?t=<token>` is the page a notice links to; `/c` looks a case
up with a one-time code. The pages' forms post to the JSON API with the same
token (static/portal.js).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from services.kernel.problems import Problem
from services.portal.api import CaseNumber, case_view, check_token, limit_client
from services.portal.language import COOKIE, LANGUAGES, Words, choose

TEMPLATES = Jinja2Templates(directory=FilePath(__file__).resolve().parent / "templates")
router = APIRouter(include_in_schema=False, dependencies=[Depends(limit_client)])
Lang = Annotated[str | None, Query(max_length=10)]


def _when(value: str | None) -> str:
    """A local ISO time as people read it: `2026-12-03 17:30 (UTC+08:00)`."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


TEMPLATES.env.filters["when"] = _when


def _render(
    request: Request,
    template: str,
    language: str,
    status: int = 200,
    remember: str | None = None,
    **context: Any,
) -> Response:
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": Words(language),
            "lang": language,
            "languages": LANGUAGES,
            "hotline": request.app.state.settings.hotline,
            **context,
        },
        status_code=status,
    )
    if remember:
        response.set_cookie(
            COOKIE, remember, max_age=365 * 24 * 3600, httponly=True, samesite="lax"
        )
    return response


def _language(request: Request, lang: str | None, case_language: str | None = None) -> str:
    return choose(
        lang,
        request.cookies,
        case_language,
        request.headers.get("accept-language"),
        request.app.state.settings.default_language,
    )


@router.get("/", response_class=HTMLResponse)
@router.get("/c", response_class=HTMLResponse)
async def lookup_page(request: Request, lang: Lang = None) -> Response:
    """Look up a case by its number and the customer's phone, with a one-time code."""
    language = _language(request, lang)
    return _render(
        request,
        "lookup.html",
        language,
        remember=language if lang else None,
    )


@router.get("/c/{case_number}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    case_number: CaseNumber,
    t: Annotated[str | None, Query(max_length=4000)] = None,
    lang: Lang = None,
) -> Response:
    """The customer's case: status, time limits, the result, confirm or dispute."""
    try:
        check_token(request, t, case_number)
    except Problem as exc:
        if exc.status != 401:
            raise
        language = _language(request, lang)
        return _render(request, "invalid.html", language, status=401)
    view = await case_view(request, case_number)
    language = _language(request, lang, view["customer"].get("language"))
    return _render(
        request,
        "case.html",
        language,
        remember=language if lang else None,
        case=view,
        token=t,
        case_number=case_number,
    )
