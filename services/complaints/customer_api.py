"""The narrow routes of the customer's channel, for the `service` role only.

The portal and the notifications service call these with their service
tokens, on the customer's behalf; staff use the staff API. No route here
takes a customer token: the portal checks that before it calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from services.complaints import feed
from services.complaints.application import ComplaintNotFound, Conflict
from services.complaints.customer_access import CodeLocked, CodeRefused, CustomerAccess
from services.complaints.domain.errors import ActionNotAllowed, PersonalDataErased
from services.complaints.schemas import Body
from services.kernel.auth import Principal, Role, require
from services.kernel.contract import problem_responses
from services.kernel.customer_tokens import CustomerTokenRefused
from services.kernel.problem_types import problem_type_uri
from services.kernel.problems import Problem
from services.kernel.rendering import DocumentResponse

# Every route runs through `_run`, which answers these (besides the implied ones).
router = APIRouter(
    prefix="/v1/customer-cases",
    tags=["customer channel"],
    responses=problem_responses(404, 409, 410, 429, 503),
)
SERVICE = require(Role.SERVICE)
CaseNumber = Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,40}$")]
T = TypeVar("T")
# The channel the customer used, recorded on the event's actor.
Via = Annotated[Literal["portal", "sms"], Query()]

# The customer's events in the feed: their words stay sealed in the case file.
feed.PUBLIC_FORMS.update(
    {
        "SurveyAnswered": feed._confirmed,
        "CustomerMessaged": lambda event, vault: {"via": event.actor.get("via")},
        "AccessCodeIssued": lambda event, vault: {"expires_at": event.expires_at.isoformat()},
        "AccessCodeUsed": lambda event, vault: {"issued_version": event.issued_version},
        "AccessCodeRefused": lambda event, vault: {"reason": event.reason},
    }
)


class CustomerRating(Body):
    """Confirm the result (or answer the survey) with a rating."""

    satisfaction: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class CustomerDispute(Body):
    """Dispute the result."""

    reason: str = Field(min_length=1, max_length=500)


class CustomerMessage(Body):
    """Words from the customer for the owner."""

    text: str = Field(min_length=1, max_length=2000)


class CodeRequest(Body):
    """Ask for a one-time code: the phone must be the one on file."""

    phone: str = Field(min_length=3, max_length=40)


class CodeExchange(Body):
    """A one-time code, for a customer token."""

    code: str = Field(pattern=r"^[0-9]{6}$")


def _access(request: Request) -> CustomerAccess:
    access: CustomerAccess = request.app.state.customer_access
    if not access.tokens.configured:
        raise Problem(
            503,
            "Not configured",
            "Set COMPLAINTS_CUSTOMER_TOKEN_SECRET to open the customer channel.",
        )
    return access


async def _run(operation: Callable[[], T]) -> T:
    try:
        return await run_in_threadpool(operation)
    except ComplaintNotFound as exc:
        raise Problem(404, "Not Found", "No such complaint.") from exc
    except ActionNotAllowed as exc:
        raise Problem(
            409,
            "Action not allowed",
            f"The customer cannot {exc.action} the case now.",
            type=problem_type_uri("action-not-allowed"),
            status_name=exc.status,
            action=exc.action,
            allowed_actions=exc.allowed,
        ) from exc
    except Conflict as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except PersonalDataErased as exc:
        raise Problem(410, "Gone", str(exc)) from exc
    except CodeLocked as exc:
        raise Problem(
            429,
            "Code locked",
            str(exc),
            type=problem_type_uri("code-locked"),
            headers={"Retry-After": "900"},
            locked_until=exc.until.isoformat(),
        ) from exc
    except CodeRefused as exc:
        raise Problem(401, "Code refused", str(exc), type=problem_type_uri("code-refused")) from exc
    except CustomerTokenRefused as exc:
        raise Problem(503, "Not configured", str(exc)) from exc


@router.get("/{case_number}", summary="The customer's view of their case")
async def customer_view(
    request: Request, case_number: CaseNumber, _: Annotated[Principal, Depends(SERVICE)]
) -> Response:
    """Status, masked contact, deadlines, the result and what the customer may do."""
    access = _access(request)
    view = await _run(lambda: access.view(case_number))
    return DocumentResponse(view)


@router.post("/{case_number}/confirm", summary="The customer confirms or rates")
async def customer_confirm(
    request: Request,
    case_number: CaseNumber,
    body: CustomerRating,
    principal: Annotated[Principal, Depends(SERVICE)],
    via: Via = "portal",
) -> Response:
    """Confirmed (or SurveyAnswered after closure), actor role `customer`."""
    access = _access(request)
    await _run(lambda: access.confirm(case_number, via, body.satisfaction, body.comment))
    return await customer_view(request, case_number, principal)


@router.post("/{case_number}/dispute", summary="The customer disputes the result")
async def customer_dispute(
    request: Request,
    case_number: CaseNumber,
    body: CustomerDispute,
    principal: Annotated[Principal, Depends(SERVICE)],
    via: Via = "portal",
) -> Response:
    """Disputed, actor role `customer`, inside the windows the workflow allows."""
    access = _access(request)
    await _run(lambda: access.dispute(case_number, via, body.reason))
    return await customer_view(request, case_number, principal)


@router.post("/{case_number}/messages", status_code=202, summary="Words from the customer")
async def customer_message(
    request: Request,
    case_number: CaseNumber,
    body: CustomerMessage,
    principal: Annotated[Principal, Depends(SERVICE)],
    via: Via = "portal",
) -> dict[str, Any]:
    """CustomerMessaged (sealed), for the owner."""
    access = _access(request)
    await _run(lambda: access.message(case_number, via, body.text))
    return {"recorded": True}


@router.post("/{case_number}/link-tokens", status_code=201, summary="A token for a notice link")
async def link_token(
    request: Request,
    case_number: CaseNumber,
    principal: Annotated[Principal, Depends(SERVICE)],
) -> dict[str, Any]:
    """A customer token for one case, for the portal link in a notice."""
    access = _access(request)
    issued = await _run(lambda: access.link_token(case_number, "notice"))
    return {"token": issued.token, "expires_at": issued.expires_at.isoformat()}


@router.post("/{case_number}/codes", status_code=202, summary="Send a one-time code")
async def request_code(
    request: Request,
    case_number: CaseNumber,
    body: CodeRequest,
    _: Annotated[Principal, Depends(SERVICE)],
) -> dict[str, Any]:
    """Issue a code when the phone matches; answers alike either way (no enumeration)."""
    access = _access(request)
    try:
        await _run(lambda: access.request_code(case_number, body.phone))
    except Problem as exc:
        if exc.status not in (404, 409, 410):
            raise
    return {"accepted": True}


@router.post("/{case_number}/tokens", status_code=201, summary="A token for a one-time code")
async def exchange_code(
    request: Request,
    case_number: CaseNumber,
    body: CodeExchange,
    _: Annotated[Principal, Depends(SERVICE)],
) -> dict[str, Any]:
    """The customer token for the right, unused, unexpired code."""
    access = _access(request)
    try:
        issued = await _run(lambda: access.exchange_code(case_number, body.code))
    except Problem as exc:
        if exc.status == 404:  # an unknown case looks like a wrong code
            raise Problem(
                401,
                "Code refused",
                "The code is wrong or has expired.",
                type=problem_type_uri("code-refused"),
            ) from exc
        raise
    return {"token": issued.token, "expires_at": issued.expires_at.isoformat()}


@router.get("/by-id/{complaint_id}/codes/{version}", summary="The code a notice carries")
async def code_to_send(
    request: Request,
    complaint_id: UUID,
    version: int,
    _: Annotated[Principal, Depends(SERVICE)],
) -> dict[str, Any]:
    """For the notifications service at send time; 410 once the code is used or void."""
    access = _access(request)
    try:
        code, expires_at = await _run(lambda: access.code_to_send(complaint_id, version))
    except Problem as exc:
        if exc.status == 401:
            raise Problem(410, "Gone", "This code is no longer valid.") from exc
        raise
    return {"code": code, "expires_at": expires_at.isoformat()}
