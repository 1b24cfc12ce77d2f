"""Run the audit service: `python -m services.audit --host H --port P`."""

from __future__ import annotations

from services.audit.app import create_app
from services.audit.settings import AuditSettings
from services.kernel.serving import serve


def main() -> None:
    """Serve until interrupted."""
    settings = AuditSettings()
    serve("audit", 8002, settings.log_level, lambda: create_app(settings))


if __name__ == "__main__":
    main()
