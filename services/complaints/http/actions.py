"""The workflow's actions on a complaint: one route per action, one body per action.

Each is `POST /complaints/{id}/{action}`, idempotent by `Idempotency-Key`
and refused (412) when `If-Match` names a version the case has moved on from.
"""

from typing import Annotated, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel

from services.complaints.domain.workflow import Action
from services.complaints.http.exchange import (
    SUPERVISORS,
    VERSIONED,
    WORKERS,
    WRITE_ERRORS,
    actor,
    complaints_of,
    expected_versions,
    write,
)
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
    FollowUp,
    FollowUpAnswer,
    Investigate,
    Note,
    Pause,
    Reopen,
    Resolve,
    Restore,
    Resume,
    Return,
    Transfer,
    Withdraw,
)
from services.kernel.auth import Principal, Role, require
from services.kernel.idempotency import idempotency_key

router = APIRouter(prefix="/v1")

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
        expected = expected_versions(if_match)
        params = cast(BaseModel, body).model_dump()
        app = complaints_of(request)
        return await write(
            request,
            principal,
            lambda answer: app.act(
                complaint_id, action, actor(principal), params, expected, answer=answer
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
