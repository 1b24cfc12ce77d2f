"""End to end: the complaints and audit services as real processes over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import Engine

from services.kernel.database import create_database_engine
from tests.audit_helpers import (
    TAMPERINGS,
    drop_triggers,
    read_entries,
    rewrite_entries,
    truncate_tail,
)
from tests.e2e.audit.conftest import System


def sqlite_urls(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'complaints.db'}", f"sqlite:///{tmp_path / 'audit.db'}"


def test_the_ledger_holds_the_feed_once_each_in_order(
    start_system: Callable[..., System], tmp_path: Path
) -> None:
    system = start_system(*sqlite_urls(tmp_path))
    written = system.write_complaints(8)
    assert system.wait_until_caught_up() == written
    system.assert_ledger_is_the_feed()
    system.assert_checkpoints_are_consistent()
    result = system.verify("--state", str(tmp_path / "state.json"))
    assert result.returncode == 0, result.stderr
    assert f"OK: {written} entries verified" in result.stdout
    ready = httpx.get(f"{system.audit.url}/readyz").json()
    assert ready["feed"]["lag"] == 0 and ready["tree_size"] == written


def test_sigkill_during_a_burst_loses_and_repeats_nothing(
    start_system: Callable[..., System], tmp_path: Path
) -> None:
    system = start_system(*sqlite_urls(tmp_path))
    written: list[int] = []
    stop = threading.Event()
    writer = threading.Thread(
        target=lambda: written.append(system.write_complaints(20, until=stop))
    )
    writer.start()
    try:
        for _ in range(3):
            time.sleep(0.4)
            system.audit.kill()  # In the middle of the burst: the writer is still going.
            time.sleep(0.2)
            system.audit.restart()
    finally:
        stop.set()
        writer.join(120)
    assert written, "the writer failed"
    assert system.wait_until_caught_up() == written[0]
    system.assert_ledger_is_the_feed()
    system.assert_checkpoints_are_consistent()
    assert system.verify().returncode == 0


def test_the_complaints_service_down_for_a_while(
    start_system: Callable[..., System], tmp_path: Path
) -> None:
    system = start_system(*sqlite_urls(tmp_path))
    before = system.write_complaints(3, tag="before")
    system.complaints.kill()
    time.sleep(2.5)  # The consumer fails and backs off meanwhile; the API still answers.
    metrics = httpx.get(f"{system.audit.url}/metrics").text
    errors = next(line for line in metrics.splitlines() if line.startswith("feed_errors_total"))
    assert float(errors.split()[-1]) >= 1
    assert httpx.get(f"{system.audit.url}/readyz").status_code == 200
    system.complaints.restart()
    after = system.write_complaints(3, tag="after")
    assert system.wait_until_caught_up() == before + after
    system.assert_ledger_is_the_feed()
    system.assert_checkpoints_are_consistent()


def test_the_verifier_passes_honest_and_fails_every_tampering(
    database_url: Callable[[str], str], start_system: Callable[..., System], tmp_path: Path
) -> None:
    # database_url comes first so that the processes stop before their databases are dropped.
    audit_url = database_url("audit")
    system = start_system(database_url("complaints"), audit_url)
    size = system.write_complaints(4)
    system.wait_until_caught_up()
    state = str(tmp_path / "state.json")
    honest = system.verify("--state", state)
    assert honest.returncode == 0, honest.stderr

    engine: Engine = create_database_engine(audit_url)
    try:
        original = read_entries(engine)
        drop_triggers(engine)
        for kind, tamper in TAMPERINGS.items():
            rewrite_entries(engine, tamper(original))
            tampered = system.verify("--state", state)
            assert tampered.returncode == 1, (kind, tampered.stdout)
            assert tampered.stderr.startswith("FAILED: "), (kind, tampered.stderr)
            rewrite_entries(engine, original)
            restored = system.verify("--state", state)
            assert restored.returncode == 0, (kind, restored.stderr)

        case = system.verify("--case", original[0]["complaint_id"])
        assert case.returncode == 0, case.stderr
        rewrite_entries(engine, TAMPERINGS["changed"](original))
        case = system.verify("--case", original[2]["complaint_id"])
        assert case.returncode == 1 and "not in the signed tree" in case.stderr
        rewrite_entries(engine, original)

        # The last entries go, with the checkpoints that covered them; the service
        # signs the shorter tree, and only the saved checkpoint shows what happened.
        truncate_tail(engine, size - 3)
        deadline = time.monotonic() + 15
        while f"\n{size - 3}\n" not in system.checkpoint_note():
            assert time.monotonic() < deadline, "no checkpoint of the shorter tree"
            time.sleep(0.2)
        shrunk = system.verify("--state", state)
        assert shrunk.returncode == 1
        assert f"shrank from {size} to {size - 3}" in shrunk.stderr
    finally:
        engine.dispose()


def test_the_verifier_catches_an_edited_summary_table(
    database_url: Callable[[str], str], start_system: Callable[..., System], tmp_path: Path
) -> None:
    # Issue 8.5: `UPDATE complaint_summaries SET status='closed'` used to pass unnoticed.
    audit_url = database_url("audit")
    system = start_system(database_url("complaints"), audit_url)
    size = system.write_complaints(3)
    system.wait_until_caught_up()
    honest = system.verify("--reports")
    assert honest.returncode == 0, honest.stderr
    assert f"OK: {size} entries and the reports derived from them verified" in honest.stdout
    engine: Engine = create_database_engine(audit_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE complaint_summaries SET status = 'closed'")
    finally:
        engine.dispose()
    searched = httpx.get(
        f"{system.audit.url}/v1/audit/complaints", headers=system.regulator, timeout=10
    ).json()
    assert {item["status"] for item in searched["items"]} == {"closed"}
    assert system.verify().returncode == 0  # The entries are untouched...
    tampered = system.verify("--reports")  # ...but what regulators read is not theirs.
    assert tampered.returncode == 1, tampered.stdout
    assert "status is 'closed', the entries give 'investigated'" in tampered.stderr
