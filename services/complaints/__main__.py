"""Run the complaints service: `python -m services.complaints --host H --port P`."""

from __future__ import annotations

from fastapi import FastAPI

from services.complaints.app import create_app
from services.complaints.domain.policy import PolicyError
from services.complaints.settings import ComplaintsSettings, startup_problems
from services.kernel.serving import serve
from services.kernel.startup import SettingProblem, checked_settings, refuse


def main() -> None:
    """Check the settings (exit 2 naming each mistake), then serve until interrupted."""
    settings, auth = checked_settings("complaints", ComplaintsSettings, startup_problems)

    def build() -> FastAPI:
        try:
            return create_app(settings, auth)
        except PolicyError as exc:
            # A policy the service cannot run with is one line, not a traceback.
            refuse("complaints", [SettingProblem("COMPLAINTS_POLICY_DIR", str(exc))])

    serve("complaints", 8000, settings.log_level, build, settings)


if __name__ == "__main__":
    main()
