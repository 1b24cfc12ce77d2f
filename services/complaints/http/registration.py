"""Registering a complaint: the one command that starts a case file (S-1, S-4)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.complaints.application import Answer
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.errors import InvalidValue
from services.complaints.http.exchange import CREATED, WORKERS, actor, complaints_of, write
from services.complaints.schemas import ComplaintView, NewComplaint
from services.kernel.auth import Principal, require
from services.kernel.contract import problem_responses
from services.kernel.idempotency import idempotency_key

router = APIRouter(prefix="/v1")


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
    app = complaints_of(request)

    def operation(answer: Answer | None) -> Complaint:
        if body.received_at is not None and body.received_at > app.clock.now():
            raise InvalidValue("'received_at' may not be in the future.")
        if body.referral is not None and body.referral.received_at > app.clock.now():
            raise InvalidValue("The referral's 'received_at' may not be in the future.")
        return app.register(
            actor(principal),
            customer=body.customer.model_dump(),
            channel=body.channel,
            description=body.description,
            category=body.category,
            received_at=body.received_at,
            referral=body.referral.model_dump() if body.referral else None,
            tier=body.tier,
            answer=answer,
        )

    return await write(request, principal, operation, 201)
