"""HTTP routes of the notifications service: parse, authorise, call the outbox, answer.

Operators (supervisors and admins) read the outbox and retry dead messages;
admins manage webhook subscriptions. Writes accept an `Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.kernel.auth import Principal, Role, require
from services.kernel.contract import header, problem_responses
from services.kernel.idempotency import idempotency_key, idempotently
from services.kernel.problems import PROBLEM_JSON, Problem
from services.notifications.destinations import DestinationRefused, DestinationRules, Unresolvable
from services.notifications.outbox import MessageFilter, Outbox
from services.notifications.schemas import (
    AttemptView,
    CreatedSubscription,
    MessageDetail,
    MessagePage,
    MessageStatus,
    MessageView,
    NewStaffMessage,
    NewSubscription,
    QueuedStaffMessages,
    SubscriptionView,
)
from services.notifications.staff_messages import StaffMessageRefused, StaffMessages
from services.notifications.webhooks import Subscriptions

router = APIRouter(prefix="/v1")

OPERATORS = (Role.SUPERVISOR, Role.ADMIN)
CALLERS = (Role.SERVICE, Role.ADMIN)
ADMINS = (Role.ADMIN,)


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


def _subscriptions(request: Request) -> Subscriptions:
    subscriptions: Subscriptions = request.app.state.subscriptions
    return subscriptions


async def _idempotent(
    request: Request, principal: Principal, operation: Callable[[], JSONResponse]
) -> Response:
    """Run a write once per Idempotency-Key and replay its answer to repeats."""
    return await idempotently(request, principal.id, lambda: _answer(request, operation))


async def _answer(request: Request, operation: Callable[[], JSONResponse]) -> JSONResponse:
    try:
        return await run_in_threadpool(operation)
    except Problem as problem:
        return JSONResponse(problem.body(request.url.path), problem.status, media_type=PROBLEM_JSON)


@router.get("/notifications", response_model=MessagePage, tags=["notifications"])
async def list_notifications(
    request: Request,
    _: Annotated[Principal, Depends(require(*OPERATORS))],
    complaint_id: str | None = None,
    status: MessageStatus | None = None,
    channel: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> dict[str, Any]:
    """Messages, newest first, filtered by complaint, status and channel; paginated by cursor."""
    query = MessageFilter(complaint_id, status, channel)
    before = int(cursor) if cursor else None
    rows, next_seq = await run_in_threadpool(_outbox(request).list, query, limit, before)
    return {
        "items": [MessageView.of(m) for m in rows],
        "next_cursor": str(next_seq) if next_seq is not None else None,
    }


@router.get("/notifications/{message_id}", response_model=MessageDetail, tags=["notifications"])
async def get_notification(
    request: Request,
    message_id: str,
    _: Annotated[Principal, Depends(require(*OPERATORS))],
) -> MessageDetail:
    """One message with every attempt to deliver it."""
    outbox = _outbox(request)
    message = await run_in_threadpool(outbox.get, message_id)
    if message is None:
        raise Problem(404, "Not Found", "No such notification.")
    history = await run_in_threadpool(outbox.attempts_of, message_id)
    return MessageDetail(
        **MessageView.of(message).model_dump(),
        attempt_history=[AttemptView.of(a) for a in history],
    )


@router.post(
    "/notifications/{message_id}/retry",
    response_model=MessageView,
    responses=problem_responses(409, 422),
    dependencies=[Depends(idempotency_key)],
    tags=["notifications"],
)
async def retry_notification(
    request: Request,
    message_id: str,
    principal: Annotated[Principal, Depends(require(*OPERATORS))],
) -> Response:
    """Send a dead message again, with a fresh round of attempts."""
    outbox = _outbox(request)

    def operation() -> JSONResponse:
        message = outbox.retry(message_id)
        if message is None:
            current = outbox.get(message_id)
            if current is None:
                raise Problem(404, "Not Found", "No such notification.")
            raise Problem(
                409,
                "Not dead",
                f"Only a dead notification can be retried; this one is {current.status}.",
                status_name=current.status,
            )
        return JSONResponse(jsonable_encoder(MessageView.of(message)))

    return await _idempotent(request, principal, operation)


@router.post(
    "/staff-messages",
    status_code=202,
    response_model=QueuedStaffMessages,
    responses=problem_responses(409, 422),
    dependencies=[Depends(idempotency_key)],
    tags=["notifications"],
)
async def send_staff_message(
    request: Request,
    body: NewStaffMessage,
    principal: Annotated[Principal, Depends(require(*CALLERS))],
) -> Response:
    """Tell staff something another service asks for, once per key and recipient.

    Each recipient known to the staff directory gets one message in their
    language, on their channel; the same `key` again adds nothing and answers
    with the messages already queued (so does a repeated `Idempotency-Key`).
    """
    staff: StaffMessages = request.app.state.staff_messages

    def operation() -> JSONResponse:
        try:
            queued = staff.queue(str(body.key), body.template, body.recipients, body.context)
        except StaffMessageRefused as exc:
            raise Problem(422, "Unprocessable Content", str(exc)) from exc
        answer = QueuedStaffMessages(
            key=body.key,
            messages=[MessageView.of(m) for m in queued.messages],
            unknown=queued.unknown,
        )
        return JSONResponse(jsonable_encoder(answer), 202)

    return await _idempotent(request, principal, operation)


@router.post(
    "/webhooks",
    status_code=201,
    response_model=CreatedSubscription,
    responses={
        201: {"description": "Subscribed.", "headers": {"Location": header("Location")}},
        **problem_responses(409, 422),
    },
    dependencies=[Depends(idempotency_key)],
    tags=["webhooks"],
)
async def create_subscription(
    request: Request,
    body: NewSubscription,
    principal: Annotated[Principal, Depends(require(*ADMINS))],
) -> Response:
    """Subscribe a URL to feed events; the answer holds the signing secret, shown only once."""
    subscriptions = _subscriptions(request)

    def operation() -> JSONResponse:
        refusal = _destination_refusal(request, str(body.url))
        if refusal is not None:
            raise Problem(422, "Invalid request", refusal)
        created = subscriptions.create(
            str(body.url), body.event_types, body.secret, body.description
        )
        view = CreatedSubscription(
            **SubscriptionView.of(created).model_dump(), secret=created.secret
        )
        return JSONResponse(
            jsonable_encoder(view), 201, headers={"Location": f"/v1/webhooks/{created.id}"}
        )

    return await _idempotent(request, principal, operation)


def _destination_refusal(request: Request, url: str) -> str | None:
    """Why `url` may not be subscribed, if it may not (names that do not resolve yet pass:
    every delivery checks again)."""
    rules = DestinationRules(request.app.state.settings.webhook_allow_private)
    try:
        rules.check(url)
    except DestinationRefused as exc:
        hint = (
            ""
            if rules.allow_private
            else ("; set NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE for local receivers")
        )
        return f"Webhook URLs may not point at internal addresses: {exc}{hint}."
    except Unresolvable:
        return None
    return None


@router.get("/webhooks", response_model=list[SubscriptionView], tags=["webhooks"])
async def list_subscriptions(
    request: Request, _: Annotated[Principal, Depends(require(*ADMINS))]
) -> list[SubscriptionView]:
    """Every webhook subscription."""
    found = await run_in_threadpool(_subscriptions(request).all)
    return [SubscriptionView.of(s) for s in found]


@router.get("/webhooks/{subscription_id}", response_model=SubscriptionView, tags=["webhooks"])
async def get_subscription(
    request: Request, subscription_id: str, _: Annotated[Principal, Depends(require(*ADMINS))]
) -> SubscriptionView:
    """One webhook subscription."""
    found = await run_in_threadpool(_subscriptions(request).get, subscription_id)
    if found is None:
        raise Problem(404, "Not Found", "No such subscription.")
    return SubscriptionView.of(found)


@router.delete("/webhooks/{subscription_id}", status_code=204, tags=["webhooks"])
async def delete_subscription(
    request: Request, subscription_id: str, _: Annotated[Principal, Depends(require(*ADMINS))]
) -> Response:
    """Remove a subscription; its undelivered messages go dead (`subscription-removed`)."""
    if not await run_in_threadpool(_subscriptions(request).delete, subscription_id):
        raise Problem(404, "Not Found", "No such subscription.")
    return Response(status_code=204)
