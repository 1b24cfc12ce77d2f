"""The feed: every event after a position, in commit order, for the services that follow it."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from services.complaints.feed import Feed
from services.complaints.http.exchange import MAX_POSITION
from services.complaints.schemas import FeedPage
from services.kernel.auth import Principal, Role, require

router = APIRouter(prefix="/v1")


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
