"""Run the notifications service: `python -m services.notifications --host H --port P`."""

from __future__ import annotations

import argparse

import uvicorn

from services.kernel.observability import configure_logging
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m services.notifications")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    settings = NotificationsSettings()
    configure_logging("notifications", settings.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
