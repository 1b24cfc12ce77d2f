"""Assembles the complaints service: application, queue, monitor and HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import Counter

from services.complaints import api
from services.complaints.application import ComplaintsApplication, event_store_env
from services.complaints.domain.clock import Clock
from services.complaints.domain.policy import PolicyBook
from services.complaints.feed import Feed
from services.complaints.monitor import DeadlineMonitor
from services.complaints.queue import WorkQueue
from services.complaints.settings import ComplaintsSettings
from services.complaints.vault import Vault
from services.kernel.auth import AuthSettings
from services.kernel.database import create_database_engine
from services.kernel.idempotency import IdempotencyStore
from services.kernel.lease import Lease
from services.kernel.observability import Metrics
from services.kernel.webapp import create_service_app

DESCRIPTION = """Intake and workflow of customer complaints for telecom operators.

Each complaint is an event-sourced aggregate: its history is the case file.
Authorize with a bearer JWT (`sub`, `roles`, `exp`)."""


def create_app(
    settings: ComplaintsSettings | None = None,
    auth: AuthSettings | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the complaints service; the deadline monitor runs while the app is served."""
    settings = settings or ComplaintsSettings()
    auth = auth or AuthSettings()
    policies = PolicyBook.load(settings.policy_dir, default_id=settings.default_policy)
    engine = create_database_engine(settings.database_url)
    vault = Vault(engine, settings.master_keys())
    complaints = ComplaintsApplication(
        event_store_env(settings.database_url, settings.postgres_lock_timeout_seconds),
        policies,
        vault,
        clock=clock,
        default_policy=settings.default_policy,
        snapshot_interval=settings.snapshot_interval,
    )
    queue = WorkQueue(engine, complaints)
    metrics = Metrics("complaints")
    appended = Counter(
        "complaint_events_appended_total",
        "Events appended to the event store.",
        registry=metrics.registry,
    )
    alarms = Counter(
        "sla_alarms_total",
        "SLA warnings and breaches raised, and retention erasures.",
        ["type"],
        registry=metrics.registry,
    )
    complaints.recorded_listeners.append(lambda recordings: appended.inc(len(recordings)))
    monitor = DeadlineMonitor(
        complaints,
        queue,
        Lease(
            engine, "deadline-monitor", ttl_seconds=max(5.0, settings.monitor_interval_seconds * 5)
        ),
        settings.monitor_interval_seconds,
        alarms,
    )

    feed = Feed(complaints)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        feed.bind(asyncio.get_running_loop())
        task = asyncio.create_task(monitor.run()) if settings.monitor_enabled else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.dispose()
            complaints.close()

    app = create_service_app(
        title="Complaints service",
        description=DESCRIPTION,
        auth=auth,
        metrics=metrics,
        engine=engine,
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.complaints = complaints
    app.state.queue = queue
    app.state.feed = feed
    app.state.monitor = monitor
    app.state.idempotency = IdempotencyStore(engine)
    app.include_router(api.router)
    return app
