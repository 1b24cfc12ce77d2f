"""The notifications settings refuse a claim lease a send could outlast."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings


def test_the_lease_must_outlast_every_timed_call_of_a_result_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A result notice reads the contact, the result's words and a portal link (each
    # within the HTTP timeout) before its channel's send: 4 × 10 s by default. A lease
    # of 35 s was accepted (it only had to exceed twice the longest timeout), so a slow
    # but timely send could lose its claim and go out twice.
    monkeypatch.setenv("NOTIFICATIONS_CLAIM_LEASE_SECONDS", "35")
    with pytest.raises(ValidationError, match="CLAIM_LEASE_SECONDS must exceed 40 s"):
        NotificationsSettings()
    monkeypatch.setenv("NOTIFICATIONS_CLAIM_LEASE_SECONDS", "41")
    assert NotificationsSettings().slowest_send_seconds == 40
