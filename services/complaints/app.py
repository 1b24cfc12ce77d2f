"""Assembles the complaints service: application, queue, monitor and HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from services.complaints import customer_api, http
from services.complaints.application import ComplaintsApplication
from services.complaints.arrivals import Arrivals
from services.complaints.blind_index import IndexKeyError
from services.complaints.customer_access import CustomerAccess
from services.complaints.customer_history import CustomerHistory
from services.complaints.customer_index import CustomerIndex
from services.complaints.customer_searches import SearchLog
from services.complaints.domain.clock import Clock, SystemClock
from services.complaints.domain.customer import CodeRules
from services.complaints.domain.policy import PolicyError
from services.complaints.event_store import event_store_env
from services.complaints.feed import Feed
from services.complaints.group_commit import GroupCommit
from services.complaints.monitor import DeadlineMonitor
from services.complaints.policy_archive import PolicyArchive
from services.complaints.queue import WorkQueue
from services.complaints.settings import ComplaintsSettings
from services.complaints.vault import Vault
from services.kernel.auth import AuthSettings
from services.kernel.customer_tokens import CustomerTokens
from services.kernel.database import create_database_engine
from services.kernel.idempotency import IdempotencyStore
from services.kernel.lease import Lease
from services.kernel.observability import Metrics
from services.kernel.phones import set_default_region
from services.kernel.staff_directory import StaffDirectory
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
    set_default_region(settings.phone_region)
    now = (clock or SystemClock()).now()
    engine = create_database_engine(settings.database_url)
    archive = PolicyArchive(engine)
    try:
        policies = archive.open_book(settings.policy_dir, settings.default_policy, now)
    except PolicyError:
        engine.dispose()
        raise
    vault = Vault(engine, settings.master_keys())
    complaints = ComplaintsApplication(
        event_store_env(settings.database_url, settings.postgres_lock_timeout_seconds),
        policies,
        vault,
        clock=clock,
        default_policy=settings.default_policy,
        referral_policy=settings.referral_policy,
        snapshot_interval=settings.snapshot_interval,
        timezone=settings.timezone,
        teams=StaffDirectory.load(settings.staff_directory) if settings.staff_directory else None,
        allow_claims=settings.allow_claims,
    )
    complaints.policy_pinned = archive.keep
    metrics = Metrics("complaints")
    if settings.group_commit_max > 1:
        batch_sizes = Histogram(
            "complaint_commit_batch_size",
            "Commands saved together in one event-store transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=metrics.registry,
        )
        complaints.group_commit = GroupCommit(
            complaints.save_changes,
            settings.group_commit_max,
            settings.group_commit_window_ms / 1000,
            batch_sizes.observe,
        )
    queue = WorkQueue(engine, complaints)
    index_keys = settings.index_key_ring()
    if index_keys is not None and index_keys.shares_a_key_with(settings.master_keys()):
        raise IndexKeyError("The index key must not be a master key: give it a key of its own.")
    customer_index = CustomerIndex(engine, complaints, index_keys) if index_keys else None
    if customer_index is not None:
        complaints.recorded_listeners.append(customer_index.on_recorded)
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
    # One bell for the feed's long-polls and the monitor: rung by this process's
    # writes, and on PostgreSQL by every replica's (LISTEN/NOTIFY).
    arrivals = Arrivals()
    complaints.recorded_listeners.append(lambda _recordings: arrivals.ring())
    monitor = DeadlineMonitor(
        complaints,
        queue,
        Lease(
            engine, "deadline-monitor", ttl_seconds=max(5.0, settings.monitor_interval_seconds * 5)
        ),
        settings.monitor_interval_seconds,
        alarms,
        arrivals,
        settings.monitor_fallback_seconds,
    )

    if customer_index is not None:
        monitor.projections.append(customer_index.catch_up)

    feed = Feed(complaints, arrivals, settings.feed_fallback_seconds)
    warn_within = timedelta(days=settings.readiness_calendar_days)

    def readiness() -> dict[str, Any]:
        # A calendar about to run out still serves: this is a warning to act on, not a fault.
        running_out = policies.calendars_running_out(complaints.clock.now(), warn_within)
        return {"calendars_running_out": running_out} if running_out else {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        feed.bind(asyncio.get_running_loop())
        arrivals.listen(settings.database_url)
        task = asyncio.create_task(monitor.run()) if settings.monitor_enabled else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            arrivals.close()
            engine.dispose()
            complaints.close()

    app = create_service_app(
        title="Complaints service",
        description=DESCRIPTION,
        auth=auth,
        metrics=metrics,
        engine=engine,
        readiness=readiness,
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.complaints = complaints
    app.state.queue = queue
    app.state.feed = feed
    app.state.monitor = monitor
    app.state.arrivals = arrivals
    app.state.idempotency = IdempotencyStore(engine)
    app.state.customer_index = customer_index
    app.state.search_log = SearchLog(engine)
    app.state.customer_history = (
        CustomerHistory(complaints, customer_index, queue, app.state.search_log)
        if customer_index is not None
        else None
    )
    if app.state.customer_history is not None:
        complaints.repeat_finder = app.state.customer_history.repeated
    app.state.customer_access = CustomerAccess(
        complaints,
        CustomerTokens(settings.customer_token_secrets()),
        link_ttl=timedelta(seconds=settings.customer_link_ttl_seconds),
        session_ttl=timedelta(seconds=settings.customer_session_seconds),
        rules=CodeRules(
            lifetime=timedelta(seconds=settings.code_lifetime_seconds),
            max_wrong_tries=settings.code_max_wrong_tries,
            lock=timedelta(seconds=settings.code_lock_seconds),
        ),
    )
    app.include_router(http.router)
    app.include_router(customer_api.router)
    return app
