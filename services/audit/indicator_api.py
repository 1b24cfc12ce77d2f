"""Routes of the quality indicators and their trends (S-10), for supervisors and regulators.

Thin handlers over `Figures`: parse the scope, compute in the thread pool,
state the tree size (and its checkpoint) the figures were computed at.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from services.audit.checkpoints import CheckpointLog
from services.audit.figures import Figures, Scope
from services.audit.returns import monthly_return, return_csv, return_json
from services.audit.schemas import Indicators, Trend
from services.kernel.auth import Principal, Role, require
from services.kernel.problems import Problem

router = APIRouter(prefix="/v1/audit", tags=["indicators"])

Reader = Annotated[Principal, Depends(require(Role.REGULATOR, Role.SUPERVISOR, Role.ADMIN))]
Grouping = Literal["category", "severity", "channel", "team", "owner", "assignee"]


def figures_of(request: Request) -> Figures:
    """The app's figures, built from its state."""
    state = request.app.state
    return Figures(state.summaries, state.teams, state.subscribers, state.zone)


async def stated_checkpoint(request: Request, size: int) -> str | None:
    """The note of a checkpoint signed at exactly `size`, if one was."""
    log: CheckpointLog = request.app.state.checkpoints
    kept = await run_in_threadpool(log.at_size, size)
    return kept.note if kept else None


def scope_of(
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    team: Annotated[str | None, Query(max_length=100)] = None,
    tree_size: Annotated[int | None, Query(ge=0)] = None,
) -> Scope:
    """The complaints a request asks about."""
    if start is not None and end is not None and end <= start:
        raise Problem(400, "Bad Request", "'to' must be after 'from'.")
    return Scope(start, end, category, team, tree_size)


ScopeParam = Annotated[Scope, Depends(scope_of)]


@router.get(
    "/indicators",
    response_model=Indicators,
    response_model_exclude_unset=True,
    summary="Quality indicators of complaints received in a period",
)
async def read_indicators(
    request: Request, _: Reader, scope: ScopeParam, by: Grouping | None = None
) -> dict[str, Any]:
    """Counts, compliance per milestone, handling times, satisfaction and rates.

    For complaints received in `[from, to)`, optionally of one category and
    team, grouped `by` a dimension (each group, then `all`). Definitions and
    denominators: README, "Indicators".
    """
    try:
        answer = await run_in_threadpool(figures_of(request).indicators, scope, by)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    answer["checkpoint"] = await stated_checkpoint(request, answer["tree_size"])
    return answer


@router.get(
    "/indicators/trend",
    response_model=Trend,
    response_model_exclude_unset=True,
    summary="The indicators by day, week or month",
)
async def read_trend(
    request: Request,
    _: Reader,
    scope: ScopeParam,
    interval: Literal["day", "week", "month"] = "day",
) -> dict[str, Any]:
    """Per local day, ISO week or month of `[from, to)` (both needed): the indicators
    of the complaints received in it and the breaches that happened in it."""
    try:
        answer = await run_in_threadpool(figures_of(request).trend, scope, interval)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    answer["checkpoint"] = await stated_checkpoint(request, answer["tree_size"])
    return answer


def _monthly(request: Request, month: str, size: int | None) -> dict[str, Any]:
    state = request.app.state
    if size is None:
        latest = state.checkpoints.latest()
        if latest is None:
            raise ValueError("No checkpoint yet.")
        size = latest.tree_size
    elif state.checkpoints.at_size(size) is None:
        raise ValueError(f"No checkpoint was signed at tree size {size}.")
    root = state.ledger.root(size)
    with state.summaries.snapshot(size) as snapshot:
        return monthly_return(snapshot.rows(), month, state.zone, size, root)


@router.get(
    "/returns/monthly",
    response_class=Response,
    responses={
        200: {
            "description": "The return; the same checkpoint always gives the same bytes.",
            "headers": {
                "Audit-Tree-Size": {
                    "description": "The tree size the return was computed at.",
                    "schema": {"type": "string"},
                    "required": True,
                }
            },
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    summary="The regulatory monthly return (JSON or CSV)",
)
async def read_monthly_return(
    request: Request,
    _: Reader,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    tree_size: Annotated[int | None, Query(ge=0)] = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The month's statistics as of a signed checkpoint (default: the latest).

    The same checkpoint always gives the same bytes; `verify --reports`
    recomputes them from the entries.
    """
    try:
        document = await run_in_threadpool(_monthly, request, month, tree_size)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    headers = {"Audit-Tree-Size": str(document["checkpoint"]["tree_size"])}
    if format == "csv":
        return Response(return_csv(document), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(return_json(document), media_type="application/json", headers=headers)
