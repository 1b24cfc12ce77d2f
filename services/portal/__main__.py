"""Run the customer portal: `python -m services.portal --host H --port P`."""

from __future__ import annotations

from services.kernel.serving import serve
from services.kernel.startup import checked_settings
from services.portal.app import create_app
from services.portal.settings import PortalSettings, startup_problems


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    settings, auth = checked_settings("portal", PortalSettings, startup_problems)
    serve("portal", 8003, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
