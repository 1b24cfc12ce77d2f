"""The work queue and a customer's history: listing cases, searching a customer, the search log.

Listing reads the queue projection; a search by phone, email or account
goes through the blind index and is itself recorded in the search log.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from services.complaints.customer_history import CustomerHistory
from services.complaints.customer_searches import SEARCH_PURPOSES, SearchLog
from services.complaints.http.exchange import MAX_POSITION, READERS, WORKERS, actor, queue_of
from services.complaints.queue import QueueFilter
from services.complaints.schemas import QueuePage
from services.kernel.auth import Principal, Role, require
from services.kernel.contract import problem_responses
from services.kernel.problems import Problem

router = APIRouter(prefix="/v1")
SearchPurpose = Literal[SEARCH_PURPOSES]  # type: ignore[valid-type]


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
        rows, next_cursor = await run_in_threadpool(queue_of(request).list, query, limit, cursor)
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
            actor(principal), kind=kind, value=value, purpose=purpose, query=query, limit=limit
        )
    )
    return {"items": rows, "next_cursor": None, "search": search}


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
