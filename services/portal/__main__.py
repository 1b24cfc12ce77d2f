"""Run the customer portal: `python -m services.portal --host H --port P`."""

from __future__ import annotations

from services.kernel.auth import AuthSettings
from services.kernel.serving import serve
from services.kernel.startup import Startup
from services.portal.app import create_app
from services.portal.settings import PortalSettings, startup_problems


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    startup = Startup("portal")
    settings = startup.load(PortalSettings)
    auth = startup.load(AuthSettings)
    if settings is not None and auth is not None:
        startup.extend(startup_problems(settings, auth))
    startup.finish()
    assert settings is not None and auth is not None
    serve("portal", 8003, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
