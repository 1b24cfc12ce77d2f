"""Run the audit service: `python -m services.audit --host H --port P`."""

from __future__ import annotations

from services.audit.app import create_app
from services.audit.settings import AuditSettings, startup_problems
from services.kernel.serving import serve
from services.kernel.startup import checked_settings


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    settings, auth = checked_settings("audit", AuditSettings, startup_problems)
    serve("audit", 8002, settings.log_level, lambda: create_app(settings, auth), settings)


if __name__ == "__main__":
    main()
