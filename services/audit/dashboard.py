"""The supervisors' and regulators' dashboard: `GET /dashboard`, zh-CN and en.

Sign-in fits the API's bearer auth: the sign-in page takes a token (as issued
by the operator's identity provider), checks it with the service's own
verifier and keeps it in an HttpOnly, SameSite=Strict cookie scoped to
/dashboard; every page request re-checks it and needs the role supervisor,
regulator or admin, as the API does. Charts are Apache ECharts, installed by
version with `npm ci` (services/audit/dashboard/package-lock.json) and served
from here: the page loads nothing from elsewhere (see the CSP header). The
at-risk list is live, from the complaints service's work queue
(`services.audit.work_queue`); every other figure comes from the ledger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from services.audit import api
from services.audit.dashboard_page import (
    CATEGORIES,
    LABELS,
    chart_json,
    dashboard_data,
    table_csv,
)
from services.audit.figures import Scope
from services.audit.indicator_api import figures_of
from services.audit.work_queue import WorkQueueReader
from services.kernel.auth import Principal, Role, TokenVerifier
from services.kernel.problems import Problem
from services.kernel.webapp import public

HERE = Path(__file__).parent / "dashboard"
COOKIE = "audit_session"
READERS = (Role.SUPERVISOR, Role.REGULATOR, Role.ADMIN)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
templates = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(["j2"]))
router = APIRouter(prefix="/dashboard", include_in_schema=False)


def dashboard_reader(request: Request) -> Principal:
    """The signed-in reader from the session cookie (or a bearer header), else 401/403."""
    header = request.headers.get("authorization", "")
    token = request.cookies.get(COOKIE) or (
        header[7:] if header.lower().startswith("bearer ") else None
    )
    if not token:
        if "text/html" in request.headers.get("accept", ""):
            raise Problem(
                303, "See Other", "Sign in first.", headers={"Location": "/dashboard/sign-in"}
            )
        raise Problem(401, "Unauthorized", "Sign in at /dashboard/sign-in.")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(token)
    if not principal.has(*READERS):
        raise Problem(403, "Forbidden", "The dashboard needs the role supervisor or regulator.")
    return principal


dashboard_reader.allowed_roles = frozenset(READERS)  # type: ignore[attr-defined]
Reader = Annotated[Principal, Depends(dashboard_reader)]


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Problem(400, "Bad Request", "Dates are YYYY-MM-DD.") from exc


def _scope(
    request: Request, start: str | None, end: str | None, category: str | None, team: str | None
) -> tuple[Scope, date, date]:
    zone = request.app.state.zone
    today = datetime.now(zone).date()
    first = _day(start, today - timedelta(days=29))
    last = _day(end, today)
    if last < first or (last - first).days > 366:
        raise Problem(400, "Bad Request", "The period must run forwards, at most a year.")
    begin = datetime.combine(first, time(), zone)
    finish = datetime.combine(last + timedelta(days=1), time(), zone)
    return Scope(begin, finish, category or None, team or None), first, last


Param = Annotated[str | None, Query(max_length=100)]


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    who: Reader,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    category: Param = None,
    team: Param = None,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> HTMLResponse:
    """The dashboard page for the filters given (default: the last 30 days)."""
    scope, first, last = _scope(request, start, end, category, team)
    now = datetime.now(UTC)
    queue: WorkQueueReader = request.app.state.work_queue
    # Live, whatever the period: the complaints service's own work queue, over HTTP.
    risky = await queue.due_soon(now, category or None, team or None)
    data = await run_in_threadpool(dashboard_data, figures_of(request), scope, now, risky)
    labels = LABELS[lang]
    filters = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "category": category or "",
        "team": team or "",
    }

    def fmt(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value * 100:.1f}%" if isinstance(value, float) else str(value)

    html = templates.get_template("page.html.j2").render(
        lang=lang,
        L=labels,
        data=data,
        fmt=fmt,
        who=who.id,
        categories=CATEGORIES,
        category=category,
        team=team,
        start=first.isoformat(),
        end=last.isoformat(),
        query=urlencode(filters),
        query_lang=lambda code: urlencode({**filters, "lang": code}),
        chart_json=chart_json(data, labels),
        at_risk_hours=f"{queue.hours:g}",
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})


@router.get("/export.csv")
async def export_csv(
    request: Request,
    _: Reader,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    category: Param = None,
    team: Param = None,
) -> Response:
    """The tables the page shows for the same filters, as CSV."""
    scope, _first, _last = _scope(request, start, end, category, team)
    data = await run_in_threadpool(dashboard_data, figures_of(request), scope, datetime.now(UTC))
    return Response(
        table_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="dashboard.csv"',
            "Audit-Tree-Size": str(data["tree_size"]),
        },
    )


@router.get("/cases/{complaint_id}")
async def case_file(request: Request, who: Reader, complaint_id: str) -> dict[str, Any]:
    """A case file linked from the at-risk list: the API's, with the page's sign-in."""
    return await api.case_file(request, complaint_id, who)


def _sign_in_page(error: str | None = None, status: int = 200) -> HTMLResponse:
    html = templates.get_template("sign-in.html.j2").render(
        lang="zh-CN",
        title="登录 Sign in",
        prompt="访问令牌 Access token (JWT)",
        submit="登录 Sign in",
        error=error,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[Depends(public)])
async def sign_in_form() -> HTMLResponse:
    """The sign-in page."""
    return _sign_in_page()


@router.post("/sign-in", dependencies=[Depends(public)])
async def sign_in(request: Request) -> Response:
    """Check the token given and keep it in the session cookie."""
    # One urlencoded field: parsed here rather than pulling in a multipart parser.
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    token = (form.get("token") or [""])[0].strip()
    if not token or len(token) > 8192:
        return _sign_in_page("请输入令牌 A token is needed.", 400)
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = verifier.verify(token)
    except Problem:
        return _sign_in_page("令牌无效 The token is not valid.", 401)
    if not principal.has(*READERS):
        return _sign_in_page("需要主管或监管角色 Needs the role supervisor or regulator.", 403)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/dashboard",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out", dependencies=[Depends(public)])
async def sign_out() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


ASSETS = {
    "dashboard.js": (HERE / "static" / "dashboard.js", "text/javascript"),
    "dashboard.css": (HERE / "static" / "dashboard.css", "text/css"),
    "echarts.min.js": (HERE / "node_modules/echarts/dist/echarts.min.js", "text/javascript"),
    "echarts-LICENSE.txt": (HERE / "node_modules/echarts/LICENSE", "text/plain"),
}


@router.get("/assets/{name}", dependencies=[Depends(public)])
async def asset(name: str) -> FileResponse:
    """The page's own script, style, and ECharts (with its licence) from npm."""
    found = ASSETS.get(name)
    if found is None:
        raise Problem(404, "Not Found", "No such asset.")
    path, media = found
    if not path.exists():
        raise Problem(503, "Asset missing", "Run `make assets` (npm ci) to install ECharts.")
    return FileResponse(path, media_type=media)
