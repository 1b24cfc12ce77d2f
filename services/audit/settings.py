"""The audit service's settings (prefix `AUDIT_`), twelve-factor style.

The feed token is read by the shared feed consumer from `AUDIT_FEED_TOKEN`
(see `services.kernel.feed_consumer.feed_token_provider`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    """Everything the audit service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/audit.db",
        description="SQLite file or postgresql://user:pass@host:port/db.",
    )
    feed_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the complaints service."
    )
    signing_key: Path = Field(
        default=Path("var/audit-signing.pem"),
        description="PEM (PKCS#8) Ed25519 private key; generated (mode 0600) if missing.",
    )
    log_origin: str = Field(
        default="complaints.example/audit",
        description="The checkpoint origin line; also the signing key's name.",
    )
    checkpoint_interval_seconds: float = Field(
        default=2.0, description="How often a checkpoint is signed while entries arrive."
    )
    consumer_enabled: bool = Field(
        default=True, description="Consume the feed (off for a read-only replica)."
    )
    feed_page_size: int = Field(default=200, ge=1, le=1000)
    feed_wait_seconds: float = Field(default=10.0, description="Long-poll wait per feed read.")
    lease_ttl_seconds: float = Field(
        default=10.0, description="How long a dead consumer's lease blocks a standby."
    )
    max_page_size: int = Field(default=1000, description="Most entries returned per page.")
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
