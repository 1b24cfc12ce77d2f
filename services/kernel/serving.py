"""Running a service from the command line: `python -m services.<name> --host H --port P`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from services.kernel.observability import configure_logging


def serve(service: str, default_port: int, log_level: str, build: Callable[[], FastAPI]) -> None:
    """Parse `--host` and `--port`, log JSON lines, and serve the app until interrupted."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    configure_logging(service, log_level)
    uvicorn.run(build(), host=args.host, port=args.port, log_config=None)
