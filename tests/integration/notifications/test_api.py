"""The HTTP API: operators read and retry the outbox, admins manage webhooks."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.kernel.auth import AuthSettings
from services.notifications.app import create_app
from services.notifications.outbox import MessageFilter, Outbox
from services.notifications.settings import NotificationsSettings
from tests.conftest import JWT_SECRET
from tests.integration.notifications.conftest import Feed

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = NotificationsSettings(
        database_url=f"sqlite:///{tmp_path / 'notifications.db'}",
        feed_url="http://127.0.0.1:9",
        consumer_enabled=False,
        dispatcher_enabled=False,
        webhook_allow_private=True,
    )
    return create_app(settings, AuthSettings(jwt_secret=SecretStr(JWT_SECRET)))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def record(app: FastAPI, feed: Feed, n: int = 1) -> list[str]:
    """Put `n` receipts in the outbox through the feed handler; their ids."""
    items = [feed.registered() for _ in range(n)]
    with app.state.outbox.engine.begin() as conn:
        app.state.intake(conn, items)
    return [item["complaint_id"] for item in items]


def kill(outbox: Outbox, complaint_id: str) -> str:
    """Make the complaint's message dead, as the dispatcher would after MAX_ATTEMPTS."""
    with outbox.engine.begin() as conn:
        conn.execute(
            outbox.messages_table.update()
            .where(outbox.messages_table.c.complaint_id == complaint_id)
            .values(status="dead", dead_reason="max-attempts", attempts=8)
        )
    rows, _ = outbox.list(MessageFilter(complaint_id=complaint_id), 1)
    return rows[0].id


def test_operators_list_filter_and_page_through_messages(
    app: FastAPI, client: TestClient, feed: Feed, auth_header: Headers
) -> None:
    complaints = record(app, feed, 5)
    headers = auth_header("supervisor")
    page = client.get("/v1/notifications?limit=2", headers=headers).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    seen = [m["id"] for m in page["items"]]
    while page["next_cursor"]:
        page = client.get(
            f"/v1/notifications?limit=2&cursor={page['next_cursor']}", headers=headers
        ).json()
        seen.extend(m["id"] for m in page["items"])
    assert len(seen) == len(set(seen)) == 5

    one = client.get(f"/v1/notifications?complaint_id={complaints[0]}", headers=headers).json()
    assert [m["complaint_id"] for m in one["items"]] == [complaints[0]]
    view = one["items"][0]
    assert view["recipient_masked"] == "138****5678"
    assert "context" not in view
    assert client.get("/v1/notifications?status=sent", headers=headers).json()["items"] == []
    assert len(client.get("/v1/notifications?channel=log", headers=headers).json()["items"]) == 5
    assert client.get("/v1/notifications?status=lost", headers=headers).status_code == 422


def test_a_message_shows_its_attempts(
    app: FastAPI, client: TestClient, feed: Feed, auth_header: Headers
) -> None:
    [complaint] = record(app, feed)
    outbox: Outbox = app.state.outbox
    [claimed] = outbox.claim(1, 30, 5)
    outbox.mark_failed(claimed, claimed.created_at, "SMTP 421", retry_at=claimed.created_at + 5)
    detail = client.get(f"/v1/notifications/{claimed.id}", headers=auth_header("admin")).json()
    assert detail["complaint_id"] == complaint
    assert detail["status"] == "pending" and detail["attempts"] == 1
    assert [(a["outcome"], a["detail"]) for a in detail["attempt_history"]] == [
        ("failed", "SMTP 421")
    ]
    missing = client.get("/v1/notifications/nope", headers=auth_header("admin"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_retry_revives_a_dead_message_once(
    app: FastAPI, client: TestClient, feed: Feed, auth_header: Headers
) -> None:
    [complaint] = record(app, feed)
    message_id = kill(app.state.outbox, complaint)
    headers = {**auth_header("supervisor"), "Idempotency-Key": "retry-1"}
    first = client.post(f"/v1/notifications/{message_id}/retry", headers=headers)
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["attempts"]) == ("pending", 0)
    replay = client.post(f"/v1/notifications/{message_id}/retry", headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    again = client.post(f"/v1/notifications/{message_id}/retry", headers=auth_header("admin"))
    assert again.status_code == 409
    assert again.json()["status_name"] == "pending"
    assert (
        client.post("/v1/notifications/nope/retry", headers=auth_header("admin")).status_code == 404
    )


def test_webhook_subscriptions_are_admin_only_and_hide_their_secret(
    client: TestClient, auth_header: Headers
) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["Registered", "Closed"]}
    assert (
        client.post("/v1/webhooks", json=body, headers=auth_header("supervisor")).status_code == 403
    )
    created = client.post("/v1/webhooks", json=body, headers=auth_header("admin"))
    assert created.status_code == 201
    doc = created.json()
    assert doc["secret"].startswith("whsec_") and len(base64.b64decode(doc["secret"][6:])) == 32
    assert created.headers["Location"] == f"/v1/webhooks/{doc['id']}"
    listed = client.get("/v1/webhooks", headers=auth_header("admin")).json()
    assert [s["id"] for s in listed] == [doc["id"]] and "secret" not in listed[0]
    one = client.get(f"/v1/webhooks/{doc['id']}", headers=auth_header("admin")).json()
    assert one["event_types"] == ["Closed", "Registered"]
    assert (
        client.delete(f"/v1/webhooks/{doc['id']}", headers=auth_header("admin")).status_code == 204
    )
    assert (
        client.delete(f"/v1/webhooks/{doc['id']}", headers=auth_header("admin")).status_code == 404
    )


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://127.0.0.1/x"},
        {"url": "http://127.0.0.1/x", "event_types": ["not a type"]},
        {"url": "http://127.0.0.1/x", "secret": "short"},
        {"url": "http://127.0.0.1/x", "secret": "a-long-secret-but-not-whsec-form"},
        {"url": "http://127.0.0.1/x", "surprise": 1},
        {"url": "http://localhost./"},
        {"url": f"http://{'a' * 64}.example.com/hook"},
        {"url": f"http://{'a' * 64}/hook"},
    ],
)
def test_invalid_subscriptions_are_refused(
    client: TestClient, auth_header: Headers, body: dict[str, object]
) -> None:
    response = client.post("/v1/webhooks", json=body, headers=auth_header("admin"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/notifications"),
        ("GET", "/v1/notifications/x"),
        ("POST", "/v1/notifications/x/retry"),
        ("GET", "/v1/webhooks"),
    ],
)
def test_agents_regulators_and_services_are_refused(
    client: TestClient, auth_header: Headers, method: str, path: str
) -> None:
    assert client.request(method, path).status_code == 401
    for role in ("agent", "regulator", "service"):
        assert client.request(method, path, headers=auth_header(role)).status_code == 403


def test_probes_report_feed_lag_and_outbox_metrics(
    app: FastAPI, client: TestClient, feed: Feed
) -> None:
    record(app, feed, 2)
    ready = client.get("/readyz").json()
    assert ready["database"] == "ok" and "feed_lag" in ready and "feed_position" in ready
    metrics = client.get("/metrics").text
    assert 'notification_messages{channel="log",status="pending"} 2.0' in metrics
    assert "notification_delivery_seconds" in metrics


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.8/h",
        "http://[::1]/h",
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.0.1/h",
        "http://[fec0::1]/h",
        "http://[2002:7f00:1::]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://localhost:8080/h",
    ],
)
def test_webhooks_to_internal_addresses_are_refused_unless_allowed(
    tmp_path: Path, auth_header: Headers, url: str
) -> None:
    settings = NotificationsSettings(
        database_url=f"sqlite:///{tmp_path / 'strict.db'}",
        feed_url="http://127.0.0.1:9",
        consumer_enabled=False,
        dispatcher_enabled=False,
    )
    strict = create_app(settings, AuthSettings(jwt_secret=SecretStr(JWT_SECRET)))
    with TestClient(strict) as client:
        response = client.post("/v1/webhooks", json={"url": url}, headers=auth_header("admin"))
        assert response.status_code == 422
        assert "internal" in response.json()["detail"]
        assert client.get("/v1/webhooks", headers=auth_header("admin")).json() == []


REPORT = {
    "team": "billing",
    "period": {"from": "2026-03-02", "to": "2026-03-08", "label": "2026-W10"},
    "figures": {
        "received": 1,
        "resolved": 0,
        "open": 1,
        "compliance": None,
        "breached": 0,
        "satisfied_share": None,
        "responses": 0,
        "reopen_rate": None,
        "escalation_rate": None,
        "to_accept_median_hours": None,
        "to_final_result_median_hours": None,
    },
    "dashboard_url": "http://audit.example/dashboard",
    "tree_size": 3,
}


def test_a_service_queues_a_staff_message_once_per_key(
    app: FastAPI, client: TestClient, auth_header: Headers
) -> None:
    body = {
        "key": "6f1c0f1e-0d0e-4c1b-9a55-3e1f4d2a7b10",
        "template": "team_report",
        "recipients": ["supervisor-1", "supervisor-2", "nobody"],
        "context": REPORT,
    }
    first = client.post("/v1/staff-messages", json=body, headers=auth_header("service"))
    assert first.status_code == 202, first.text
    sent = first.json()
    assert sent["unknown"] == ["nobody"]
    assert [(m["recipient"], m["language"]) for m in sent["messages"]] == [
        ("supervisor-1", "zh-CN"),
        ("supervisor-2", "en"),
    ]
    assert all(m["status"] == "pending" and m["audience"] == "staff" for m in sent["messages"])
    assert all(m["recipient_masked"] and "@" in m["recipient_masked"] for m in sent["messages"])
    # Again (a restart, a second replica), even with other figures: nothing new is queued.
    again = {**body, "context": {**REPORT, "tree_size": 4}}
    repeated = client.post("/v1/staff-messages", json=again, headers=auth_header("service"))
    assert repeated.status_code == 202
    assert [m["id"] for m in repeated.json()["messages"]] == [m["id"] for m in sent["messages"]]
    rows, _ = app.state.outbox.list(MessageFilter(), 50)
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"template": "receipt"}, 422),  # only templates meant for staff messages
        ({"context": {"team": "billing"}}, 422),  # a context that does not render
        ({"key": "not-a-uuid"}, 422),
        ({"recipients": []}, 422),
        ({"extra": 1}, 422),
    ],
)
def test_a_bad_staff_message_is_refused_and_writes_nothing(
    app: FastAPI, client: TestClient, auth_header: Headers, change: dict[str, object], status: int
) -> None:
    body = {
        "key": "6f1c0f1e-0d0e-4c1b-9a55-3e1f4d2a7b11",
        "template": "team_report",
        "recipients": ["supervisor-1"],
        "context": REPORT,
        **change,
    }
    answer = client.post("/v1/staff-messages", json=body, headers=auth_header("service"))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert app.state.outbox.list(MessageFilter(), 50)[0] == []


def test_only_services_and_admins_send_staff_messages(
    client: TestClient, auth_header: Headers
) -> None:
    body = {
        "key": "6f1c0f1e-0d0e-4c1b-9a55-3e1f4d2a7b12",
        "template": "team_report",
        "recipients": ["supervisor-1"],
        "context": REPORT,
    }
    for role in ("agent", "supervisor", "regulator"):
        assert (
            client.post("/v1/staff-messages", json=body, headers=auth_header(role)).status_code
            == 403
        )
