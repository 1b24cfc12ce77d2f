"""The complaints service's settings (prefix `COMPLAINTS_`), twelve-factor style."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.complaints.blind_index import IndexKeyError, IndexKeyRing
from services.complaints.domain.policy import PolicyError
from services.complaints.domain.policy_book import PolicyBook
from services.complaints.domain.policy_files import default_policy_dir, load_policy
from services.complaints.vault import master_keys_open_stored_keys
from services.kernel.auth import AuthSettings
from services.kernel.customer_tokens import split_secrets
from services.kernel.serving import ServingSettings
from services.kernel.startup import (
    SettingProblem,
    database_problems,
    token_key_problems,
    variable_of,
)


class ComplaintsSettings(ServingSettings):
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
        default=1.0,
        description="Least time between two passes of the deadline monitor (writes wake it).",
    )
    monitor_fallback_seconds: float = Field(
        default=60.0,
        description="Longest the monitor sleeps with no write and nothing falling due.",
    )
    monitor_enabled: bool = True
    snapshot_interval: int = Field(default=50, description="Take a snapshot every N events.")
    postgres_lock_timeout_seconds: int = 5
    group_commit_max: int = Field(
        default=64,
        description="Commands saved together in one transaction at most (group commit); "
        "0 or 1: each command commits alone.",
    )
    group_commit_window_ms: float = Field(
        default=0.0,
        description="How long a group's leader waits for more commands before committing.",
    )
    max_body_bytes: int = 64 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    master_key: SecretStr | None = Field(
        default=None,
        description="Fernet master key(s), comma-separated: the first wraps data keys, all unwrap.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="The operator's time zone: the date in case numbers, local times shown.",
    )
    readiness_calendar_days: int = Field(
        default=60, description="/readyz warns of a calendar whose known dates end this soon."
    )
    index_keys: SecretStr | None = Field(
        default=None,
        description="Blind-index keys for customer history, 'VERSION:KEY' comma-separated, "
        "current first; never the master key. Unset: customer history is off.",
    )
    referral_policy: str = Field(
        default="cn-appeal-centre",
        description="Policy id applied to complaints referred by an appeal centre.",
    )
    staff_directory: Path | None = Field(
        default=None,
        description="The staff directory file (as NOTIFICATIONS_STAFF_DIRECTORY): who is in "
        "which team, for need-to-know on cases assigned to a team.",
    )
    allow_claims: bool = Field(
        default=False,
        description="Whether an agent may claim an unassigned case (a recorded `Claimed` event "
        "with its reason); otherwise taking over a case is a supervisor's transfer.",
    )
    log_level: str = "INFO"
    phone_region: str = Field(
        default="CN",
        description="Region (ISO 3166) of phone numbers written without '+', for normalising.",
    )
    feed_max_wait_seconds: float = 30.0
    feed_fallback_seconds: float = Field(
        default=2.0,
        description="A long-poll looks at the head at least this often (writes wake it at once; "
        "on SQLite, writes by other processes are seen only this way).",
    )
    # The customer's own channel (portal links, one-time codes, SMS replies).
    customer_token_secret: SecretStr | None = Field(
        default=None,
        description="Secret(s) signing customer tokens, comma-separated (the first signs); "
        "the portal verifies with the same. Unset: the customer channel answers 503.",
    )
    customer_link_ttl_seconds: int = Field(
        default=30 * 24 * 3600, ge=60, description="How long a link in a notice stays valid."
    )
    customer_session_seconds: int = Field(
        default=3600, ge=60, description="How long a token got with a one-time code is valid."
    )
    code_lifetime_seconds: int = Field(
        default=600, ge=30, description="How long a one-time code may be used."
    )
    code_max_wrong_tries: int = Field(
        default=5, ge=1, description="Wrong codes or phones that lock the case."
    )
    code_lock_seconds: int = Field(
        default=1800, ge=1, description="How long a locked case refuses codes."
    )

    def customer_token_secrets(self) -> list[str]:
        """The customer token secrets, signing one first."""
        raw = self.customer_token_secret.get_secret_value() if self.customer_token_secret else ""
        return split_secrets(raw)

    def index_key_ring(self) -> IndexKeyRing | None:
        """The blind-index key ring, or None when customer history is off."""
        if self.index_keys is None or not self.index_keys.get_secret_value().strip():
            return None
        return IndexKeyRing.parse(self.index_keys.get_secret_value())

    def master_keys(self) -> list[str]:
        """The configured master keys, wrapping key first."""
        if self.master_key is None:
            return []
        return [k.strip() for k in self.master_key.get_secret_value().split(",") if k.strip()]


def startup_problems(settings: ComplaintsSettings, auth: AuthSettings) -> list[SettingProblem]:
    """What would stop the service from working, found before it starts (one per variable)."""
    problems = database_problems(
        variable_of(ComplaintsSettings, "database_url"), settings.database_url
    )
    problems += token_key_problems(auth)
    master = _master_key_problems(settings)
    problems += master
    if not master and not problems:
        opens = master_keys_open_stored_keys(settings.database_url, settings.master_keys())
        if opens is False:
            problems.append(
                SettingProblem(
                    "COMPLAINTS_MASTER_KEY",
                    "none of the keys opens the data keys stored in the database "
                    "(a key dropped before re-wrapping, or the wrong one?)",
                )
            )
    problems += _policy_problems(settings)
    try:
        ring = settings.index_key_ring()
    except IndexKeyError as exc:
        problems.append(SettingProblem("COMPLAINTS_INDEX_KEYS", str(exc)))
    else:
        if ring is not None and ring.shares_a_key_with(settings.master_keys()):
            problems.append(
                SettingProblem("COMPLAINTS_INDEX_KEYS", "must not be a master key: give it its own")
            )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            SettingProblem("COMPLAINTS_TIMEZONE", f"unknown time zone {settings.timezone!r}")
        )
    return problems


def _master_key_problems(settings: ComplaintsSettings) -> list[SettingProblem]:
    variable = "COMPLAINTS_MASTER_KEY"
    keys = settings.master_keys()
    if not keys:
        return [
            SettingProblem(
                variable,
                "not set: personal data is sealed with it; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`",
            )
        ]
    problems = []
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            which = "the key" if len(keys) == 1 else f"key {number}"
            problems.append(
                SettingProblem(variable, f"{which} is not a Fernet key (32 bytes, url-safe base64)")
            )
    return problems


def _policy_problems(settings: ComplaintsSettings) -> list[SettingProblem]:
    if not settings.policy_dir.is_dir():
        return [SettingProblem("COMPLAINTS_POLICY_DIR", f"no such folder: {settings.policy_dir}")]
    try:
        known = sorted({load_policy(path).id for path in settings.policy_dir.glob("*.toml")})
    except PolicyError as exc:
        return [SettingProblem("COMPLAINTS_POLICY_DIR", f"a policy file is invalid: {exc}")]
    problems = []
    # Without its referral policy the service still runs (ordinary clocks): only a
    # referral policy that was asked for must exist.
    fields = ["default_policy"]
    if "referral_policy" in settings.model_fields_set:
        fields.append("referral_policy")
    for field in fields:
        wanted = getattr(settings, field)
        if wanted not in known:
            problems.append(
                SettingProblem(
                    variable_of(ComplaintsSettings, field),
                    f"no policy {wanted!r} in {settings.policy_dir} "
                    f"(known: {', '.join(known) or 'none'})",
                )
            )
    if not problems:
        try:  # Everything else the service will check: calendars, dates covered from now on.
            PolicyBook.load(
                settings.policy_dir, default_id=settings.default_policy, now=datetime.now(UTC)
            )
        except PolicyError as exc:
            problems.append(SettingProblem("COMPLAINTS_POLICY_DIR", str(exc)))
    return problems
