"""How long and how much a client may send, so a slow or malicious one cannot hold the node.

All optional, in config.toml::

    [server]
    header_timeout = 20     # seconds from connecting (or the last answer) to a whole request head
    body_timeout = 60       # seconds to receive a request body once its head arrived
    [web]
    max_upload_mb = 20      # largest register a caseworker may upload in the web UI
    max_upload_rows = 200000  # most rows an uploaded register may have

The header timeout is aiohttp's keep-alive timeout: a connection that has not completed a
request head by then is closed, whether it is idle or dribbling bytes (slow-loris). It is kept
above aiohttp clients' 15-second keep-alive, so a peer never reuses a connection the node is
closing. The body timeout bounds each read of a body (``read_within``); a client too slow gets
408 and its connection is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from node.errors import HomeError

T = TypeVar("T")

BODY_TIMEOUT = web.AppKey("body_timeout", float)


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 20.0
    body_timeout: float = 60.0
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_rows: int = 200_000


def http_limits(config: dict, where: str = "config.toml") -> HttpLimits:
    """The limits from config.toml, each a positive number; a clear HomeError otherwise."""
    server, web_ = config.get("server", {}), config.get("web", {})
    default = HttpLimits()
    values = {
        "header_timeout": server.get("header_timeout", default.header_timeout),
        "body_timeout": server.get("body_timeout", default.body_timeout),
        "max_upload_mb": web_.get("max_upload_mb", default.max_upload_bytes / 2**20),
        "max_upload_rows": web_.get("max_upload_rows", default.max_upload_rows),
    }
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            section = "web" if name.startswith("max_") else "server"
            raise HomeError(f"{where}: [{section}] {name} must be a positive number")
    return HttpLimits(
        header_timeout=float(values["header_timeout"]),
        body_timeout=float(values["body_timeout"]),
        max_upload_bytes=int(values["max_upload_mb"] * 2**20),
        max_upload_rows=int(values["max_upload_rows"]),
    )


def unreadable_body(err: Exception) -> str:
    """Why a body could not be read, in one line (aiohttp's cause, e.g. a bad gzip stream)."""
    cause = err.__cause__ or err
    detail = getattr(cause, "message", None) or str(cause)
    return f"the request body cannot be read: {' '.join(str(detail).split())[:200]}"


class BodyTooSlow(Exception):
    """The request body did not arrive within the body timeout."""


async def read_within(request: web.Request, reading: Awaitable[T]) -> T:
    """Await a read of the request's body, at most the app's body timeout; BodyTooSlow after."""
    try:
        async with asyncio.timeout(request.app.get(BODY_TIMEOUT, HttpLimits.body_timeout)):
            return await reading
    except TimeoutError:
        raise BodyTooSlow(
            "the request body did not arrive in time; the connection is closed"
        ) from None
