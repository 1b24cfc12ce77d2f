"""The regulator API: read-only routes over the ledger, checkpoints, summaries and reports.

Every route needs the role regulator, supervisor or admin; every write method
on `/v1/audit/...` answers 405. Handlers only parse, authorise, call the
ledger or the summaries in the thread pool, and shape the answer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from services.audit.checkpoints import CheckpointLog, StoredCheckpoint
from services.audit.ledger import Entry, Ledger
from services.audit.reports import sla_report, sla_report_csv
from services.audit.schemas import (
    CaseFile,
    CheckpointList,
    ConsistencyProof,
    EntryPage,
    InclusionProof,
    SlaReport,
    SummaryPage,
)
from services.audit.summary_table import ComplaintSummaries, Cursor, SummaryFilter
from services.kernel.auth import Principal, Role, require
from services.kernel.contract import problem_responses
from services.kernel.problems import Problem
from services.kernel.webapp import public

router = APIRouter(prefix="/v1/audit", tags=["audit"])
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}

Reader = Annotated[Principal, Depends(require(Role.REGULATOR, Role.SUPERVISOR, Role.ADMIN))]
T = TypeVar("T")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def _run(operation: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(operation, *args)


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def _checkpoints(request: Request) -> CheckpointLog:
    log: CheckpointLog = request.app.state.checkpoints
    return log


def _summaries(request: Request) -> ComplaintSummaries:
    summaries: ComplaintSummaries = request.app.state.summaries
    return summaries


def entry_view(entry: Entry) -> dict[str, Any]:
    """An entry as published: its fields read from the leaf, and the leaf itself."""
    try:
        fields = entry.fields
    except ValueError:
        fields = {}  # Unreadable bytes are still shown, so the verifier can report them.
    return {**fields, "index": entry.index, "leaf": _b64(entry.leaf)}


def checkpoint_view(checkpoint: StoredCheckpoint) -> dict[str, Any]:
    """A kept checkpoint in JSON: its size, root, signing time and signed note."""
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": _b64(checkpoint.root_hash),
        "key_id": checkpoint.key_id,
        "signed_at": checkpoint.signed_at.isoformat() + "Z",
        "note": checkpoint.note,
    }


async def _latest_checkpoint(request: Request) -> StoredCheckpoint:
    latest = await _run(_checkpoints(request).latest)
    if latest is None:
        raise Problem(503, "Service Unavailable", "The ledger has not been checkpointed yet.")
    return latest


async def _within_ledger(request: Request, size: int) -> None:
    current = await _run(_ledger(request).size)
    if size > current:
        raise Problem(400, "Bad Request", f"The ledger holds {current} entries, not {size}.")


@router.get(
    "/checkpoint",
    response_class=Response,
    summary="The latest signed checkpoint",
    responses={200: TEXT, **problem_responses(503)},
)
async def latest_checkpoint(request: Request, _: Reader) -> Response:
    """The latest checkpoint as a C2SP signed note (`text/plain`)."""
    latest = await _latest_checkpoint(request)
    return Response(latest.note, media_type="text/plain; charset=utf-8")


@router.get("/checkpoints", response_model=CheckpointList, summary="Kept checkpoints, oldest first")
async def list_checkpoints(
    request: Request,
    _: Reader,
    after_size: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every kept checkpoint with a tree size above `after_size`, so any two can be compared."""
    kept = await _run(_checkpoints(request).listing, after_size, limit)
    return {"checkpoints": [checkpoint_view(c) for c in kept]}


@router.get(
    "/public-key",
    response_class=Response,
    summary="The note verifier key",
    responses={200: TEXT},
)
async def public_key(request: Request, _: Reader) -> Response:
    """`<name>+<hex key id>+<base64 of 0x01 and the Ed25519 public key>`."""
    key = _checkpoints(request).signer.verifier_key
    return Response(key + "\n", media_type="text/plain; charset=utf-8")


@router.get(
    "/entries",
    response_model=EntryPage,
    response_model_exclude_unset=True,
    summary="Ledger entries, 0-based, end exclusive",
)
async def read_entries(
    request: Request,
    _: Reader,
    start: Annotated[int, Query(ge=0)] = 0,
    end: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Entries `[start, end)`, at most a page; `next_start` resumes when more remain."""
    ledger = _ledger(request)
    size = await _run(ledger.size)
    page_end = min(size, start + request.app.state.settings.max_page_size)
    if end is not None:
        if end < start:
            raise Problem(400, "Bad Request", "'end' must not be below 'start'.")
        page_end = min(page_end, end)
    found = await _run(ledger.entries, start, page_end) if page_end > start else []
    wanted = size if end is None else min(end, size)
    return {
        "entries": [entry_view(e) for e in found],
        "tree_size": size,
        "next_start": page_end if page_end < wanted else None,
    }


@router.get("/proofs/inclusion", response_model=InclusionProof, summary="RFC 9162 inclusion proof")
async def inclusion_proof(
    request: Request,
    _: Reader,
    index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """The proof that entry `index` is in the tree of `tree_size` entries."""
    if index >= tree_size:
        raise Problem(400, "Bad Request", "'index' must be below 'tree_size'.")
    await _within_ledger(request, tree_size)
    hashes = await _run(_ledger(request).inclusion_proof, index, tree_size)
    return {"index": index, "tree_size": tree_size, "hashes": [_b64(h) for h in hashes]}


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProof,
    response_model_by_alias=True,
    summary="RFC 9162 consistency proof",
)
async def consistency_proof(
    request: Request,
    _: Reader,
    old: Annotated[int, Query(alias="from", ge=1)],
    new: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """The proof that the tree of `from` entries is a prefix of the tree of `to` entries."""
    if new < old:
        raise Problem(400, "Bad Request", "'to' must not be below 'from'.")
    await _within_ledger(request, new)
    hashes = await _run(_ledger(request).consistency_proof, old, new)
    return {"from": old, "to": new, "hashes": [_b64(h) for h in hashes]}


@router.get(
    "/cases/{complaint_id}",
    response_model=CaseFile,
    response_model_exclude_unset=True,
    responses=problem_responses(503),
    summary="A complaint's case file with inclusion proofs",
)
async def case_file(request: Request, complaint_id: str, _: Reader) -> dict[str, Any]:
    """The complaint's entries, each with its inclusion proof against the latest checkpoint."""
    ledger = _ledger(request)
    latest = await _latest_checkpoint(request)
    found = await _run(ledger.case_entries, complaint_id, latest.tree_size)
    total = await _run(ledger.count_for, complaint_id)
    if total == 0:
        raise Problem(404, "Not Found", "The ledger holds no entry of this complaint.")
    proofs = await _run(ledger.inclusion_proofs, [e.index for e in found], latest.tree_size)
    return {
        "complaint_id": complaint_id,
        "checkpoint": latest.note,
        "tree_size": latest.tree_size,
        "entries": [
            {**entry_view(entry), "proof": [_b64(h) for h in proof]}
            for entry, proof in zip(found, proofs, strict=True)
        ],
        "pending": total - len(found),
    }


TreeSize = Annotated[
    int | None,
    Query(ge=0, description="Answer as of the first N ledger entries (default: all)."),
]


async def _stated(request: Request, size: int) -> dict[str, Any]:
    """What an answer derived from the ledger states: its tree size and signed checkpoint."""
    kept = await _run(_checkpoints(request).at_size, size)
    return {"tree_size": size, "checkpoint": kept.note if kept else None}


def _search(
    summaries: ComplaintSummaries,
    query: SummaryFilter,
    limit: int,
    cursor: str | None,
    size: int | None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    after = Cursor.decode(cursor) if cursor is not None else None
    if after is not None:
        if size is not None and size != after.tree_size:
            raise ValueError("The cursor belongs to another tree size.")
        size = after.tree_size  # Every page of one search reads the same tree.
    with summaries.snapshot(size) as snapshot:
        items, following = snapshot.search(query, limit, after)
        return items, following.encode() if following else None, snapshot.tree_size


@router.get(
    "/complaints",
    response_model=SummaryPage,
    response_model_exclude_unset=True,
    summary="Search the complaint summaries",
)
async def search_complaints(
    request: Request,
    _: Reader,
    status: str | None = None,
    category: str | None = None,
    received_from: AwareDatetime | None = None,
    received_to: AwareDatetime | None = None,
    breached: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
    tree_size: TreeSize = None,
) -> dict[str, Any]:
    """Complaints by status, category, receipt period and breach, oldest receipt first.

    The answer names the tree size it was computed at (and its checkpoint,
    when one was signed at that size): `verify --reports` recomputes it.
    """
    query = SummaryFilter(status, category, received_from, received_to, breached)
    try:
        items, next_cursor, size = await _run(
            _search, _summaries(request), query, limit, cursor, tree_size
        )
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return {"items": items, "next_cursor": next_cursor, **await _stated(request, size)}


def _sla(
    summaries: ComplaintSummaries,
    start: datetime | None,
    end: datetime | None,
    by: str,
    size: int | None,
) -> dict[str, Any]:
    with summaries.snapshot(size) as snapshot:
        rows = snapshot.rows(SummaryFilter(received_from=start, received_to=end))
        return {**sla_report(rows, start, end, by), "tree_size": snapshot.tree_size}


@router.get(
    "/reports/sla",
    response_model=SlaReport,
    response_model_exclude_unset=True,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="SLA compliance and handling times (JSON or CSV)",
)
async def report_sla(
    request: Request,
    _: Reader,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    by: Literal["category", "owner"] = "category",
    tree_size: TreeSize = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Any:
    """Per category (or owner) and milestone, for complaints received in `[from, to)`.

    Also the quality indicators of S-10: average satisfaction, reopen and
    escalation rates. States the tree size it was computed at.
    """
    try:
        report = await _run(_sla, _summaries(request), start, end, by, tree_size)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    report.update(await _stated(request, report["tree_size"]))
    if _prefers_csv(accept):
        return Response(
            sla_report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Audit-Tree-Size": str(report["tree_size"])},
        )
    return report


def _prefers_csv(accept: str) -> bool:
    """Whether `Accept` ranks text/csv above JSON (q-values honoured, q=0 refuses)."""
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[media.lower()] = max(q, ranks.get(media.lower(), 0.0))
    csv = ranks.get("text/csv", 0.0)
    json_rank = max(ranks.get("application/json", 0.0), ranks.get("*/*", 0.0) * 0.999)
    return csv > 0 and csv >= json_rank


@router.api_route(
    "/{path:path}",
    methods=["POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    # Anyone may learn that writes are refused: no token is needed to be told 405.
    dependencies=[Depends(public)],
)
async def refuse_writes(path: str) -> None:
    """The audit record is read-only: every write method is refused."""
    raise Problem(
        405, "Method Not Allowed", "The audit API is read-only.", headers={"Allow": "GET"}
    )
