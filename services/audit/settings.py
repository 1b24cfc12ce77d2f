"""The audit service's settings (prefix `AUDIT_`), twelve-factor style.

The feed token is read by the shared feed consumer from `AUDIT_FEED_TOKEN`
(see `services.kernel.feed_consumer.feed_token_provider`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.audit.report_period import ReportPeriod
from services.kernel.auth import AuthSettings
from services.kernel.serving import ServingSettings
from services.kernel.startup import SettingProblem, service_problems


class AuditSettings(ServingSettings):
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
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA zone of the operator: days, weeks and months of trends and returns.",
    )
    staff_directory: Path | None = Field(
        default=None,
        description="The staff directory file (as NOTIFICATIONS_STAFF_DIRECTORY): teams.",
    )
    subscribers_file: Path | None = Field(
        default=None,
        description="CSV month,region,subscribers: the base of the complaint rate.",
    )
    complaints_url: str | None = Field(
        default=None,
        description="Base URL of the complaints service's API (the work queue of the "
        "dashboard's at-risk list); defaults to FEED_URL.",
    )
    service_token: SecretStr | None = Field(
        default=None,
        description="Bearer token (role service) for the complaints work queue and the "
        "notifications service; minted from AUTH_JWT_SECRET when unset.",
    )
    http_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Timeout of calls to the complaints and notifications."
    )
    at_risk_hours: float = Field(
        default=4.0,
        gt=0,
        le=24 * 30,
        description="The dashboard's at-risk list: open complaints due within this many hours.",
    )
    team_report_period: str | None = Field(
        default=None,
        description="How often each team's supervisors get the team's figures: P1D, P1W, "
        "P1M (local day, ISO week, month) or PTnH/PTnM/PTnS dividing a day; unset: never.",
    )
    team_report_delay_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long after a period ends its report is computed (feed lag).",
    )
    notifications_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Base URL of the notifications service (team reports).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8002",
        description="The audit service's address as staff reach it: the dashboard link.",
    )

    @field_validator("team_report_period")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value:
            ReportPeriod.parse(value)
        return value or None

    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"


def startup_problems(settings: AuditSettings, auth: AuthSettings) -> list[SettingProblem]:
    """What would stop the audit service from working, found before it starts."""
    problems = service_problems(AuditSettings, settings, auth)
    folder = settings.signing_key.expanduser().absolute().parent
    if not settings.signing_key.exists() and not folder.is_dir():
        problems.append(
            SettingProblem(
                "AUDIT_SIGNING_KEY",
                f"no key there, and its folder {folder} does not exist to make one in",
            )
        )
    return problems
