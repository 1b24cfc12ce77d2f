"""The complaints service's settings (prefix `COMPLAINTS_`), twelve-factor style."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.complaints.domain.policy import default_policy_dir


class ComplaintsSettings(BaseSettings):
    """Everything the complaints service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/complaints.db",
        description="SQLite file or postgresql://user:pass@host:port/db.",
    )
    policy_dir: Path = Field(
        default_factory=default_policy_dir, description="Directory of SLA policy TOML files."
    )
    default_policy: str = Field(
        default="cn-service-spec", description="Policy id applied to new complaints."
    )
    monitor_interval_seconds: float = Field(
        default=1.0, description="How often the deadline monitor looks for due alarms."
    )
    monitor_enabled: bool = True
    snapshot_interval: int = Field(default=50, description="Take a snapshot every N events.")
    postgres_lock_timeout_seconds: int = 5
    max_body_bytes: int = 64 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    master_key: SecretStr | None = Field(
        default=None,
        description="Fernet master key(s), comma-separated: the first wraps data keys, all unwrap.",
    )
    log_level: str = "INFO"
    feed_max_wait_seconds: float = 30.0

    def master_keys(self) -> list[str]:
        """The configured master keys, wrapping key first."""
        if self.master_key is None:
            return []
        return [k.strip() for k in self.master_key.get_secret_value().split(",") if k.strip()]
