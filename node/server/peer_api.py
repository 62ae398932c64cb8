"""The node's HTTP server for peers: ``POST /v1/inbox`` and ``GET /v1/health`` (aiohttp).

Every bad request gets a clear 4xx with a JSON body ``{"error": reason, "message": text}``; bad
input never causes a 5xx, and neither does a body that cannot be decoded or a client that leaves
mid-body (``client_mistakes``, the outermost middleware, for the web UI too). The inbox body is
a sealed envelope; its processing (checks, storage, the acknowledgement) belongs to the
``Receiver`` passed in, which runs in a worker thread so the event loop keeps serving while
SQLite writes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from node.errors import NodeError
from node.federation.inbox import Received
from node.net.addresses import TRUSTED_PROXIES, Network, request_address
from node.net.http_limits import BODY_TIMEOUT, BodyTooSlow, HttpLimits, read_within, unreadable_body
from node.net.ratelimit import RateLimiter
from protocol.envelope import MAX_ENVELOPE_BYTES
from protocol.errors import EnvelopeRefused

log = logging.getLogger("tafuta.server")


class Receiver(Protocol):
    def authenticate(self, body: bytes) -> str | None:
        """The verified sender key id of a new envelope, None for one processed before; raises
        EnvelopeRefused. Decrypts and stores nothing."""

    def receive(self, body: bytes) -> Received:
        """Process one envelope: the sealed acknowledgement, or the answer to a replay; raises
        EnvelopeRefused."""


RECEIVER = web.AppKey[Receiver]("receiver")
PEER_LIMITER = web.AppKey("peer_limiter", RateLimiter)
ADDRESS_LIMITER = web.AppKey("address_limiter", RateLimiter)
HEALTH = web.AppKey[Callable[[], dict]]("health")
EXECUTOR = web.AppKey[Executor | None]("executor")
MAX_BODY = web.AppKey("max_body", int)
T = TypeVar("T")
R = TypeVar("R", bound=web.StreamResponse)


def error_response(status: int, reason: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": reason, "message": message, **extra}, status=status)


def refusal_response(refused: EnvelopeRefused, ack: bytes | None = None) -> web.Response:
    """A refused envelope's answer; a replay carries a fresh acknowledgement for the sender."""
    extra = {"ack": ack.decode("ascii")} if ack else {}
    return error_response(refused.status, refused.reason, str(refused), **extra)


async def inbox(request: web.Request) -> web.StreamResponse:
    """Limits in the order that keeps a trusted peer served whatever anyone else sends: the
    per-address limit before anything (it is all an unauthenticated request can spend), the
    per-peer limit only once the signature proved who sent the envelope."""
    address = request_address(request)
    if not request.app[ADDRESS_LIMITER].allow(address):
        return error_response(429, "rate-limited", "too many requests from this address")
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, "too-large", f"body exceeds {limit} bytes")
    try:
        body = await read_within(request, request.read())
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too-large", f"body exceeds {limit} bytes")
    except BodyTooSlow as slow:
        return closing(error_response(408, "too-slow", str(slow)))
    except RequestPayloadError as err:
        return closing(error_response(400, "bad-body", unreadable_body(err)))
    if len(body) > limit:
        return error_response(413, "too-large", f"body exceeds {limit} bytes")
    receiver = request.app[RECEIVER]
    try:
        sender = await _in_worker(request, receiver.authenticate, body)
        if sender is not None and not request.app[PEER_LIMITER].allow(sender):
            return error_response(429, "rate-limited", "too many messages from this peer")
        received = await _in_worker(request, receiver.receive, body)
    except EnvelopeRefused as refused:
        log.info("refused envelope from %s: %s", address, refused.reason)
        return refusal_response(refused)
    except (sqlite3.DatabaseError, NodeError) as err:
        # The store cannot write (disk full, database locked): nothing was stored, the sender
        # keeps the message and retries. The details stay in our log, not in the answer.
        log.error("cannot store a message from %s: %s", address, err)
        return error_response(
            503, "unavailable", "this node cannot store the message now; try again later"
        )
    if received.replayed is not None:
        log.info("refused envelope from %s: %s", address, received.replayed.reason)
        return refusal_response(received.replayed, received.ack)
    if received.ack is None:  # an acknowledgement needs none
        return web.json_response({"result": "accepted"})
    return web.Response(body=received.ack, content_type="application/json")


async def _in_worker(request: web.Request, work: Callable[[bytes], T], body: bytes) -> T:
    """Run ``work(body)`` on the inbox worker thread, which owns the store connection."""
    return await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], work, body)


async def health(request: web.Request) -> web.Response:
    return web.json_response(request.app[HEALTH]())


def closing(response: web.StreamResponse) -> web.StreamResponse:
    """The response, and the connection closed after it: what is left of the body is unread."""
    response.force_close()
    return response


@web.middleware
async def client_mistakes(request: web.Request, handler) -> web.StreamResponse:
    """The outermost middleware: a client that goes away mid-body, or sends a body that cannot
    be decoded (an invalid Content-Encoding, broken chunks), is its own mistake, not the node's:
    one log line, a 400 if it is still there to read it, never a traceback or a 500."""
    try:
        response = await handler(request)
    except web.HTTPException as http:  # aiohttp's 413, the UI's redirects and error pages
        raise _close_if_unread(request, http) from None
    except ConnectionError:
        log.info("a client at %s went away before its request was read", request.remote)
        return closing(error_response(400, "gone", "the connection closed mid-request"))
    except RequestPayloadError as err:
        log.info("unreadable request body from %s: %s", request.remote, unreadable_body(err))
        return closing(error_response(400, "bad-body", unreadable_body(err)))
    return _close_if_unread(request, response)


def _close_if_unread(request: web.Request, response: R) -> R:
    """An answer given before the whole body was read (a 413, a refusal) closes the connection:
    the client may still be sending, and must not send its next request on this one."""
    if not request.content.at_eof():
        response.force_close()
    return response


async def plain_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """``Server: Tafuta``, without aiohttp's and Python's versions (no help to an attacker)."""
    response.headers["Server"] = "Tafuta"


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, 413) as JSON too, and never a traceback page.

    Only for the peer API; the web UI (every path outside /v1/) has its own error pages.
    """
    if not request.path.startswith("/v1/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        return error_response(http.status, http.reason.lower().replace(" ", "-"), http.text or "")


def create_app(
    receiver: Receiver,
    health_info: Callable[[], dict],
    *,
    peer_limiter: RateLimiter | None = None,
    address_limiter: RateLimiter | None = None,
    max_body: int = MAX_ENVELOPE_BYTES,
    executor: Executor | None = None,
    client_max_size: int = 0,
    trusted_proxies: tuple[Network, ...] = (),
    body_timeout: float = HttpLimits.body_timeout,
) -> web.Application:
    """The peer API. ``receiver.receive`` runs on ``executor`` (one thread owning its database
    connection), so the event loop keeps answering while a batch is blinded and stored."""
    # The inbox checks its own, smaller limit; a larger client_max_size is for the web UI's uploads.
    app = web.Application(
        client_max_size=max(max_body, client_max_size), middlewares=[client_mistakes, json_errors]
    )
    app.on_response_prepare.append(plain_server_header)
    app[BODY_TIMEOUT] = body_timeout
    app[RECEIVER] = receiver
    app[HEALTH] = health_info
    app[EXECUTOR] = executor
    app[MAX_BODY] = max_body
    app[TRUSTED_PROXIES] = trusted_proxies
    app[PEER_LIMITER] = peer_limiter or RateLimiter(rate=20, burst=200)
    app[ADDRESS_LIMITER] = address_limiter or RateLimiter(rate=50, burst=500)
    app.router.add_post("/v1/inbox", inbox)
    app.router.add_get("/v1/health", health)
    return app
