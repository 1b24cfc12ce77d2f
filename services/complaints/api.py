"""HTTP routes of the complaints service: parse, authorise, call the application, map errors.

Writes run in the thread pool (the event store is synchronous), accept an
`Idempotency-Key`, and honour `If-Match` on an existing complaint.
"""

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from services.complaints.application import (
    Answer,
    ComplaintNotFound,
    ComplaintsApplication,
    Conflict,
    PreconditionFailed,
    case_id,
)
from services.complaints.customer_history import CustomerHistory
from services.complaints.customer_searches import SEARCH_PURPOSES, SearchLog
from services.complaints.domain import allowance
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
from services.complaints.representation import Words, complaint_view, free_text, history_item
from services.complaints.schemas import (
    Accept,
    Claim,
    Close,
    ComplaintView,
    Confirm,
    ContactUpdate,
    Dispute,
    Erase,
    Escalate,
    FeedPage,
    FollowUp,
    FollowUpAnswer,
    History,
    Investigate,
    NewComplaint,
    Note,
    Pause,
    PolicyView,
    QueuePage,
    Reopen,
    Resolve,
    Restore,
    Resume,
    Return,
    Transfer,
    Withdraw,
)
from services.kernel.auth import Principal, Role, require
from services.kernel.contract import header, problem_responses
from services.kernel.database import Row
from services.kernel.idempotency import (
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    idempotency_key,
)
from services.kernel.problem_types import problem_type_uri
from services.kernel.problems import PROBLEM_JSON, Problem
from services.kernel.rendering import DocumentResponse

router = APIRouter(prefix="/v1")
log = logging.getLogger("services.complaints.api")
MAX_POSITION = 2**63 - 1
SearchPurpose = Literal[SEARCH_PURPOSES]  # type: ignore[valid-type]

READERS = (Role.AGENT, Role.SUPERVISOR, Role.REGULATOR, Role.SERVICE, Role.ADMIN)
WORKERS = (Role.AGENT, Role.SUPERVISOR)
SUPERVISORS = (Role.SUPERVISOR,)

# What a complaint answer carries, and what a write or a read of one can go wrong with.
VERSIONED = {"headers": {"ETag": header("ETag")}}
CREATED = {
    "description": "Registered.",
    "headers": {"ETag": header("ETag"), "Location": header("Location")},
}
WRITE_ERRORS = problem_responses(403, 404, 409, 410, 412, 422)
READ_ERRORS = problem_responses(404, 410)

ACTION_BODIES: dict[Action, type[BaseModel]] = {
    Action.ACCEPT: Accept,
    Action.TRANSFER: Transfer,
    Action.CLAIM: Claim,
    Action.INVESTIGATE: Investigate,
    Action.RESOLVE: Resolve,
    Action.CONFIRM: Confirm,
    Action.DISPUTE: Dispute,
    Action.REOPEN: Reopen,
    Action.ESCALATE: Escalate,
    Action.RETURN: Return,
    Action.RESTORE: Restore,
    Action.FOLLOW_UP: FollowUp,
    Action.ANSWER_FOLLOW_UP: FollowUpAnswer,
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
    Action.RETURN: SUPERVISORS,
    Action.FOLLOW_UP: SUPERVISORS,
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
            type=problem_type_uri("action-not-allowed"),
            status_name=exc.status,
            action=exc.action,
            allowed_actions=exc.allowed,
        )
    if isinstance(exc, CommandRejected | Conflict):
        return Problem(409, "Conflict", str(exc))
    if isinstance(exc, PreconditionFailed):
        return Problem(412, "Precondition Failed", str(exc), current_version=exc.actual)
    if isinstance(exc, InvalidValue | PolicyError):
        return Problem(422, "Unprocessable Content", str(exc))
    if isinstance(exc, PersonalDataErased):
        return Problem(410, "Gone", str(exc))
    if isinstance(exc, NotPermitted):
        return Problem(403, "Forbidden", str(exc))
    raise exc


# Why the customer's words are opened: given as `purpose`, recorded with the read (S-11).
ReadPurpose = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=200,
        description="Why you open the customer's words: the read is recorded (TextRead). "
        "Without it they are withheld.",
    ),
]


def _words(clear: bool, erased: bool) -> Words:
    """How sealed words show: erased beats everything; clear only after a recorded read."""
    return Words.ERASED if erased else Words.CLEAR if clear else Words.WITHHELD


def _complaint_response(
    request: Request, complaint: Complaint, status: int = 200, words: Words = Words.WITHHELD
) -> Response:
    headers = {"ETag": _etag(complaint)}
    if status == 201:
        headers["Location"] = f"/v1/complaints/{complaint.id}"
    app = _app(request)
    milestones = app.pinned_policy(complaint).milestones_for(complaint.category)
    if complaint.erased:
        words = Words.ERASED
    view = complaint_view(complaint, app.vault, words, milestones)
    return DocumentResponse(view, status, headers=headers)


async def _opened(
    request: Request, principal: Principal, complaint_id: UUID, purpose: str | None, scope: str
) -> tuple[Words, Complaint | None]:
    """Record a clear read of the words when a purpose is given (refused without need)."""
    if purpose is None:
        return Words.WITHHELD, None
    app = _app(request)
    current: Complaint = await _read(
        lambda: app.read_words(complaint_id, _actor(principal), purpose, scope)
    )
    if not current.erased:
        await run_in_threadpool(_queue(request).record, current)
    return _words(True, current.erased), current


async def _write(
    request: Request,
    principal: Principal,
    operation: Callable[[Answer | None], Complaint],
    status: int,
) -> Response:
    """Run a write once per Idempotency-Key and answer.

    The answer kept for a replay (the complaint's id and version, rendered
    afresh on replay, so no personal data is ever stored) is saved in the
    command's own transaction: a retry after any crash finds either the
    command and its answer, or neither. A refusal is kept too, in a
    transaction of its own (it wrote nothing); a lost race is never kept,
    as it is worth retrying.
    """
    key = request.headers.get("Idempotency-Key")
    store: IdempotencyStore = request.app.state.idempotency
    answer: Answer | None = None
    print_ = ""
    if key is not None:
        print_ = fingerprint(request.method, request.url.path, await request.body())
        stored = await run_in_threadpool(store.find, principal.id, key, print_)
        if stored is not None:
            return await _replay(request, principal, stored)

        def answer(complaint: Complaint) -> Row:
            body = {"complaint_id": str(complaint.id), "version": complaint.version}
            return store.answer_row(principal.id, key, print_, StoredResponse(status, body, {}))

    try:
        complaint = await run_in_threadpool(operation, answer)
    except Exception as exc:
        problem = _problem_for(exc)
        if key is not None and isinstance(exc, Conflict):
            # Lost to a request with the same key? Then its answer is ours.
            stored = await run_in_threadpool(store.find, principal.id, key, print_)
            if stored is not None:
                return await _replay(request, principal, stored)
        body = problem.body(request.url.path)
        if key is not None and not isinstance(exc, Conflict):
            refusal = StoredResponse(problem.status, {"problem": body}, {})
            await run_in_threadpool(store.keep, principal.id, key, print_, refusal)
        return JSONResponse(body, problem.status, media_type=PROBLEM_JSON)
    return _complaint_response(request, complaint, status)


async def _replay(request: Request, principal: Principal, stored: StoredResponse) -> Response:
    """The kept answer again, marked as a replay."""
    if "problem" in stored.body:
        response: Response = JSONResponse(
            stored.body["problem"], stored.status, media_type=PROBLEM_JSON
        )
    else:
        complaint_id, version = UUID(stored.body["complaint_id"]), int(stored.body["version"])
        complaint = await _read(lambda: _app(request).get(complaint_id, version=version))
        response = _complaint_response(request, complaint, stored.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def _read(operation: Callable[[], Any]) -> Any:
    try:
        return await run_in_threadpool(operation)
    except Exception as exc:
        raise _problem_for(exc) from exc


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintView,
    responses={201: CREATED, **problem_responses(409, 422)},
    dependencies=[Depends(idempotency_key)],
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

    def operation(answer: Answer | None) -> Complaint:
        if body.received_at is not None and body.received_at > app.clock.now():
            raise InvalidValue("'received_at' may not be in the future.")
        if body.referral is not None and body.referral.received_at > app.clock.now():
            raise InvalidValue("The referral's 'received_at' may not be in the future.")
        return app.register(
            _actor(principal),
            customer=body.customer.model_dump(),
            channel=body.channel,
            description=body.description,
            category=body.category,
            received_at=body.received_at,
            referral=body.referral.model_dump() if body.referral else None,
            tier=body.tier,
            answer=answer,
        )

    return await _write(request, principal, operation, 201)


@router.get(
    "/complaints",
    response_model=QueuePage,
    responses=problem_responses(400, 403, 503),
    tags=["complaints"],
)
async def list_complaints(
    request: Request,
    principal: Annotated[Principal, Depends(require(*READERS))],
    status: str | None = None,
    owner: str | None = None,
    assignee: str | None = None,
    category: str | None = None,
    breached: bool | None = None,
    confirmed: bool | None = None,
    tier: str | None = None,
    due_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    phone: Annotated[str | None, Query(min_length=3, max_length=40)] = None,
    email: Annotated[str | None, Query(min_length=3, max_length=320)] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    purpose: Annotated[
        SearchPurpose | None, Query(description="Why: required with phone, email or account.")
    ] = None,
) -> dict[str, Any]:
    """Work queues, from the projection table, paginated by cursor.

    With `phone`, `email` or `account` (and a `purpose`), the customer's
    history instead: their complaints found through the blind index, the
    search itself recorded in the search log (agents and supervisors only).
    """
    query = QueueFilter(
        status, owner, assignee, category, breached, due_before, confirmed=confirmed, tier=tier
    )
    given = {k: v for k, v in (("phone", phone), ("email", email), ("account", account)) if v}
    if given:
        return await _customer_history(request, principal, given, purpose, query, limit)
    try:
        rows, next_cursor = await run_in_threadpool(_queue(request).list, query, limit, cursor)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return {"items": rows, "next_cursor": next_cursor}


async def _customer_history(
    request: Request,
    principal: Principal,
    given: dict[str, str],
    purpose: str | None,
    query: QueueFilter,
    limit: int,
) -> dict[str, Any]:
    if not principal.has(*WORKERS):
        raise Problem(403, "Forbidden", "Only agents and supervisors may search a customer.")
    if len(given) > 1:
        raise Problem(400, "Bad Request", "Search by one of 'phone', 'email' or 'account'.")
    if purpose is None:
        raise Problem(
            400,
            "Bad Request",
            "A customer search needs a 'purpose'.",
            allowed_purposes=list(SEARCH_PURPOSES),
        )
    history: CustomerHistory | None = request.app.state.customer_history
    if history is None:
        raise Problem(
            503, "Service Unavailable", "Customer history is off (set COMPLAINTS_INDEX_KEYS)."
        )
    ((kind, value),) = given.items()
    rows, search = await run_in_threadpool(
        lambda: history.search(
            _actor(principal), kind=kind, value=value, purpose=purpose, query=query, limit=limit
        )
    )
    return {"items": rows, "next_cursor": None, "search": search}


@router.get(
    "/complaints/by-number/{case_number}",
    response_model=ComplaintView,
    responses={200: VERSIONED, **READ_ERRORS},
    tags=["complaints"],
)
async def get_by_case_number(
    request: Request,
    case_number: str,
    principal: Annotated[Principal, Depends(require(*READERS))],
    purpose: ReadPurpose = None,
) -> Response:
    """A complaint by the case number the customer was given."""
    complaint = await _read(lambda: _app(request).get(case_id(case_number)))
    words, current = await _opened(request, principal, complaint.id, purpose, "complaint")
    return _complaint_response(request, current or complaint, words=words)


@router.get(
    "/complaints/{complaint_id}",
    response_model=ComplaintView,
    responses={200: VERSIONED, **READ_ERRORS},
    tags=["complaints"],
)
async def get_complaint(
    request: Request,
    complaint_id: UUID,
    principal: Annotated[Principal, Depends(require(*READERS))],
    as_of: Annotated[AwareDatetime | None, Query(description="RFC 3339 instant")] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
    purpose: ReadPurpose = None,
) -> Response:
    """A complaint now, or as it was at `as_of` or `version` (S-6).

    The customer's words are withheld unless a `purpose` is given by someone
    with a need to know (the case's handlers, supervisors, regulators): the
    read is then recorded, and the answer is the complaint after that record.
    """
    if as_of is not None and version is not None:
        raise Problem(400, "Bad Request", "Give at most one of 'as_of' and 'version'.")
    app = _app(request)
    words, current = await _opened(request, principal, complaint_id, purpose, "complaint")
    if current is not None and as_of is None and version is None:
        return _complaint_response(request, current, words=words)

    def operation() -> Complaint:
        if as_of is not None:
            return app.get_as_of(complaint_id, as_of)
        complaint = app.get(complaint_id, version=version)
        if version is not None and complaint.version != version:
            raise ComplaintNotFound(f"{complaint_id} has no version {version}")
        return complaint

    complaint = await _read(operation)
    if current is not None and current.erased:
        words = Words.ERASED
    return _complaint_response(request, complaint, words=words)


@router.get(
    "/complaints/{complaint_id}/history",
    response_model=History,
    responses=READ_ERRORS,
    tags=["complaints"],
)
async def get_history(
    request: Request,
    complaint_id: UUID,
    principal: Annotated[Principal, Depends(require(*READERS))],
    purpose: ReadPurpose = None,
) -> dict[str, Any]:
    """The case file: every event in order, with who, when and why.

    Sealed words are withheld unless a `purpose` is given, as for the complaint.
    """
    app = _app(request)
    words, _ = await _opened(request, principal, complaint_id, purpose, "history")

    def operation() -> dict[str, Any]:
        events = app.history(complaint_id)
        shown = Words.ERASED if any(type(e).__name__ == "Erased" for e in events) else words
        return {
            "complaint_id": str(complaint_id),
            "case_number": getattr(events[0], "case_number", ""),
            "events": [history_item(e, app.vault, shown) for e in events],
        }

    return await _read(operation)


@router.get(
    "/complaints/{complaint_id}/contact-reads", responses=READ_ERRORS, tags=["personal data"]
)
async def list_contact_reads(
    request: Request,
    complaint_id: UUID,
    _: Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.REGULATOR, Role.ADMIN))],
) -> dict[str, Any]:
    """Who read the customer's clear contact details (and words), when and why (S-11)."""
    app = _app(request)
    events = await _read(lambda: app.history(complaint_id))
    # Purposes are free text, sealed like any other: erased with the case.
    words = Words.ERASED if any(type(e).__name__ == "Erased" for e in events) else Words.CLEAR

    def reads(kind: str) -> list[dict[str, Any]]:
        return [
            {
                "version": e.originator_version,
                "occurred_at": e.timestamp,
                "actor": getattr(e, "actor", {}),
                "purpose": free_text(app.vault, complaint_id, getattr(e, "purpose", ""), words),
                **({"scope": e.scope} if kind == "TextRead" else {}),
            }
            for e in events
            if type(e).__name__ == kind
        ]

    return {
        "complaint_id": str(complaint_id),
        "reads": reads("ContactRead"),
        "text_reads": reads("TextRead"),
    }


def _action_route(action: Action, model: type[BaseModel]) -> None:
    roles = ACTION_ROLES.get(action, WORKERS)

    async def handler(
        request: Request,
        complaint_id: UUID,
        body: model,  # type: ignore[valid-type]
        principal: Annotated[Principal, Depends(require(*roles))],
        if_match: Annotated[
            str | None,
            Header(
                alias="If-Match",
                description="The ETag of the version you saw: the write is refused (412) "
                "if the complaint has changed since.",
            ),
        ] = None,
    ) -> Response:
        expected = _expected_versions(if_match)
        params = cast(BaseModel, body).model_dump()
        app = _app(request)
        return await _write(
            request,
            principal,
            lambda answer: app.act(
                complaint_id, action, _actor(principal), params, expected, answer=answer
            ),
            200,
        )

    handler.__name__ = f"{action.value}_complaint"
    handler.__doc__ = model.__doc__
    router.add_api_route(
        f"/complaints/{{complaint_id}}/{action.value}",
        handler,
        methods=["POST"],
        response_model=ComplaintView,
        responses={200: VERSIONED, **WRITE_ERRORS},
        dependencies=[Depends(idempotency_key)],
        tags=["workflow"],
        summary=f"{action.value.capitalize()}: {model.__doc__}",
    )


for _action, _model in ACTION_BODIES.items():
    _action_route(_action, _model)


@router.get("/complaints/{complaint_id}/contact", responses=WRITE_ERRORS, tags=["complaints"])
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


@router.get("/complaints/{complaint_id}/result", tags=["complaints"])
async def read_result(
    request: Request,
    complaint_id: UUID,
    _: Annotated[Principal, Depends(require(Role.SERVICE))],
) -> dict[str, Any]:
    """The result's words, for the message that tells the customer (services only).

    They are sealed staff text and never in the feed, so the notifications
    service reads them here when it sends; `410` once the case is erased,
    `404` before a result is given.
    """
    app = _app(request)
    complaint = await _read(lambda: app.get(complaint_id))
    if complaint.erased:
        raise Problem(410, "Gone", "The customer's personal data has been erased.")
    if complaint.resolution is None:
        raise Problem(404, "Not Found", "No result has been given on this complaint yet.")
    return {
        "complaint_id": str(complaint.id),
        "resolution": free_text(app.vault, complaint.id, complaint.resolution, Words.CLEAR),
        "remedy": free_text(app.vault, complaint.id, complaint.remedy, Words.CLEAR),
    }


@router.get("/customer-searches", tags=["personal data"])
async def list_customer_searches(
    request: Request,
    _: Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.REGULATOR, Role.ADMIN))],
    after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The search log: who searched a customer's history, why, and what it revealed.

    `chain` re-computes every entry's digest from the first: `ok` false names
    the first entry that was changed or removed.
    """
    log: SearchLog = request.app.state.search_log
    items = await run_in_threadpool(log.page, after, limit)
    check = await run_in_threadpool(log.verify)
    return {
        "items": items,
        "chain": {
            "ok": check.ok,
            "entries": check.entries,
            "head": check.head,
            "first_bad_seq": check.first_bad_seq,
        },
    }


@router.get("/events", response_model=FeedPage, tags=["feed"])
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
    """A duration as policies write it: working days `P2D`, working hours `PT24H`."""
    return allowance.text(td)


def _policy_view(policy: SlaPolicy) -> dict[str, Any]:
    retention = policy.retention_after_close
    return {
        "id": policy.id,
        "version": policy.version,
        "effective_from": policy.effective_from,
        "effective_until": policy.effective_until,
        "repealed": policy.repealed,
        "source": policy.source,
        "calendar": policy.calendar,
        "warning_at": policy.warning_at,
        "pausable": sorted(policy.pausable),
        "milestones": {k: _hours(v) for k, v in policy.milestones.items()},
        "categories": {
            c: {k: _hours(v) for k, v in m.items()} for c, m in policy.category_milestones.items()
        },
        "retention_after_close": f"P{retention.days}D" if retention else None,
        "overrides": [
            {
                "category": o.category,
                "severity": o.severity,
                "tier": o.tier,
                "milestones": {k: _hours(v) for k, v in o.milestones.items()},
            }
            for o in policy.overrides
        ],
        "windows": {k: _hours(v) for k, v in policy.windows.items()},
        "calendars": dict(policy.calendars),
        "pause": {
            "reasons": sorted(policy.pause.reasons) if policy.pause.reasons else None,
            "max_per_milestone": _hours(policy.pause.max_per_milestone)
            if policy.pause.max_per_milestone
            else None,
            "max_total": _hours(policy.pause.max_total) if policy.pause.max_total else None,
            "before_acceptance": policy.pause.before_acceptance,
        },
        "sources": dict(policy.sources),
        "ladder": [
            {
                "at": step.at,
                "after": _hours(step.after),
                "notify": step.notify,
                "milestones": sorted(step.milestones) if step.milestones is not None else None,
            }
            for step in policy.ladder
        ],
    }


@router.get("/policies", response_model=list[PolicyView], tags=["policies"])
async def list_policies(
    request: Request, _: Annotated[Principal, Depends(require(*READERS))]
) -> list[dict[str, Any]]:
    """Every SLA policy version known to the service (S-3)."""
    return [_policy_view(p) for p in _app(request).policies.policies()]
