"""Run the notifications service: `python -m services.notifications --host H --port P`."""

from __future__ import annotations

from services.kernel.auth import AuthSettings
from services.kernel.serving import serve
from services.kernel.startup import SettingProblem, checked_settings, service_problems
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings


def _problems(settings: NotificationsSettings, auth: AuthSettings) -> list[SettingProblem]:
    return service_problems(NotificationsSettings, settings, auth)


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    settings, auth = checked_settings("notifications", NotificationsSettings, _problems)
    serve("notifications", 8001, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
