"""Reads of one complaint: now, as it was (S-6), by case number, and its case file.

The customer's words are withheld unless a `purpose` is given by someone
with a need to know: the read is then recorded before the answer.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime

from services.complaints.application import ComplaintNotFound
from services.complaints.case_numbers import case_id
from services.complaints.domain.complaint import Complaint
from services.complaints.http.exchange import (
    MAX_POSITION,
    READ_ERRORS,
    READERS,
    VERSIONED,
    ReadPurpose,
    complaint_response,
    complaints_of,
    opened,
    read,
)
from services.complaints.representation import Words, history_item
from services.complaints.schemas import ComplaintView, History
from services.kernel.auth import Principal, require
from services.kernel.problems import Problem

router = APIRouter(prefix="/v1")


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
    complaint = await read(lambda: complaints_of(request).get(case_id(case_number)))
    words, current = await opened(request, principal, complaint.id, purpose, "complaint")
    return complaint_response(request, current or complaint, words=words)


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
    app = complaints_of(request)
    words, current = await opened(request, principal, complaint_id, purpose, "complaint")
    if current is not None and as_of is None and version is None:
        return complaint_response(request, current, words=words)

    def operation() -> Complaint:
        if as_of is not None:
            return app.get_as_of(complaint_id, as_of)
        complaint = app.get(complaint_id, version=version)
        if version is not None and complaint.version != version:
            raise ComplaintNotFound(f"{complaint_id} has no version {version}")
        return complaint

    complaint = await read(operation)
    if current is not None and current.erased:
        words = Words.ERASED
    return complaint_response(request, complaint, words=words)


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
    app = complaints_of(request)
    words, _ = await opened(request, principal, complaint_id, purpose, "history")

    def operation() -> dict[str, Any]:
        events = app.history(complaint_id)
        shown = Words.ERASED if any(type(e).__name__ == "Erased" for e in events) else words
        return {
            "complaint_id": str(complaint_id),
            "case_number": getattr(events[0], "case_number", ""),
            "events": [history_item(e, app.vault, shown) for e in events],
        }

    return await read(operation)
