"""``users-service`` (or ``python -m users_service``): read the environment, configure logging, serve.

A bad environment variable, or database credentials that the server refuses, end the process with one line
on stderr naming the variable, and exit code 2.

SIGTERM is graceful (uvicorn): the listening socket closes at once (no new connections), idle keep-alive
connections close, requests in progress finish (up to ``DRAIN_TIMEOUT``), then the lifespan stops the
maintenance manager (its acknowledgement goes) and closes the database pool. The process then exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType

import uvicorn

from users_service.app import create_app
from users_service.database import check_credentials
from users_service.logging_config import configure_logging
from users_service.settings import ConfigurationError, load_settings

log = logging.getLogger("users_service")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it drained for once it is done; by then the stop was clean."""
    raise SystemExit(0)


def main() -> None:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        sys.stderr.write(f"users-service: invalid configuration: {error}\n")
        raise SystemExit(2) from None
    problem = asyncio.run(check_credentials(settings.database_params))
    if problem is not None:
        sys.stderr.write(f"users-service: invalid configuration: {problem}\n")
        raise SystemExit(2)
    configure_logging(settings.log_level, settings.log_format)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=int(max(1.0, settings.drain_timeout)),
        )
    )
    try:
        server.run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    if not server.started:
        log.error("start-up failed")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
