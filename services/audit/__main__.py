"""Run the audit service: `python -m services.audit --host H --port P`."""

from __future__ import annotations

from services.audit.app import create_app
from services.audit.settings import AuditSettings, startup_problems
from services.kernel.auth import AuthSettings
from services.kernel.serving import serve
from services.kernel.startup import Startup


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    startup = Startup("audit")
    settings = startup.load(AuditSettings)
    auth = startup.load(AuthSettings)
    if settings is not None and auth is not None:
        startup.extend(startup_problems(settings, auth))
    startup.finish()
    assert settings is not None and auth is not None
    serve("audit", 8002, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
