"""Assembles the audit service: ledger, summaries, feed consumer, checkpoint signer and API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import Connection

from services.audit import api, dashboard, indicator_api
from services.audit.checkpoint import Signer, load_or_create_signing_key
from services.audit.checkpoints import CheckpointLog
from services.audit.figures import Figures
from services.audit.immutability import install_schema
from services.audit.ledger import Ledger
from services.audit.ledger_metrics import LedgerCollector
from services.audit.report_period import ReportPeriod
from services.audit.settings import AuditSettings
from services.audit.subscribers import SubscriberBase
from services.audit.summary_table import ComplaintSummaries
from services.audit.team_reports import TeamReports
from services.audit.teams import Teams
from services.audit.work_queue import WorkQueueReader
from services.kernel.auth import AuthSettings
from services.kernel.database import create_database_engine
from services.kernel.feed_consumer import FeedConsumer, feed_token_provider
from services.kernel.observability import Metrics
from services.kernel.webapp import create_service_app

DESCRIPTION = """A read-only, verifiable record of every complaint event.

Each event of the complaints feed is an entry of an append-only ledger, a
leaf of an RFC 6962 Merkle tree with signed C2SP checkpoints. Regulators read
entries, proofs, case files, search and SLA reports; nobody can write.
Authorize with a bearer JWT holding the role regulator, supervisor or admin."""


def service_token(settings: AuditSettings, auth: AuthSettings) -> Callable[[], str] | None:
    """The audit service's own bearer token (role service) for calls to other services.

    `AUDIT_SERVICE_TOKEN`, else `AUDIT_FEED_TOKEN`, else minted from
    `AUTH_JWT_SECRET`; None when none is configured (the calls then degrade).
    """
    if settings.service_token is not None:
        fixed = settings.service_token.get_secret_value()
        return lambda: fixed
    try:
        return feed_token_provider("AUDIT", auth)
    except ValueError:
        return None


def create_app(settings: AuditSettings | None = None, auth: AuthSettings | None = None) -> FastAPI:
    """Build the audit service; the consumer and the signer run while the app is served."""
    settings = settings or AuditSettings()
    auth = auth or AuthSettings()
    engine = create_database_engine(settings.database_url)
    summaries = ComplaintSummaries(engine)
    with engine.begin() as conn:
        install_schema(conn)
        # A derived table is never migrated in place: it is refolded from the ledger.
        summaries.ensure_current(conn)
    ledger = Ledger(engine)
    signer = Signer(load_or_create_signing_key(settings.signing_key), settings.log_origin)
    checkpoints = CheckpointLog(engine, signer)
    metrics = Metrics("audit")
    metrics.registry.register(LedgerCollector(ledger, checkpoints))

    def record(conn: Connection, items: list[dict[str, Any]]) -> None:
        # Entries, tree nodes and summaries commit with the feed position, or not at all.
        size = ledger.append(conn, items)
        summaries.apply(conn, items, size - len(items))

    consumer = (
        FeedConsumer(
            name="audit",
            engine=engine,
            feed_url=settings.feed_url,
            token=feed_token_provider("AUDIT", auth),
            handler=record,
            page_size=settings.feed_page_size,
            wait_seconds=settings.feed_wait_seconds,
            lease_ttl=settings.lease_ttl_seconds,
            metrics=metrics.registry,
        )
        if settings.consumer_enabled
        else None
    )

    teams = Teams.load(settings.staff_directory)
    token = service_token(settings, auth)
    zone = ZoneInfo(settings.timezone)
    figures = Figures(summaries, teams, SubscriberBase.load(settings.subscribers_file), zone)
    reports = (
        TeamReports(
            engine,
            figures,
            ReportPeriod.parse(settings.team_report_period),
            origin=settings.log_origin,
            notifications_url=settings.notifications_url,
            dashboard_url=settings.public_url,
            token=token,
            delay_seconds=settings.team_report_delay_seconds,
            lease_ttl=settings.lease_ttl_seconds,
            timeout=settings.http_timeout_seconds,
        )
        if settings.team_report_period
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(checkpoints.run(settings.checkpoint_interval_seconds))]
        if reports is not None:
            tasks.append(asyncio.create_task(reports.run()))
        if consumer is not None:
            tasks.append(asyncio.create_task(consumer.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if consumer is not None:
                consumer.close()
            engine.dispose()

    def readiness() -> dict[str, Any]:
        details: dict[str, Any] = {"tree_size": ledger.size()}
        if consumer is not None:
            details["feed"] = {
                "position": consumer.position,
                "lag": consumer.lag,
                "standing_by": consumer.standing_by,
            }
        return details

    app = create_service_app(
        title="Audit service",
        description=DESCRIPTION,
        auth=auth,
        metrics=metrics,
        engine=engine,
        readiness=readiness,
        cors_origins=settings.cors_origins,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.summaries = summaries
    app.state.checkpoints = checkpoints
    app.state.consumer = consumer
    app.state.record = record
    app.state.zone = zone
    app.state.teams = teams
    app.state.subscribers = figures.subscribers
    app.state.team_reports = reports
    app.state.work_queue = WorkQueueReader(
        settings.complaints_url or settings.feed_url,
        token,
        app.state.teams,
        settings.at_risk_hours,
        zone,
        settings.http_timeout_seconds,
    )
    app.include_router(indicator_api.router)
    app.include_router(dashboard.router)
    app.include_router(api.router)
    return app
