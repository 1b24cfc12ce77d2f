"""The portal names every status and milestone the workflow has, in each of its languages.

A name without a label showed its key to the customer (`milestone.overall`
on the result page).
"""

from __future__ import annotations

import pytest

from services.complaints.domain.policy import MILESTONES
from services.complaints.domain.workflow import Status
from services.portal.language import TEXT


@pytest.mark.parametrize("language", sorted(TEXT))
def test_every_status_and_milestone_has_a_label(language: str) -> None:
    wanted = {f"status.{s.value}" for s in Status} | {f"milestone.{m}" for m in MILESTONES}
    assert sorted(wanted - set(TEXT[language])) == []
