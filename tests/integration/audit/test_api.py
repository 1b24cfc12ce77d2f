"""The regulator API through httpx's ASGI transport, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import rfc8785

from services.audit import merkle
from services.audit.checkpoint import NoteVerifier
from tests.audit_helpers import T0, feed_item, history
from tests.integration.audit.conftest import AuditHarness

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def harness(make_audit: Callable[..., AuditHarness]) -> AuditHarness:
    """Three complaints (one breached): 16 entries, checkpointed, then one note more."""
    audit = make_audit(max_page_size=5)
    audit.feed(history("c-billing-1", "billing", timedelta(hours=1), late=False, first=1))
    audit.feed(history("c-billing-2", "billing", timedelta(hours=30), late=True, first=10))
    audit.feed(history("c-privacy-1", "privacy", timedelta(hours=2), late=False, first=20))
    audit.checkpoint()
    audit.feed([feed_item(40, "c-billing-1", 7, "NoteAdded", {"text": "late note"})])
    return audit


@pytest.fixture
async def client(harness: AuditHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        yield client


async def get(
    client: httpx.AsyncClient, headers: Headers, path: str, **params: Any
) -> httpx.Response:
    response = await client.get(path, params=params, headers=headers("regulator"))
    assert response.status_code == 200, response.text
    return response


def b64(value: str) -> bytes:
    return base64.b64decode(value)


async def signed_checkpoint(client: httpx.AsyncClient, headers: Headers) -> Any:
    key = (await get(client, headers, "/v1/audit/public-key")).text.strip()
    note = (await get(client, headers, "/v1/audit/checkpoint")).text
    return NoteVerifier.from_key(key).verify(note)


@pytest.mark.parametrize("role", ["regulator", "supervisor", "admin"])
async def test_readers_may_read(client: httpx.AsyncClient, auth_header: Headers, role: str) -> None:
    response = await client.get("/v1/audit/entries", headers=auth_header(role))
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["agent", "service"])
async def test_others_are_forbidden(
    client: httpx.AsyncClient, auth_header: Headers, role: str
) -> None:
    for path in ("/v1/audit/entries", "/v1/audit/checkpoint", "/v1/audit/complaints"):
        response = await client.get(path, headers=auth_header(role))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/audit/entries")).status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path",
    ["/v1/audit/entries", "/v1/audit/checkpoint", "/v1/audit/cases/c-billing-1", "/v1/audit/x"],
)
async def test_every_write_method_is_refused(
    client: httpx.AsyncClient, auth_header: Headers, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=auth_header("admin"), json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405


async def test_checkpoint_is_a_signed_note_of_the_ledger(
    client: httpx.AsyncClient, auth_header: Headers, harness: AuditHarness
) -> None:
    response = await get(client, auth_header, "/v1/audit/checkpoint")
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.split("\n")
    assert lines[0] == "test.example/audit" and lines[1] == "16" and lines[3] == ""
    checkpoint = await signed_checkpoint(client, auth_header)
    assert checkpoint.root_hash == harness.app.state.ledger.root(16)


async def test_entries_are_paginated_and_carry_their_exact_leaf(
    client: httpx.AsyncClient, auth_header: Headers
) -> None:
    first = (await get(client, auth_header, "/v1/audit/entries")).json()
    assert [e["index"] for e in first["entries"]] == [0, 1, 2, 3, 4]
    assert first["tree_size"] == 17 and first["next_start"] == 5
    window = (await get(client, auth_header, "/v1/audit/entries", start=14, end=16)).json()
    assert [e["index"] for e in window["entries"]] == [14, 15]
    assert window["next_start"] is None
    tail = (await get(client, auth_header, "/v1/audit/entries", start=15)).json()
    assert [e["index"] for e in tail["entries"]] == [15, 16]
    for entry in first["entries"]:
        fields = {k: v for k, v in entry.items() if k != "leaf"}
        assert rfc8785.dumps(fields) == b64(entry["leaf"])
    assert first["entries"][0]["type"] == "Registered"
    bad = await client.get(
        "/v1/audit/entries", params={"start": 5, "end": 2}, headers=auth_header("regulator")
    )
    assert bad.status_code == 400


async def test_inclusion_proofs_verify_against_the_checkpoint(
    client: httpx.AsyncClient, auth_header: Headers
) -> None:
    checkpoint = await signed_checkpoint(client, auth_header)
    entries = (await get(client, auth_header, "/v1/audit/entries", start=0, end=16)).json()
    while len(entries["entries"]) < 16:
        more = await get(
            client,
            auth_header,
            "/v1/audit/entries",
            start=entries["entries"][-1]["index"] + 1,
            end=16,
        )
        entries["entries"] += more.json()["entries"]
    for entry in entries["entries"]:
        proof = (
            await get(
                client,
                auth_header,
                "/v1/audit/proofs/inclusion",
                index=entry["index"],
                tree_size=16,
            )
        ).json()
        assert proof["index"] == entry["index"] and proof["tree_size"] == 16
        merkle.verify_inclusion(
            merkle.leaf_hash(b64(entry["leaf"])),
            entry["index"],
            16,
            [b64(h) for h in proof["hashes"]],
            checkpoint.root_hash,
        )


async def test_bad_proof_requests_are_problems(
    client: httpx.AsyncClient, auth_header: Headers
) -> None:
    for path, params in [
        ("/v1/audit/proofs/inclusion", {"index": 5, "tree_size": 5}),
        ("/v1/audit/proofs/inclusion", {"index": 0, "tree_size": 18}),
        ("/v1/audit/proofs/consistency", {"from": 5, "to": 4}),
        ("/v1/audit/proofs/consistency", {"from": 1, "to": 99}),
        ("/v1/audit/proofs/consistency", {"from": 0, "to": 4}),
    ]:
        response = await client.get(path, params=params, headers=auth_header("regulator"))
        assert response.status_code in (400, 422), (path, params)
        assert response.headers["content-type"] == "application/problem+json"


async def test_consistency_between_kept_checkpoints(
    client: httpx.AsyncClient, auth_header: Headers, harness: AuditHarness
) -> None:
    harness.checkpoint()
    kept = (await get(client, auth_header, "/v1/audit/checkpoints")).json()["checkpoints"]
    assert [c["tree_size"] for c in kept] == [16, 17]
    old, new = kept
    proof = (
        await get(client, auth_header, "/v1/audit/proofs/consistency", **{"from": 16, "to": 17})
    ).json()
    assert (proof["from"], proof["to"]) == (16, 17)
    merkle.verify_consistency(
        16, 17, b64(old["root_hash"]), b64(new["root_hash"]), [b64(h) for h in proof["hashes"]]
    )


async def test_a_case_file_can_be_verified_offline(
    client: httpx.AsyncClient, auth_header: Headers
) -> None:
    case = (await get(client, auth_header, "/v1/audit/cases/c-billing-1")).json()
    key = (await get(client, auth_header, "/v1/audit/public-key")).text.strip()
    checkpoint = NoteVerifier.from_key(key).verify(case["checkpoint"])
    assert case["tree_size"] == checkpoint.tree_size == 16
    assert [e["type"] for e in case["entries"]] == [
        "Registered",
        "Accepted",
        "Investigated",
        "Resolved",
        "Confirmed",
    ]
    assert case["pending"] == 1  # The late note is not checkpointed yet.
    for entry in case["entries"]:
        merkle.verify_inclusion(
            merkle.leaf_hash(b64(entry["leaf"])),
            entry["index"],
            checkpoint.tree_size,
            [b64(h) for h in entry["proof"]],
            checkpoint.root_hash,
        )
    missing = await client.get("/v1/audit/cases/nobody", headers=auth_header("regulator"))
    assert missing.status_code == 404


async def test_complaint_search(client: httpx.AsyncClient, auth_header: Headers) -> None:
    async def search(**params: Any) -> list[str]:
        body = (await get(client, auth_header, "/v1/audit/complaints", **params)).json()
        return [item["complaint_id"] for item in body["items"]]

    assert await search() == ["c-billing-1", "c-billing-2", "c-privacy-1"]
    assert await search(category="billing") == ["c-billing-1", "c-billing-2"]
    assert await search(breached="true") == ["c-billing-2"]
    assert await search(status="resolved", category="privacy") == ["c-privacy-1"]
    after = (T0 + timedelta(minutes=1)).isoformat()
    assert await search(received_from=after) == []
    assert len(await search(received_to=after)) == 3
    page = (await get(client, auth_header, "/v1/audit/complaints", limit=2)).json()
    assert len(page["items"]) == 2
    rest = (
        await get(client, auth_header, "/v1/audit/complaints", limit=2, cursor=page["next_cursor"])
    ).json()
    assert [i["complaint_id"] for i in rest["items"]] == ["c-privacy-1"]
    assert rest["next_cursor"] is None
    item = page["items"][0]
    assert item["received_at"] == T0.isoformat()
    assert item["deadlines"]["acceptance"]["due_at"]
    assert "customer" not in item


async def test_sla_report_as_json_and_csv(client: httpx.AsyncClient, auth_header: Headers) -> None:
    report = (await get(client, auth_header, "/v1/audit/reports/sla")).json()
    billing = next(c for c in report["categories"] if c["category"] == "billing")
    assert billing["milestones"][0]["breached"] == 1
    assert billing["milestones"][0]["compliance_rate"] == 0.5
    response = await client.get(
        "/v1/audit/reports/sla",
        params={"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()},
        headers={**auth_header("supervisor"), "Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {(r["category"], r["milestone"]) for r in rows} == {
        ("billing", "acceptance"),
        ("privacy", "acceptance"),
        ("all", "acceptance"),
    }
    empty = await get(
        client,
        auth_header,
        "/v1/audit/reports/sla",
        **{"from": (T0 + timedelta(days=1)).isoformat()},
    )
    assert empty.json()["categories"][-1]["complaints"] == 0


async def test_readiness_reports_the_ledger(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["tree_size"] == 17


async def test_no_checkpoint_yet_is_a_503(
    make_audit: Callable[..., AuditHarness], auth_header: Headers
) -> None:
    empty = make_audit()
    transport = httpx.ASGITransport(app=empty.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        response = await client.get("/v1/audit/checkpoint", headers=auth_header("regulator"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_sla_report_is_the_same_however_the_rows_are_batched(
    client: httpx.AsyncClient, auth_header: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.audit import summary_table

    whole = (await get(client, auth_header, "/v1/audit/reports/sla")).json()
    monkeypatch.setattr(summary_table, "BATCH", 1)
    batched = (await get(client, auth_header, "/v1/audit/reports/sla")).json()
    assert batched == whole
    assert whole["categories"][-1]["complaints"] >= 3


@pytest.mark.parametrize(
    "cursor",
    [
        "W1tb" * 400,  # Issue 8.7: deeply nested JSON once made a 500.
        "W1tb" * 40,
        "not base64 at all!",
        base64.urlsafe_b64encode(b'["2026-03-02T09:00:00", "c", "x"]').decode(),
        base64.urlsafe_b64encode(b'["2026-03-02T09:00:00", "c"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "c", 3]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_bad_cursor_is_a_400_problem(
    client: httpx.AsyncClient, auth_header: Headers, cursor: str
) -> None:
    response = await client.get(
        "/v1/audit/complaints", params={"cursor": cursor}, headers=auth_header("regulator")
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_metrics_show_ledger_size_checkpoint_coverage_and_age(
    client: httpx.AsyncClient, harness: AuditHarness
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get("/metrics")).text
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert values["audit_ledger_entries"] == 17
    assert values["audit_checkpoint_tree_size"] == 16
    assert values["audit_entries_unsigned"] == 1
    assert 0 <= values["audit_checkpoint_age_seconds"] < 60
    harness.checkpoint()
    text = (await client.get("/metrics")).text
    assert "\naudit_entries_unsigned 0.0\n" in text


async def test_before_the_first_checkpoint_no_age_is_made_up(
    make_audit: Callable[..., AuditHarness],
) -> None:
    audit = make_audit()
    audit.feed(history("c-1", "billing", timedelta(hours=1), late=False, first=1))
    transport = httpx.ASGITransport(app=audit.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        text = (await client.get("/metrics")).text
    assert "audit_checkpoint_age_seconds" not in text
    assert (
        "\naudit_checkpoint_tree_size 0.0\n" in text
        and "\naudit_entries_unsigned 0.0\n" not in text
    )
