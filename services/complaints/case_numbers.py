"""Case numbers: what a customer reads over the phone, and the complaint id each stands for."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

CASE_NAMESPACE = uuid.UUID("6f1c3b4e-2a43-4d0e-9a8e-3f7f0b8f6d21")


def case_id(case_number: str) -> UUID:
    """The complaint id a case number stands for.

    Deriving the id from the number lets the event store's unique key on
    (id, version 1) guarantee that no two complaints share a case number.
    """
    return uuid.uuid5(CASE_NAMESPACE, case_number)


def new_case_number(at: datetime, zone: ZoneInfo | None = None) -> str:
    """A number short enough to read over the phone: local date and six random digits.

    The date is the operator's (``zone``), as the customer reads it: a
    complaint at 01:00 in Shanghai carries that day's date, not yesterday's UTC one.
    """
    local = at.astimezone(zone) if zone is not None else at
    return f"{local:%y%m%d}-{secrets.randbelow(1_000_000):06d}"
