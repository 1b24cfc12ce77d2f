"""Run the complaints service: `python -m services.complaints --host H --port P`."""

from __future__ import annotations

from services.complaints.app import create_app
from services.complaints.settings import ComplaintsSettings
from services.kernel.serving import serve


def main() -> None:
    """Serve until interrupted."""
    settings = ComplaintsSettings()
    serve("complaints", 8000, settings.log_level, lambda: create_app(settings))


if __name__ == "__main__":
    main()
