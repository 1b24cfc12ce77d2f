"""The portal's JSON API, for the customer (the portal's pages use it too).

Case routes take `Authorization: Bearer <customer token>`, a token scoped to
the one case in the path. Codes and tokens take no credential; code requests
always answer 202, so they never tell whether a case or a phone exists.
Every route is rate-limited per client address; code requests also per phone.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.kernel.contract import problem_responses
from services.kernel.customer_tokens import CustomerGrant, CustomerTokenRefused, CustomerTokens
from services.kernel.phones import InvalidPhoneNumber, normalise_phone
from services.kernel.problems import Problem
from services.kernel.rate_limit import RateLimiter
from services.portal.cases import CaseDesk

CASE_PATTERN = r"^[0-9A-Za-z-]{1,40}$"
TIMED = ("received_at", "deadlines")
CaseNumber = Annotated[str, Path(pattern=CASE_PATTERN)]


def limit_client(request: Request) -> None:
    """Each client address has its own budget of requests (429 beyond it)."""
    limiter: RateLimiter = request.app.state.client_limiter
    host = request.client.host if request.client else "unknown"
    limiter.check(f"client:{host}")


# Besides the customer token's 401 and the rate limit, the complaints service's own
# answers pass through (404, 409, 410, 422), and 503 when it cannot be reached.
router = APIRouter(
    prefix="/v1/customer",
    tags=["customer"],
    dependencies=[Depends(limit_client)],
    responses=problem_responses(401, 404, 409, 410, 422, 429, 503),
)


class Body(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Rating(Body):
    """Confirm the result with a rating of 1 to 5 stars."""

    satisfaction: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class DisputeBody(Body):
    """Dispute the result, saying why."""

    reason: str = Field(min_length=1, max_length=500)


class CodeRequest(Body):
    """Ask for a one-time code by case number and phone."""

    case_number: str = Field(pattern=CASE_PATTERN)
    phone: str = Field(min_length=3, max_length=40)


class CodeExchange(Body):
    """Trade a one-time code for a customer token."""

    case_number: str = Field(pattern=CASE_PATTERN)
    code: str = Field(pattern=r"^[0-9]{6}$")


def desk(request: Request) -> CaseDesk:
    """The complaints service, as the portal may reach it."""
    found: CaseDesk = request.app.state.desk
    return found


def check_token(request: Request, token: str | None, case_number: str) -> CustomerGrant:
    """The grant of a customer token for this case, or a 401 problem."""
    tokens: CustomerTokens = request.app.state.customer_tokens
    if not token:
        raise Problem(401, "Unauthorized", "A customer token is required.")
    try:
        grant = tokens.verify(token, case_number)
    except CustomerTokenRefused as exc:
        raise Problem(401, "Unauthorized", f"The token is refused: {exc}.") from exc
    limiter: RateLimiter = request.app.state.token_limiter
    limiter.check(token)
    return grant


def customer(request: Request, case_number: CaseNumber) -> CustomerGrant:
    """FastAPI dependency: the bearer customer token for the case in the path."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return check_token(request, token.strip() if scheme.lower() == "bearer" else None, case_number)


def _local(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            return datetime.fromisoformat(value).astimezone(zone).isoformat()
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _local(v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [_local(v, zone) for v in value]
    return value


def local_view(view: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The customer's view with every time in the operator's local zone."""
    shown = {
        k: _local(v, zone) if k in ("received_at", "deadlines") else v for k, v in view.items()
    }
    shown["timezone"] = zone.key
    return shown


async def case_view(request: Request, case_number: str) -> dict[str, Any]:
    """The customer's view of a case, times in local time."""
    view = await desk(request).view(case_number)
    return local_view(view, request.app.state.zone)


@router.get("/complaints/{case_number}", summary="My case")
async def get_case(
    request: Request, case_number: CaseNumber, _: Annotated[CustomerGrant, Depends(customer)]
) -> JSONResponse:
    """Status, masked contact, deadlines in local time, the result and my allowed actions."""
    return JSONResponse(jsonable_encoder(await case_view(request, case_number)))


@router.post("/complaints/{case_number}/confirm", summary="Confirm the result")
async def confirm(
    request: Request,
    case_number: CaseNumber,
    body: Rating,
    _: Annotated[CustomerGrant, Depends(customer)],
) -> JSONResponse:
    """Record `Confirmed` (or the survey answer after closure) by role `customer`."""
    await desk(request).confirm(case_number, body.satisfaction, body.comment)
    return JSONResponse(jsonable_encoder(await case_view(request, case_number)))


@router.post("/complaints/{case_number}/dispute", summary="Dispute the result")
async def dispute(
    request: Request,
    case_number: CaseNumber,
    body: DisputeBody,
    _: Annotated[CustomerGrant, Depends(customer)],
) -> JSONResponse:
    """Record `Disputed` by role `customer`, as the policy's windows allow."""
    await desk(request).dispute(case_number, body.reason)
    return JSONResponse(jsonable_encoder(await case_view(request, case_number)))


def _phone_key(request: Request, phone: str) -> str:
    """A per-process keyed digest of the phone's digits: the limiter never holds the number."""
    try:
        number = normalise_phone(phone)
    except InvalidPhoneNumber:
        number = "".join(ch for ch in phone if ch.isdigit())
    key: bytes = request.app.state.phone_key
    return "phone:" + hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


@router.post("/codes", status_code=202, summary="Send me a one-time code")
async def request_code(request: Request, body: CodeRequest) -> dict[str, Any]:
    """Always 202; when the case and phone match, a code goes to the customer's own channel."""
    phone_limiter: RateLimiter = request.app.state.phone_limiter
    try:
        phone_limiter.check(_phone_key(request, body.phone))
    except Problem:
        # Locked phone: the same answer, and nothing is asked of the complaints service.
        return {"accepted": True}
    await desk(request).request_code(body.case_number, body.phone)
    return {"accepted": True}


@router.post("/tokens", status_code=201, summary="Trade a one-time code for a token")
async def exchange_code(request: Request, body: CodeExchange) -> dict[str, Any]:
    """A customer token for the case (401 for a wrong or used code, 429 while locked)."""
    issued = await desk(request).exchange_code(body.case_number, body.code)
    public_url: str = request.app.state.settings.public_url.rstrip("/")
    return {
        "token": issued["token"],
        "expires_at": issued["expires_at"],
        "url": f"{public_url}/c/{body.case_number}?t={issued['token']}",
    }
