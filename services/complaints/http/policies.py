"""The SLA policies the service knows (S-3), every version, as policies write them."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.complaints.domain import allowance
from services.complaints.domain.policy import SlaPolicy
from services.complaints.http.exchange import READERS, complaints_of
from services.complaints.schemas import PolicyView
from services.kernel.auth import Principal, require

router = APIRouter(prefix="/v1")


def _hours(td: timedelta) -> str:
    """A duration as policies write it: working days `P2D`, working hours `PT24H`."""
    return allowance.text(td)


def _policy_view(policy: SlaPolicy) -> dict[str, Any]:
    retention = policy.retention_after_close
    return {
        "id": policy.id,
        "version": policy.version,
        "effective_from": policy.effective_from,
        "effective_until": policy.effective_until,
        "repealed": policy.repealed,
        "source": policy.source,
        "calendar": policy.calendar,
        "warning_at": policy.warning_at,
        "pausable": sorted(policy.pausable),
        "milestones": {k: _hours(v) for k, v in policy.milestones.items()},
        "categories": {
            c: {k: _hours(v) for k, v in m.items()} for c, m in policy.category_milestones.items()
        },
        "retention_after_close": f"P{retention.days}D" if retention else None,
        "overrides": [
            {
                "category": o.category,
                "severity": o.severity,
                "tier": o.tier,
                "milestones": {k: _hours(v) for k, v in o.milestones.items()},
            }
            for o in policy.overrides
        ],
        "windows": {k: _hours(v) for k, v in policy.windows.items()},
        "calendars": dict(policy.calendars),
        "pause": {
            "reasons": sorted(policy.pause.reasons) if policy.pause.reasons else None,
            "max_per_milestone": _hours(policy.pause.max_per_milestone)
            if policy.pause.max_per_milestone
            else None,
            "max_total": _hours(policy.pause.max_total) if policy.pause.max_total else None,
            "before_acceptance": policy.pause.before_acceptance,
        },
        "sources": dict(policy.sources),
        "ladder": [
            {
                "at": step.at,
                "after": _hours(step.after),
                "notify": step.notify,
                "milestones": sorted(step.milestones) if step.milestones is not None else None,
            }
            for step in policy.ladder
        ],
    }


@router.get("/policies", response_model=list[PolicyView], tags=["policies"])
async def list_policies(
    request: Request, _: Annotated[Principal, Depends(require(*READERS))]
) -> list[dict[str, Any]]:
    """Every SLA policy version known to the service (S-3)."""
    return [_policy_view(p) for p in complaints_of(request).policies.policies()]
