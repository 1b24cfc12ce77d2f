"""Run the notifications service: `python -m services.notifications --host H --port P`."""

from __future__ import annotations

from services.kernel.serving import serve
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings


def main() -> None:
    """Serve until interrupted."""
    settings = NotificationsSettings()
    serve("notifications", 8001, settings.log_level, lambda: create_app(settings))


if __name__ == "__main__":
    main()
