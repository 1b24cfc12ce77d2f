"""The verifier against an in-process audit app, honest and tampered, on SQLite and PostgreSQL.

The end-to-end tests run the same checks with real processes and the command
line; these cover every path of the verifier quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from services.audit.checkpoint import NoteVerifier, Signer
from services.audit.verify import TrustedState, VerificationFailed, run
from tests.audit_helpers import (
    TAMPERINGS,
    drop_triggers,
    feed_item,
    forget_checkpoints,
    history,
    read_entries,
    rebuild_tree,
    rewrite_entries,
    truncate_tail,
)
from tests.integration.audit.conftest import ORIGIN, AuditHarness


@pytest.fixture
def audit(make_audit: Callable[..., AuditHarness]) -> AuditHarness:
    harness = make_audit(max_page_size=4)  # Small pages: the verifier must follow them.
    harness.feed(history("c-1", "billing", timedelta(hours=1), late=False, first=1))
    harness.feed(history("c-2", "network_fault", timedelta(hours=30), late=True, first=10))
    harness.checkpoint()
    return harness


@pytest.fixture
def client(audit: AuditHarness, token: Callable[..., str]) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {token('regulator')}"}
    # Not entered as a context manager: no lifespan, so no signer loop races the tests.
    client = TestClient(audit.app, headers=headers)
    yield client
    client.close()


@pytest.fixture
def verifier(audit: AuditHarness) -> NoteVerifier:
    return NoteVerifier.from_key(audit.verifier_key)


def test_an_honest_ledger_verifies_and_the_state_follows_it(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state_path = tmp_path / "state.json"
    first = run(client, verifier, state_path)
    assert first.checkpoint.tree_size == 11
    assert TrustedState.load(state_path, verifier) == first
    assert run(client, verifier, state_path).checkpoint.tree_size == 11
    audit.feed([feed_item(30, "c-1", 6, "NoteAdded", {"text": "follow-up"})])
    audit.checkpoint()
    assert run(client, verifier, state_path).checkpoint.tree_size == 12
    case = run(client, verifier, state_path, complaint_id="c-2")
    assert case.checkpoint.tree_size == 12


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_tampering_with_entries_is_detected(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tmp_path: Path, kind: str
) -> None:
    state_path = tmp_path / "state.json"
    run(client, verifier, state_path)
    drop_triggers(audit.engine)
    rewrite_entries(audit.engine, TAMPERINGS[kind](read_entries(audit.engine)))
    with pytest.raises(VerificationFailed, match=r"root|removed|position"):
        run(client, verifier, state_path)
    with pytest.raises(VerificationFailed):
        run(client, verifier, None)  # Even without any saved state.


def test_a_changed_entry_fails_its_case_file(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier
) -> None:
    run(client, verifier, None, complaint_id="c-1")
    drop_triggers(audit.engine)
    rewrite_entries(audit.engine, TAMPERINGS["changed"](read_entries(audit.engine)))
    with pytest.raises(VerificationFailed, match="entry 2 is not in the signed tree"):
        run(client, verifier, None, complaint_id="c-1")


def test_without_saved_state_a_truncated_and_re_signed_log_cannot_be_told(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier
) -> None:
    # Why regulators keep --state: the service signs whatever tree it holds.
    drop_triggers(audit.engine)
    truncate_tail(audit.engine, 8)
    assert audit.app.state.checkpoints.latest() is None
    audit.checkpoint()
    assert run(client, verifier, None).checkpoint.tree_size == 8


def test_a_shrunk_ledger_fails_against_the_saved_checkpoint(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state_path = tmp_path / "state.json"
    run(client, verifier, state_path)
    drop_triggers(audit.engine)
    truncate_tail(audit.engine, 8)
    audit.checkpoint()
    with pytest.raises(VerificationFailed, match="shrank from 11 to 8"):
        run(client, verifier, state_path)


def test_removing_the_tail_but_keeping_the_checkpoint_is_detected(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier
) -> None:
    drop_triggers(audit.engine)
    with audit.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_entries WHERE entry_index >= 9")
    with pytest.raises(VerificationFailed, match="serves 9 entries but the checkpoint signs 11"):
        run(client, verifier, None)


def test_a_rewritten_and_re_signed_history_fails_against_the_saved_checkpoint(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state_path = tmp_path / "state.json"
    run(client, verifier, state_path)
    drop_triggers(audit.engine)
    rewrite_entries(audit.engine, TAMPERINGS["changed"](read_entries(audit.engine)))
    rebuild_tree(audit.engine)
    forget_checkpoints(audit.engine)
    audit.checkpoint()
    run(client, verifier, None)  # A forger with the service's key fools a first-time verifier,
    with pytest.raises(VerificationFailed, match="does not extend the saved checkpoint"):
        run(client, verifier, state_path)  # but not one that kept the earlier checkpoint.


def test_a_checkpoint_signed_by_another_key_is_refused(client: TestClient, tmp_path: Path) -> None:
    stranger = Signer(Ed25519PrivateKey.generate(), ORIGIN)
    with pytest.raises(VerificationFailed, match="signature"):
        run(client, NoteVerifier.from_key(stranger.verifier_key), None)


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE ledger_entries SET complaint_id = 'hidden' WHERE entry_index = 2",
        "DELETE FROM ledger_entries WHERE entry_index = 0",
    ],
)
def test_a_case_entry_hidden_or_removed_behind_the_index_fails_the_case_file(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tampering: str
) -> None:
    run(client, verifier, None, complaint_id="c-1")
    drop_triggers(audit.engine)
    with audit.engine.begin() as conn:
        conn.exec_driver_sql(tampering)
    with pytest.raises(VerificationFailed, match="missing or hidden"):
        run(client, verifier, None, complaint_id="c-1")


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE complaint_summaries SET status = 'closed'",
        "UPDATE complaint_summaries SET breached = false WHERE complaint_id = 'c-2'",
        "UPDATE complaint_summaries SET satisfaction = 5, deadlines = '{}'",
        "DELETE FROM complaint_summaries WHERE complaint_id = 'c-1'",
        "UPDATE complaint_summaries SET received_at = NULL WHERE complaint_id = 'c-2'",
        "INSERT INTO complaint_summaries (complaint_id, status, received_at, reopen_count, "
        "escalated, breached, deadlines, rounds, last_position, last_index) VALUES "
        "('forged', 'closed', '2026-03-02 09:00:00', 0, false, false, '{}', '[]', 1, 0)",
    ],
)
def test_an_edited_summary_table_fails_the_report_check(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier, tampering: str
) -> None:
    # Issue 8.5: the summary table is not covered by the tree, yet regulators read it.
    assert run(client, verifier, None, reports=True).checkpoint.tree_size == 11
    before = client.get("/v1/audit/complaints").json()
    with audit.engine.begin() as conn:
        conn.exec_driver_sql(tampering)
    assert client.get("/v1/audit/complaints").json()["items"] != before["items"]
    run(client, verifier, None)  # The entries alone still verify...
    with pytest.raises(VerificationFailed, match=r"complaint|report"):
        run(client, verifier, None, reports=True)  # ...but what is derived from them does not.


def test_reports_verify_while_summaries_move_past_the_checkpoint(
    audit: AuditHarness, client: TestClient, verifier: NoteVerifier
) -> None:
    # Rows changed after the signed size are refolded from their entries below it.
    audit.feed(
        [
            feed_item(30, "c-1", 7, "Closed", {"outcome": "done", "reason": None}),
            feed_item(31, "c-3", 1, "Registered", {"case_number": "x", "received_at": None}),
        ]
    )
    run(client, verifier, None, reports=True)
    at_checkpoint = client.get("/v1/audit/complaints", params={"tree_size": 11}).json()
    now = client.get("/v1/audit/complaints").json()
    assert now["tree_size"] == 13 and now["checkpoint"] is None
    assert at_checkpoint["tree_size"] == 11 and at_checkpoint["checkpoint"].startswith(ORIGIN)
    assert {i["complaint_id"]: i["status"] for i in at_checkpoint["items"]} == {
        "c-1": "resolved",
        "c-2": "resolved",
    }
    assert {i["complaint_id"]: i["status"] for i in now["items"]}["c-1"] == "closed"
    first = client.get("/v1/audit/complaints", params={"tree_size": 11, "limit": 1}).json()
    second = client.get("/v1/audit/complaints", params={"cursor": first["next_cursor"]}).json()
    assert [i["complaint_id"] for i in first["items"] + second["items"]] == ["c-1", "c-2"]
    assert second["tree_size"] == 11  # A cursor keeps its search on one tree.
    assert client.get("/v1/audit/complaints", params={"tree_size": 99}).status_code == 400
