"""`POST /v1/inbound/sms`: replies from the SMS gateway, signed with a shared secret.

No bearer token: the gateway signs each request. `X-Timestamp` is the Unix
time of signing, `X-Signature` is `sha256=<hex HMAC-SHA256 of
"<timestamp>.<raw body>">`. A request older or newer than the allowed skew,
badly signed, or seen before (a replay) is refused with 401 or 409.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Header, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from services.kernel.contract import problem_responses
from services.kernel.problems import Problem
from services.kernel.webapp import public
from services.notifications.replies import Replay, ReplyDesk, signature_for

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])
# The gateway signs requests (X-Timestamp, X-Signature: HMAC-SHA256); no bearer token here.
CHALLENGE = {
    "WWW-Authenticate": 'HMAC-SHA256 realm="inbound-sms", headers="X-Timestamp X-Signature"'
}
log = logging.getLogger("services.notifications.inbound")


class InboundSms(BaseModel):
    """One SMS a customer sent to the service number."""

    model_config = ConfigDict(extra="ignore")

    from_: str = Field(alias="from", min_length=3, max_length=40)
    text: str = Field(max_length=2000)
    received_at: AwareDatetime


@router.post(
    "/sms",
    status_code=202,
    dependencies=[Depends(public)],
    responses=problem_responses(401, 409, 422, 503),
)
async def inbound_sms(
    request: Request,
    x_timestamp: Annotated[str | None, Header()] = None,
    x_signature: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """A customer's reply: 1-5 rates or confirms, a dispute word disputes, else it is recorded."""
    desk: ReplyDesk | None = request.app.state.reply_desk
    settings = request.app.state.settings
    if desk is None:
        raise Problem(503, "Service Unavailable", "Set NOTIFICATIONS_INBOUND_SMS_SECRET.")
    body = await request.body()
    secret = settings.inbound_sms_secret.get_secret_value()
    if not x_timestamp or not x_signature or not x_timestamp.isdigit():
        raise Problem(
            401, "Unauthorized", "X-Timestamp and X-Signature are required.", headers=CHALLENGE
        )
    if abs(time.time() - int(x_timestamp)) > settings.inbound_max_skew_seconds:
        raise Problem(
            401, "Unauthorized", "The timestamp is outside the allowed window.", headers=CHALLENGE
        )
    expected = signature_for(secret, x_timestamp, body)
    given = x_signature.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(expected, given):
        raise Problem(401, "Unauthorized", "The signature does not match.", headers=CHALLENGE)
    try:
        sms = InboundSms.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(422, "Invalid request", "Expected {from, text, received_at}.") from exc
    try:
        await run_in_threadpool(desk.book.claim, expected)
    except Replay as exc:
        raise Problem(409, "Conflict", "This request was already received (replay).") from exc
    try:
        outcome = await run_in_threadpool(desk.handle, sms.from_, sms.text)
    except (httpx.HTTPError, RuntimeError) as exc:
        # Ours to fix, not the gateway's: let its retry through the replay guard.
        await run_in_threadpool(desk.book.release, expected)
        log.warning("reply not carried out", extra={"error_type": type(exc).__name__})
        raise Problem(503, "Service Unavailable", "Please retry later.") from exc
    log.info("sms reply", extra={"outcome": outcome.outcome})
    return {"outcome": outcome.outcome, "case_number": outcome.case_number}
