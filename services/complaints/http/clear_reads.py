"""Clear reads of what is sealed: the customer's contact, the result's words, and who read.

Each clear read of the contact is on record (S-11), served only to those
with a need to know; the record of reads is itself sealed free text.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from services.complaints.http.exchange import (
    READ_ERRORS,
    WRITE_ERRORS,
    actor,
    complaints_of,
    queue_of,
    read,
)
from services.complaints.representation import Words, free_text
from services.kernel.auth import Principal, Role, require
from services.kernel.problems import Problem

router = APIRouter(prefix="/v1")


@router.get(
    "/complaints/{complaint_id}/contact-reads", responses=READ_ERRORS, tags=["personal data"]
)
async def list_contact_reads(
    request: Request,
    complaint_id: UUID,
    _: Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.REGULATOR, Role.ADMIN))],
) -> dict[str, Any]:
    """Who read the customer's clear contact details (and words), when and why (S-11)."""
    app = complaints_of(request)
    events = await read(lambda: app.history(complaint_id))
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
    app = complaints_of(request)
    complaint, contact = await read(
        lambda: app.read_contact(complaint_id, actor(principal), purpose)
    )
    await run_in_threadpool(queue_of(request).record, complaint)
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
    app = complaints_of(request)
    complaint = await read(lambda: app.get(complaint_id))
    if complaint.erased:
        raise Problem(410, "Gone", "The customer's personal data has been erased.")
    if complaint.resolution is None:
        raise Problem(404, "Not Found", "No result has been given on this complaint yet.")
    return {
        "complaint_id": str(complaint.id),
        "resolution": free_text(app.vault, complaint.id, complaint.resolution, Words.CLEAR),
        "remedy": free_text(app.vault, complaint.id, complaint.remedy, Words.CLEAR),
    }
