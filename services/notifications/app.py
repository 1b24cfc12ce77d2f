"""Assembles the notifications service: feed consumer, outbox, dispatcher and HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from services.kernel.auth import AuthSettings
from services.kernel.backoff import Backoff
from services.kernel.database import create_database_engine
from services.kernel.feed_consumer import FeedConsumer, feed_token_provider
from services.kernel.idempotency import IdempotencyStore
from services.kernel.observability import Metrics
from services.kernel.phones import set_default_region
from services.kernel.staff_directory import StaffDirectory
from services.kernel.webapp import create_service_app
from services.notifications import api, inbound_api
from services.notifications.addressing import AddressBook
from services.notifications.cases import metadata as cases_metadata
from services.notifications.channels import Channel
from services.notifications.channels.email import EmailChannel
from services.notifications.channels.log import LogChannel
from services.notifications.channels.sms import SmsChannel
from services.notifications.channels.webhook import WebhookChannel
from services.notifications.contacts import ContactReader
from services.notifications.destinations import DestinationRules
from services.notifications.dispatcher import Dispatcher
from services.notifications.intake import Intake
from services.notifications.metrics import NotificationMetrics, OutboxCollector
from services.notifications.outbox import Outbox
from services.notifications.portal_links import SendTimeContext
from services.notifications.quiet_hours import QuietHours
from services.notifications.replies import ReplyBook, ReplyDesk
from services.notifications.rules import RuleBook
from services.notifications.settings import NotificationsSettings
from services.notifications.staff_messages import StaffMessages
from services.notifications.templating import Renderer
from services.notifications.webhooks import Subscriptions

DESCRIPTION = """Tells customers and staff about their complaints, over real channels, once each.

Consumes the complaints feed into an outbox and delivers it by e-mail, SMS,
signed webhooks or the log. Authorize with a bearer JWT (`sub`, `roles`, `exp`)."""


def build_channels(settings: NotificationsSettings) -> dict[str, Channel]:
    """The channels this deployment has configured; webhooks and the log always are."""
    channels: dict[str, Channel] = {
        "log": LogChannel(),
        "webhook": WebhookChannel(
            settings.http_timeout_seconds, DestinationRules(settings.webhook_allow_private)
        ),
    }
    if settings.smtp_host:
        channels["email"] = EmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
        )
    if settings.sms_url:
        channels["sms"] = SmsChannel(
            settings.sms_url,
            settings.sms_token.get_secret_value() if settings.sms_token else None,
            settings.http_timeout_seconds,
        )
    return channels


def service_token(settings: NotificationsSettings, auth: AuthSettings) -> Callable[[], str]:
    """The bearer token used for the feed and for contact reads."""
    if settings.feed_token is not None:
        fixed = settings.feed_token.get_secret_value()
        return lambda: fixed
    return feed_token_provider("NOTIFICATIONS", auth)


def build_dispatcher(
    settings: NotificationsSettings,
    engine: Engine,
    outbox: Outbox,
    subscriptions: Subscriptions,
    directory: StaffDirectory,
    renderer: Renderer,
    token: Callable[[], str],
    metrics: NotificationMetrics | None = None,
    replies: ReplyBook | None = None,
) -> Dispatcher:
    """A dispatcher wired to the configured channels."""
    contacts = ContactReader(settings.contact_url, token, settings.http_timeout_seconds)
    return Dispatcher(
        outbox,
        build_channels(settings),
        AddressBook(contacts, directory, subscriptions),
        renderer,
        Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds),
        max_attempts=settings.max_attempts,
        lease_seconds=settings.claim_lease_seconds,
        # A batch sent within a twentieth of the lease needs no renewals (3 s of 60).
        fresh_for=settings.claim_lease_seconds / 20,
        batch=settings.dispatch_batch,
        concurrency=settings.dispatch_concurrency,
        quiet_hours=QuietHours.parse(settings.quiet_hours, settings.timezone)
        if settings.quiet_hours
        else None,
        metrics=metrics,
        send_time=SendTimeContext(
            settings.contact_url,
            token,
            settings.portal_public_url,
            settings.portal_link_templates,
            settings.http_timeout_seconds,
        ),
        replies=replies,
    )


def create_app(
    settings: NotificationsSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """Build the service; the consumer and the dispatcher run while the app is served."""
    settings = settings or NotificationsSettings()
    auth = auth or AuthSettings()
    set_default_region(settings.phone_region)
    engine = create_database_engine(settings.database_url)
    cases_metadata.create_all(engine, checkfirst=True)
    outbox = Outbox(engine)
    subscriptions = Subscriptions(engine)
    directory = StaffDirectory.load(settings.staff_directory)
    renderer = Renderer(timezone=settings.timezone, hotline=settings.hotline)
    rules = RuleBook.load(settings.rules_file, templates=renderer.names())
    channels = build_channels(settings)
    token = service_token(settings, auth)

    metrics = Metrics("notifications")
    notification_metrics = NotificationMetrics(metrics.registry)
    metrics.registry.register(OutboxCollector(outbox.counts))
    intake = Intake(
        outbox,
        rules,
        directory,
        subscriptions,
        available_channels=channels,
        default_channel=settings.default_channel,
    )
    consumer = FeedConsumer(
        name="notifications",
        engine=engine,
        feed_url=settings.feed_url,
        token=token,
        handler=intake,
        page_size=settings.feed_page_size,
        wait_seconds=settings.feed_wait_seconds,
        lease_ttl=settings.feed_lease_seconds,
        metrics=metrics.registry,
    )
    replies = (
        ReplyBook(engine, settings.inbound_sms_secret.get_secret_value())
        if settings.inbound_sms_secret
        else None
    )
    dispatcher = build_dispatcher(
        settings,
        engine,
        outbox,
        subscriptions,
        directory,
        renderer,
        token,
        notification_metrics,
        replies,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.consumer_enabled:
            tasks.append(asyncio.create_task(consumer.run()))
        if settings.dispatcher_enabled:
            tasks.append(asyncio.create_task(dispatcher.run(settings.dispatch_interval_seconds)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            consumer.close()
            dispatcher.close()
            engine.dispose()

    def readiness() -> dict[str, Any]:
        return {
            "feed_position": consumer.position,
            "feed_lag": consumer.lag,
            "feed_standing_by": consumer.standing_by,
        }

    app = create_service_app(
        title="Notifications service",
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
    app.state.outbox = outbox
    app.state.subscriptions = subscriptions
    app.state.consumer = consumer
    app.state.dispatcher = dispatcher
    app.state.intake = intake
    app.state.idempotency = IdempotencyStore(engine)
    app.state.staff_messages = StaffMessages(
        engine, outbox, directory, renderer, channels, settings.default_channel
    )
    app.state.reply_desk = (
        ReplyDesk(
            replies,
            settings.contact_url,
            token,
            settings.dispute_words,
            settings.http_timeout_seconds,
        )
        if replies is not None
        else None
    )
    app.include_router(api.router)
    app.include_router(inbound_api.router)
    return app
