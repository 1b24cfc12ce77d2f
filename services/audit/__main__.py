"""Run the audit service: `python -m services.audit --host H --port P`."""

from __future__ import annotations

import argparse

import uvicorn

from services.audit.app import create_app
from services.audit.settings import AuditSettings
from services.kernel.observability import configure_logging


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m services.audit")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    settings = AuditSettings()
    configure_logging("audit", settings.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
