"""What every staff route shares: who asks, how a write runs, how a complaint is answered.

Writes run in the thread pool (the event store is synchronous), accept an
`Idempotency-Key`, and honour `If-Match` on an existing complaint; the
domain's refusals become problem answers here, once, for every route.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.complaints.application import (
    Answer,
    ComplaintNotFound,
    ComplaintsApplication,
    Conflict,
    PreconditionFailed,
)
from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
    PersonalDataErased,
)
from services.complaints.domain.policy import PolicyError
from services.complaints.queue import WorkQueue
from services.complaints.representation import Words, complaint_view
from services.kernel.auth import Principal, Role
from services.kernel.contract import header, problem_responses
from services.kernel.database import Row
from services.kernel.idempotency import IdempotencyStore, StoredResponse, fingerprint
from services.kernel.problem_types import problem_type_uri
from services.kernel.problems import PROBLEM_JSON, Problem
from services.kernel.rendering import DocumentResponse

MAX_POSITION = 2**63 - 1

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


def complaints_of(request: Request) -> ComplaintsApplication:
    """The complaints application this app serves."""
    app: ComplaintsApplication = request.app.state.complaints
    return app


def queue_of(request: Request) -> WorkQueue:
    """The work queue projection this app serves."""
    queue: WorkQueue = request.app.state.queue
    return queue


def actor(principal: Principal) -> Actor:
    """The caller as the case file records them."""
    return Actor(id=principal.id, role=principal.role.value)


def etag(complaint: Complaint) -> str:
    """The complaint's version as an ETag."""
    return f'"{complaint.version}"'


def expected_versions(if_match: str | None) -> frozenset[int] | None:
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


def problem_for(exc: Exception) -> Problem:
    """The problem answer for a refusal of the application or the domain (else re-raised)."""
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


def words_shown(clear: bool, erased: bool) -> Words:
    """How sealed words show: erased beats everything; clear only after a recorded read."""
    return Words.ERASED if erased else Words.CLEAR if clear else Words.WITHHELD


def complaint_response(
    request: Request, complaint: Complaint, status: int = 200, words: Words = Words.WITHHELD
) -> Response:
    """The complaint as a document, with its ETag (and its Location once registered)."""
    headers = {"ETag": etag(complaint)}
    if status == 201:
        headers["Location"] = f"/v1/complaints/{complaint.id}"
    app = complaints_of(request)
    milestones = app.pinned_policy(complaint).milestones_for(complaint.category)
    if complaint.erased:
        words = Words.ERASED
    offered = app.offered_actions(complaint.allowed_actions)
    view = complaint_view(complaint, app.vault, words, milestones, offered=offered)
    return DocumentResponse(view, status, headers=headers)


async def opened(
    request: Request, principal: Principal, complaint_id: UUID, purpose: str | None, scope: str
) -> tuple[Words, Complaint | None]:
    """Record a clear read of the words when a purpose is given (refused without need)."""
    if purpose is None:
        return Words.WITHHELD, None
    app = complaints_of(request)
    current: Complaint = await read(
        lambda: app.read_words(complaint_id, actor(principal), purpose, scope)
    )
    if not current.erased:
        await run_in_threadpool(queue_of(request).record, current)
    return words_shown(True, current.erased), current


async def write(
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
            return await replay(request, principal, stored)

        def answer(complaint: Complaint) -> Row:
            body = {"complaint_id": str(complaint.id), "version": complaint.version}
            return store.answer_row(principal.id, key, print_, StoredResponse(status, body, {}))

    try:
        complaint = await run_in_threadpool(operation, answer)
    except Exception as exc:
        problem = problem_for(exc)
        if key is not None and isinstance(exc, Conflict):
            # Lost to a request with the same key? Then its answer is ours.
            stored = await run_in_threadpool(store.find, principal.id, key, print_)
            if stored is not None:
                return await replay(request, principal, stored)
        body = problem.body(request.url.path)
        if key is not None and not isinstance(exc, Conflict):
            refusal = StoredResponse(problem.status, {"problem": body}, {})
            await run_in_threadpool(store.keep, principal.id, key, print_, refusal)
        return JSONResponse(body, problem.status, media_type=PROBLEM_JSON)
    return complaint_response(request, complaint, status)


async def replay(request: Request, principal: Principal, stored: StoredResponse) -> Response:
    """The kept answer again, marked as a replay."""
    if "problem" in stored.body:
        response: Response = JSONResponse(
            stored.body["problem"], stored.status, media_type=PROBLEM_JSON
        )
    else:
        complaint_id, version = UUID(stored.body["complaint_id"]), int(stored.body["version"])
        complaint = await read(lambda: complaints_of(request).get(complaint_id, version=version))
        response = complaint_response(request, complaint, stored.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def read(operation: Callable[[], Any]) -> Any:
    """Run a read in the thread pool; a refusal becomes its problem answer."""
    try:
        return await run_in_threadpool(operation)
    except Exception as exc:
        raise problem_for(exc) from exc
