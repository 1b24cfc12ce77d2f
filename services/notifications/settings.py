"""The notifications service's settings (prefix `NOTIFICATIONS_`), twelve-factor style."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kernel.serving import ServingSettings

PACKAGE_DIR = Path(__file__).resolve().parent


class NotificationsSettings(ServingSettings):
    """Everything the notifications service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/notifications.db",
        description="SQLite file or postgresql://user:pass@host:port/db.",
    )
    feed_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the complaints service."
    )
    feed_token: SecretStr | None = Field(
        default=None, description="Bearer token for the feed; minted from AUTH_* when unset."
    )
    complaints_url: str | None = Field(
        default=None, description="Where contact details are read; defaults to FEED_URL."
    )
    consumer_enabled: bool = Field(default=True, description="Run the feed consumer.")
    dispatcher_enabled: bool = Field(default=True, description="Run the dispatcher.")

    rules_file: Path = Field(
        default=PACKAGE_DIR / "rules.toml", description="Which events notify whom (TOML)."
    )
    staff_directory: Path = Field(
        default=PACKAGE_DIR / "staff.sample.toml",
        description="Staff addresses, languages, teams and supervisors (TOML or JSON).",
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="Zone for deadlines in messages and quiet hours."
    )

    hotline: str = Field(default="10000", description="Service number quoted in messages.")
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, link-local or private addresses "
        "(local runs and tests); off, such URLs are refused so an admin token cannot "
        "aim the service at internal systems.",
    )
    default_channel: str | None = Field(
        default="log",
        description="Used instead of a channel that is not configured; empty: such "
        "messages are dead with reason `channel-not-configured`.",
    )
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "notifications@complaints.invalid"
    smtp_timeout_seconds: float = 10.0
    sms_url: str | None = Field(default=None, description="HTTP gateway receiving JSON POSTs.")
    sms_token: SecretStr | None = None
    http_timeout_seconds: float = Field(
        default=10.0, description="Timeout of SMS, webhook and contact requests."
    )

    max_attempts: int = Field(default=8, ge=1, description="Attempts before a message is dead.")
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    quiet_hours: str | None = Field(
        default="22:00-08:00",
        description="No SMS to customers in this local window (TIMEZONE); empty: none.",
    )
    dispatch_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the dispatcher looks for due messages."
    )
    dispatch_batch: int = Field(default=20, ge=1, description="Messages claimed at once.")
    dispatch_concurrency: int = Field(
        default=4,
        ge=1,
        description="Messages of a claimed batch sent at once (one complaint's in order).",
    )
    claim_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A `sending` claim older than this (a crash) makes the message due again.",
    )
    feed_page_size: int = 200
    feed_wait_seconds: float = 10.0
    feed_lease_seconds: float = 10.0

    portal_public_url: str | None = Field(
        default=None,
        description="The customer portal's public URL; set, receipt, result and survey "
        "notices carry a link `{PORTAL_PUBLIC_URL}/c/{case}?t={token}`.",
    )
    portal_link_templates: list[str] = Field(
        default_factory=lambda: ["receipt", "result", "survey"],
        description="Templates whose messages carry the portal link.",
    )
    inbound_sms_secret: SecretStr | None = Field(
        default=None,
        description="Secret shared with the SMS gateway; signs `POST /v1/inbound/sms`. "
        "Unset: inbound SMS answers 503.",
    )
    inbound_max_skew_seconds: int = Field(
        default=300, ge=1, description="How old (or early) a signed inbound request may be."
    )
    dispute_words: list[str] = Field(
        default_factory=lambda: ["不满意", "N", "no"],
        description="Replies that dispute the result (case-insensitive, whole reply).",
    )
    max_body_bytes: int = 64 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    phone_region: str = Field(
        default="CN",
        description="Region (ISO 3166) of phone numbers written without '+', for normalising.",
    )

    @model_validator(mode="after")
    def _defaults(self) -> NotificationsSettings:
        if not self.complaints_url:
            self.complaints_url = self.feed_url
        if self.default_channel == "":
            self.default_channel = None
        if self.quiet_hours == "":
            self.quiet_hours = None
        # A claim must outlive the slowest send, or two dispatchers could both send it.
        slowest = self.slowest_send_seconds
        if self.claim_lease_seconds <= slowest:
            raise ValueError(
                f"CLAIM_LEASE_SECONDS must exceed {slowest:g} s, the slowest send (the "
                "contact read, the portal's result and link, and the channel, each timed out)."
            )
        return self

    @property
    def slowest_send_seconds(self) -> float:
        """The longest one send may take, each of its calls timed out.

        A result notice makes four calls: the contact read, the result's words
        and the portal link (all HTTP), then the channel (SMTP or HTTP).
        """
        return 3 * self.http_timeout_seconds + max(
            self.smtp_timeout_seconds, self.http_timeout_seconds
        )

    @property
    def contact_url(self) -> str:
        """The complaints service base URL used for contact reads."""
        return (self.complaints_url or self.feed_url).rstrip("/")
