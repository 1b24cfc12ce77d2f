"""HTTP routes of the complaints service: parse, authorise, call the application, map errors.

Writes run in the thread pool (the event store is synchronous), accept an
`Idempotency-Key`, and honour `If-Match` on an existing complaint.
"""

import json
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from services.complaints.application import (
    ComplaintNotFound,
    ComplaintsApplication,
    Conflict,
    PreconditionFailed,
    case_id,
)
from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
    PersonalDataErased,
)
from services.complaints.domain.policy import PolicyError, SlaPolicy
from services.complaints.domain.workflow import Action
from services.complaints.feed import Feed
from services.complaints.queue import QueueFilter, WorkQueue
from services.complaints.representation import complaint_view, history_item
from services.complaints.schemas import (
    Accept,
    Close,
    ComplaintView,
    Confirm,
    ContactUpdate,
    Dispute,
    Erase,
    Escalate,
    History,
    Investigate,
    NewComplaint,
    Note,
    Pause,
    PolicyView,
    QueuePage,
    Reopen,
    Resolve,
    Resume,
    Transfer,
    Withdraw,
)
from services.kernel.auth import Principal, Role, require
from services.kernel.idempotency import StoredResponse, idempotently
from services.kernel.problems import PROBLEM_JSON, Problem

router = APIRouter(prefix="/v1")
log = logging.getLogger("services.complaints.api")
MAX_POSITION = 2**63 - 1

READERS = (Role.AGENT, Role.SUPERVISOR, Role.REGULATOR, Role.SERVICE, Role.ADMIN)
WORKERS = (Role.AGENT, Role.SUPERVISOR)
SUPERVISORS = (Role.SUPERVISOR,)

ACTION_BODIES: dict[Action, type[BaseModel]] = {
    Action.ACCEPT: Accept,
    Action.TRANSFER: Transfer,
    Action.INVESTIGATE: Investigate,
    Action.RESOLVE: Resolve,
    Action.CONFIRM: Confirm,
    Action.DISPUTE: Dispute,
    Action.REOPEN: Reopen,
    Action.ESCALATE: Escalate,
    Action.CLOSE: Close,
    Action.WITHDRAW: Withdraw,
    Action.NOTES: Note,
    Action.PAUSE: Pause,
    Action.RESUME: Resume,
    Action.UPDATE_CONTACT: ContactUpdate,
    Action.ERASE: Erase,
}
ACTION_ROLES: dict[Action, tuple[Role, ...]] = {
    Action.CLOSE: SUPERVISORS,
    Action.ESCALATE: SUPERVISORS,
    Action.ERASE: (Role.SUPERVISOR, Role.ADMIN),
}


def _app(request: Request) -> ComplaintsApplication:
    app: ComplaintsApplication = request.app.state.complaints
    return app


def _queue(request: Request) -> WorkQueue:
    queue: WorkQueue = request.app.state.queue
    return queue


def _actor(principal: Principal) -> Actor:
    return Actor(id=principal.id, role=principal.role.value)


def _etag(complaint: Complaint) -> str:
    return f'"{complaint.version}"'


def _expected_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` list accepts (RFC 9110: any of them), None for `*`/absent."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = set()
    for tag in if_match.split(","):
        found = re.fullmatch(r'\s*(?:W/)?"?(\d{1,18})"?\s*', tag)
        if not found:
            raise Problem(400, "Bad Request", "If-Match must list ETags returned by this service.")
        versions.add(int(found.group(1)))
    return frozenset(versions)


def _problem_for(exc: Exception) -> Problem:
    if isinstance(exc, ComplaintNotFound):
        return Problem(404, "Not Found", "No such complaint.")
    if isinstance(exc, ActionNotAllowed):
        return Problem(
            409,
            "Action not allowed",
            str(exc),
            type="/problems/action-not-allowed",
            status_name=exc.status,
            action=exc.action,
            allowed_actions=exc.allowed,
        )
    if isinstance(exc, CommandRejected | Conflict):
        return Problem(409, "Conflict", str(exc))
    if isinstance(exc, PreconditionFailed):
        return Problem(412, "Precondition Failed", str(exc), current_version=exc.actual)
    if isinstance(exc, InvalidValue | PolicyError):
        return Problem(422, "Invalid request", str(exc))
    if isinstance(exc, PersonalDataErased):
        return Problem(410, "Gone", str(exc))
    if isinstance(exc, NotPermitted):
        return Problem(403, "Forbidden", str(exc))
    raise exc


def _clear_text(principal: Principal) -> bool:
    return principal.has(Role.AGENT, Role.SUPERVISOR)


def _complaint_response(
    request: Request, principal: Principal, complaint: Complaint, status: int = 200
) -> JSONResponse:
    headers = {"ETag": _etag(complaint)}
    if status == 201:
        headers["Location"] = f"/v1/complaints/{complaint.id}"
    app = _app(request)
    milestones = app.pinned_policy(complaint).milestones_for(complaint.category)
    view = complaint_view(complaint, app.vault, _clear_text(principal), milestones)
    return JSONResponse(jsonable_encoder(view), status, headers=headers)


async def _write(
    request: Request, principal: Principal, operation: Callable[[], Complaint], status: int
) -> Response:
    """Run a write once per Idempotency-Key, record it in the queue, and answer.

    What is kept for a replay is the complaint's id and version, rendered
    afresh on replay, so no response body (and no personal data in it) is
    ever stored.
    """

    lost_race = False

    async def perform() -> Response:
        nonlocal lost_race
        try:
            complaint = await run_in_threadpool(operation)
        except Exception as exc:
            problem = _problem_for(exc)
            lost_race = isinstance(exc, Conflict)
            return JSONResponse(
                problem.body(request.url.path), problem.status, media_type=PROBLEM_JSON
            )
        try:
            await run_in_threadpool(_queue(request).record, complaint)
        except Exception as exc:
            # The change is saved; the queue's catch-up will project it.
            log.warning("queue not updated", extra={"error_type": type(exc).__name__})
        return _complaint_response(request, principal, complaint, status)

    async def replay(stored: StoredResponse) -> Response:
        if "problem" in stored.body:
            return JSONResponse(stored.body["problem"], stored.status, media_type=PROBLEM_JSON)
        complaint_id, version = UUID(stored.body["complaint_id"]), int(stored.body["version"])
        complaint = await _read(lambda: _app(request).get(complaint_id, version=version))
        return _complaint_response(request, principal, complaint, stored.status)

    def remember(response: Response) -> StoredResponse | None:
        if lost_race:
            return None  # A lost race is worth retrying with the same key: never replay it.
        return _remembered(response)

    return await idempotently(request, principal.id, perform, remember=remember, replay=replay)


def _remembered(response: Response) -> StoredResponse:
    body = json.loads(bytes(response.body))
    if response.status_code >= 400:
        return StoredResponse(response.status_code, {"problem": body}, {})
    return StoredResponse(
        response.status_code, {"complaint_id": body["id"], "version": body["version"]}, {}
    )


async def _read(operation: Callable[[], Any]) -> Any:
    try:
        return await run_in_threadpool(operation)
    except Exception as exc:
        raise _problem_for(exc) from exc


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintView,
    tags=["complaints"],
    summary="Register a complaint; the caller becomes its owner",
)
async def register_complaint(
    request: Request,
    body: NewComplaint,
    principal: Annotated[Principal, Depends(require(*WORKERS))],
) -> Response:
    """Register a complaint received from a customer (S-1, S-4)."""
    app = _app(request)

    def operation() -> Complaint:
        if body.received_at is not None and body.received_at > app.clock.now():
            raise InvalidValue("'received_at' may not be in the future.")
        return app.register(
            _actor(principal),
            customer=body.customer.model_dump(),
            channel=body.channel,
            description=body.description,
            category=body.category,
            received_at=body.received_at,
        )

    return await _write(request, principal, operation, 201)


@router.get("/complaints", response_model=QueuePage, tags=["complaints"])
async def list_complaints(
    request: Request,
    _: Annotated[Principal, Depends(require(*READERS))],
    status: str | None = None,
    owner: str | None = None,
    assignee: str | None = None,
    category: str | None = None,
    breached: bool | None = None,
    due_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Work queues, from the projection table, paginated by cursor."""
    query = QueueFilter(status, owner, assignee, category, breached, due_before)
    try:
        rows, next_cursor = await run_in_threadpool(_queue(request).list, query, limit, cursor)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/complaints/by-number/{case_number}", response_model=ComplaintView, tags=["complaints"]
)
async def get_by_case_number(
    request: Request,
    case_number: str,
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> Response:
    """A complaint by the case number the customer was given."""
    complaint = await _read(lambda: _app(request).get(case_id(case_number)))
    return _complaint_response(request, principal, complaint)


@router.get("/complaints/{complaint_id}", response_model=ComplaintView, tags=["complaints"])
async def get_complaint(
    request: Request,
    complaint_id: UUID,
    principal: Annotated[Principal, Depends(require(*READERS))],
    as_of: Annotated[AwareDatetime | None, Query(description="RFC 3339 instant")] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> Response:
    """A complaint now, or as it was at `as_of` or `version` (S-6)."""
    if as_of is not None and version is not None:
        raise Problem(400, "Bad Request", "Give at most one of 'as_of' and 'version'.")
    app = _app(request)

    def operation() -> Complaint:
        if as_of is not None:
            return app.get_as_of(complaint_id, as_of)
        complaint = app.get(complaint_id, version=version)
        if version is not None and complaint.version != version:
            raise ComplaintNotFound(f"{complaint_id} has no version {version}")
        return complaint

    return _complaint_response(request, principal, await _read(operation))


@router.get("/complaints/{complaint_id}/history", response_model=History, tags=["complaints"])
async def get_history(
    request: Request,
    complaint_id: UUID,
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> dict[str, Any]:
    """The case file: every event in order, with who, when and why."""
    app = _app(request)

    def operation() -> dict[str, Any]:
        events = app.history(complaint_id)
        clear = _clear_text(principal)
        return {
            "complaint_id": str(complaint_id),
            "case_number": getattr(events[0], "case_number", ""),
            "events": [history_item(e, app.vault, clear) for e in events],
        }

    return await _read(operation)


@router.get("/complaints/{complaint_id}/contact-reads", tags=["personal data"])
async def list_contact_reads(
    request: Request,
    complaint_id: UUID,
    _: Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.REGULATOR, Role.ADMIN))],
) -> dict[str, Any]:
    """Who read the customer's clear contact details, when and why (S-11)."""
    events = await _read(lambda: _app(request).history(complaint_id))
    reads = [
        {
            "version": e.originator_version,
            "occurred_at": e.timestamp,
            "actor": getattr(e, "actor", {}),
            "purpose": getattr(e, "purpose", ""),
        }
        for e in events
        if type(e).__name__ == "ContactRead"
    ]
    return {"complaint_id": str(complaint_id), "reads": reads}


def _action_route(action: Action, model: type[BaseModel]) -> None:
    roles = ACTION_ROLES.get(action, WORKERS)

    async def handler(
        request: Request,
        complaint_id: UUID,
        body: model,  # type: ignore[valid-type]
        principal: Annotated[Principal, Depends(require(*roles))],
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        expected = _expected_versions(if_match)
        params = cast(BaseModel, body).model_dump()
        app = _app(request)
        return await _write(
            request,
            principal,
            lambda: app.act(complaint_id, action, _actor(principal), params, expected),
            200,
        )

    handler.__name__ = f"{action.value}_complaint"
    handler.__doc__ = model.__doc__
    router.add_api_route(
        f"/complaints/{{complaint_id}}/{action.value}",
        handler,
        methods=["POST"],
        response_model=ComplaintView,
        tags=["workflow"],
        summary=f"{action.value.capitalize()}: {model.__doc__}",
    )


for _action, _model in ACTION_BODIES.items():
    _action_route(_action, _model)


@router.get("/complaints/{complaint_id}/contact", tags=["complaints"])
async def read_contact(
    request: Request,
    complaint_id: UUID,
    principal: Annotated[Principal, Depends(require(Role.AGENT, Role.SUPERVISOR, Role.SERVICE))],
    purpose: Annotated[str, Query(min_length=3, max_length=200)],
) -> dict[str, Any]:
    """The customer's clear contact details; the read itself is recorded (S-11).

    Served to the owner, the assignee, supervisors and the `service` role.
    """
    app = _app(request)
    complaint, contact = await _read(
        lambda: app.read_contact(complaint_id, _actor(principal), purpose)
    )
    await run_in_threadpool(_queue(request).record, complaint)
    return {
        "complaint_id": str(complaint.id),
        "case_number": complaint.case_number,
        "customer": contact,
    }


@router.get("/events", tags=["feed"])
async def read_feed(
    request: Request,
    _: Annotated[Principal, Depends(require(Role.SERVICE, Role.REGULATOR, Role.ADMIN))],
    after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
) -> dict[str, Any]:
    """Events after position `after`, in commit order; `wait` long-polls for new ones."""
    feed: Feed = request.app.state.feed
    if wait > 0:
        await feed.wait_beyond(after, min(wait, request.app.state.settings.feed_max_wait_seconds))
    items, last = await run_in_threadpool(feed.page, after, limit)
    head = await run_in_threadpool(feed.head)
    return {"items": items, "last_position": last, "head": max(head, last)}


def _hours(td: timedelta) -> str:
    """A working-time duration in hours, as policies write it (`PT24H`, not `P1D`)."""
    seconds = int(td.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def _policy_view(policy: SlaPolicy) -> dict[str, Any]:
    retention = policy.retention_after_close
    return {
        "id": policy.id,
        "version": policy.version,
        "effective_from": policy.effective_from,
        "source": policy.source,
        "calendar": policy.calendar,
        "warning_at": policy.warning_at,
        "pausable": sorted(policy.pausable),
        "milestones": {k: _hours(v) for k, v in policy.milestones.items()},
        "categories": {
            c: {k: _hours(v) for k, v in m.items()} for c, m in policy.category_milestones.items()
        },
        "retention_after_close": f"P{retention.days}D" if retention else None,
    }


@router.get("/policies", response_model=list[PolicyView], tags=["policies"])
async def list_policies(
    request: Request, _: Annotated[Principal, Depends(require(*READERS))]
) -> list[dict[str, Any]]:
    """Every SLA policy version known to the service (S-3)."""
    return [_policy_view(p) for p in _app(request).policies.policies()]
