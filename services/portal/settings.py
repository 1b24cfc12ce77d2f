"""The portal's settings (prefix `PORTAL_`), twelve-factor style."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.kernel.auth import AuthSettings
from services.kernel.customer_tokens import split_secrets
from services.kernel.serving import ServingSettings
from services.kernel.startup import SettingProblem, http_url_problems, token_key_problems


class PortalSettings(ServingSettings):
    """Everything the portal reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    public_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where customers reach the portal (links in notices start with it).",
    )
    complaints_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the complaints service."
    )
    service_token: SecretStr | None = Field(
        default=None,
        description="Bearer token (role `service`) for the complaints service; minted from "
        "AUTH_JWT_SECRET when unset (local runs only: in production give a token, so the "
        "portal holds no secret that can mint staff tokens).",
    )
    customer_token_secret: SecretStr | None = Field(
        default=None,
        description="Secret(s) verifying customer tokens, comma-separated: the same as "
        "COMPLAINTS_CUSTOMER_TOKEN_SECRET.",
    )
    timezone: str = Field(default="Asia/Shanghai", description="Zone times are shown in.")
    default_language: str = Field(default="zh-CN", description="zh-CN or en.")
    hotline: str = Field(default="10000", description="Service number shown on pages.")
    rate_limit_per_second: float = Field(
        default=2.0, description="Sustained requests per second per client address (0: none)."
    )
    rate_limit_burst: int = Field(default=40, description="Requests a client address may burst.")
    code_requests_per_phone: int = Field(
        default=5, ge=1, description="Code requests one phone number may make per window."
    )
    code_request_window_seconds: int = Field(
        default=900, ge=1, description="The window of CODE_REQUESTS_PER_PHONE."
    )
    http_timeout_seconds: float = Field(default=10.0, description="Calls to complaints.")
    max_body_bytes: int = 16 * 1024
    log_level: str = "INFO"
    phone_region: str = Field(
        default="CN", description="Region (ISO 3166) of phone numbers written without '+'."
    )

    def customer_token_secrets(self) -> list[str]:
        """The verifying secrets."""
        raw = self.customer_token_secret.get_secret_value() if self.customer_token_secret else ""
        return split_secrets(raw)


def startup_problems(settings: PortalSettings, auth: AuthSettings) -> list[SettingProblem]:
    """What would stop the portal from working, found before it starts."""
    problems = http_url_problems("PORTAL_COMPLAINTS_URL", settings.complaints_url)
    if settings.service_token is None:
        if not auth.secrets():
            problems.append(
                SettingProblem(
                    "PORTAL_SERVICE_TOKEN",
                    "not set, and no AUTH_JWT_SECRET to mint one: the portal cannot reach "
                    "the complaints service",
                )
            )
        else:
            problems += token_key_problems(auth)
    return problems
