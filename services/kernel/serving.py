"""Running a service from the command line: `python -m services.<name> --host H --port P`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings

from services.kernel.observability import configure_logging
from services.kernel.read_timeouts import timed_protocol
from services.kernel.startup import port_problems, refuse


class ServingSettings(BaseSettings):
    """How long a client may take over a request: every service's settings include these."""

    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must be in this long after the connection opened "
        "(or the previous response ended), else 408 and the connection is closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request's body must be in this long after its headers, else 408.",
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="An idle connection is closed after this long."
    )


def serve(
    service: str,
    default_port: int,
    log_level: str,
    build: Callable[[], FastAPI],
    settings: ServingSettings | None = None,
) -> None:
    """Parse `--host` and `--port`, log JSON lines, and serve the app until interrupted.

    `settings` give the read timeouts (their defaults when none are given).
    """
    settings = settings or ServingSettings()
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    taken = port_problems(args.host, args.port)
    if taken:
        refuse(service, taken)
    configure_logging(service, log_level)
    uvicorn.run(
        build(),
        host=args.host,
        port=args.port,
        log_config=None,
        # uvicorn's h11 protocol with header and body deadlines (services.kernel.read_timeouts).
        http=timed_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds),
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
    )
