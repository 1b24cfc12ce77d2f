"""Run the notifications service: `python -m services.notifications --host H --port P`."""

from __future__ import annotations

from services.kernel.auth import AuthSettings
from services.kernel.serving import serve
from services.kernel.startup import Startup, service_problems
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    startup = Startup("notifications")
    settings = startup.load(NotificationsSettings)
    auth = startup.load(AuthSettings)
    if settings is not None and auth is not None:
        startup.extend(service_problems(NotificationsSettings, settings, auth))
    startup.finish()
    assert settings is not None and auth is not None
    serve("notifications", 8001, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
