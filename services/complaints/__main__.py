"""Run the complaints service: `python -m services.complaints --host H --port P`."""

from __future__ import annotations

import argparse

import uvicorn

from services.complaints.app import create_app
from services.complaints.settings import ComplaintsSettings
from services.kernel.observability import configure_logging


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m services.complaints")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = ComplaintsSettings()
    configure_logging("complaints", settings.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
