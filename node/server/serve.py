"""Running a node: the peer API on aiohttp plus a background sync loop, until stopped.

Threads, each with its own SQLite connection (SQLite connections are not shared across threads):
the inbox worker (one thread, so received messages are applied one at a time) and the sync worker
(its own event loop: queue, deliver, score). The main thread's event loop only moves bytes.
A received message that queues a reply wakes the sync worker, so a pair converges quickly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sqlite3
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp.web_response
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from keys import Keyring
from matching import Lexicon
from node.accounts.users import hasher_from_config
from node.errors import HomeError, NodeError
from node.federation.exchange import Federation
from node.federation.inbox import Received
from node.federation.sync import sync_round
from node.home import Home
from node.net.addresses import trusted_proxies
from node.net.http_limits import HttpLimits, http_limits
from node.net.ratelimit import RateLimiter
from node.ops.lock import home_lock
from node.records import retention
from node.records.uploads import purge_stale_uploads
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.identity import now_seconds, unlock
from node.web.app import add_ui
from node.web.context import WebContext

from .peer_api import create_app

log = logging.getLogger("tafuta.serve")

DEFAULT_PORT = 8470
DEFAULT_SYNC_INTERVAL = 60.0
LINGER_SECONDS = 2.0


@dataclass
class NodeServices:
    """What a running node shares between its threads: read-only keys and lexicon."""

    home: Home
    keyring: Keyring
    lexicon: Lexicon
    workers: int | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def federation(self, store: Store) -> Federation:
        return federation_for(self.home, store, self.keyring, self.lexicon, self.workers)


class InboxWorker:
    """Applies received envelopes on one thread that owns its own store connection."""

    def __init__(self, services: NodeServices):
        self.services = services
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tafuta-inbox")
        self._local = threading.local()

    def _federation(self) -> Federation:
        federation = getattr(self._local, "federation", None)
        if federation is None:
            store = Store.open(self.services.home.database_path)
            federation = self._local.federation = self.services.federation(store)
        return federation

    def authenticate(self, body: bytes) -> str | None:
        return self._federation().authenticate(body)

    def receive(self, body: bytes) -> Received:
        federation = self._federation()
        before = federation.store.outbox_count()
        received = federation.receive(body)
        if received.replayed is not None:
            return received
        retried = federation.store.retry_now(received.peer_id, federation.clock())
        if retried or federation.store.outbox_count() != before:
            self.services.wake.set()  # something is waiting for a peer that is up: send it now
        return received

    def close(self) -> None:
        def _close():
            federation = getattr(self._local, "federation", None)
            if federation is not None:
                federation.store.close()

        self.executor.submit(_close).result()
        self.executor.shutdown()


def sync_forever(services: NodeServices, interval: float) -> None:
    """The sync worker's body: a round now, then every ``interval`` seconds or when woken."""
    with Store.open(services.home.database_path) as store:
        federation = services.federation(store)
        try:
            for peer in federation.trusted_peers():
                federation.request_holdings(peer)  # repair what an earlier version left
        except (sqlite3.DatabaseError, NodeError) as err:
            log.error("cannot ask peers what they hold: %s", err)
        retention_checked = None
        while not services.stop.is_set():
            services.wake.clear()
            purge_stale_uploads(services.home.path)  # previews are deleted within the hour
            try:
                retention_checked = apply_retention(store, services.home, retention_checked)
            except (sqlite3.DatabaseError, NodeError) as err:  # retention never stops syncing
                log.error("retention not applied: %s; the next round retries", err)
            try:
                for report in asyncio.run(sync_round(federation)):
                    if report.sent or report.queued or report.error:
                        log.info(
                            "sync %s: queued %d, sent %d, pending %d %s",
                            report.peer,
                            report.queued,
                            report.sent,
                            report.pending,
                            report.error,
                        )
            except (sqlite3.DatabaseError, NodeError) as err:  # e.g. a full disk: one clear line
                log.error("sync round stopped: %s; the next round retries", err)
            except Exception:  # the loop must outlive one bad round; the next retries
                log.exception("sync round failed")
            services.wake.wait(interval)


def apply_retention(store: Store, home: Home, checked: tuple | None = None) -> tuple:
    """Retention (node/records/retention.py) before each sync round, so an expired record's
    retraction goes out in the same round. It reads every record, so it runs only when the
    day, the policy, the records or the pseudonyms changed since ``checked`` (what the last
    call returns): at 100k records that is most of a second, every round of an exchange."""
    today = datetime.now(UTC).date()
    policy = retention.RetentionPolicy.of(home)
    now_checked = (today, policy, store.change_counts())
    if now_checked == checked:
        return now_checked
    report = retention.apply(store, policy, today, now_seconds())
    if report.expired or report.purged:
        log.info("retention: expired %d records, purged %d", len(report.expired),
                 len(report.purged))  # fmt: skip
    return now_checked  # read before its own changes, so the next round looks once more


def health_info(services: NodeServices) -> Callable[[], dict]:
    document = services.keyring.document.document

    def info() -> dict:
        return {
            "status": "ok",
            "name": services.home.name,
            "key_id": document.key_id,
            "protocol": 1,
        }

    return info


def rate_limiters(home: Home) -> dict[str, RateLimiter]:
    """Optional ``[server]`` limits in config.toml: ``peer_rate``/``peer_burst`` (messages per
    second per peer key) and ``address_rate``/``address_burst`` (requests per second per client
    address; behind a reverse proxy every peer shares the proxy's address, so raise these)."""
    settings = home.config.get("server", {})
    limiters = {}
    for kind in ("peer", "address"):
        if f"{kind}_rate" in settings or f"{kind}_burst" in settings:
            rate = settings.get(f"{kind}_rate", 20 if kind == "peer" else 50)
            burst = settings.get(f"{kind}_burst", 200 if kind == "peer" else 500)
            if not all(isinstance(v, int | float) and v > 0 for v in (rate, burst)):
                raise HomeError(f"{home.config_path}: [server] {kind} limits must be positive")
            limiters[f"{kind}_limiter"] = RateLimiter(rate=float(rate), burst=float(burst))
    return limiters


@dataclass
class RunningNode:
    """One node ready to serve: its app, inbox worker and sync thread, and where it listens.

    ``serve`` runs one; ``tafuta demo`` (node/cli/demo.py) runs several in one event loop.
    """

    services: NodeServices
    inbox: InboxWorker
    app: web.Application
    syncer: threading.Thread
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    listener: socket.socket | None = None  # already bound (tafuta demo); else bind host:port
    limits: HttpLimits = field(default_factory=HttpLimits)

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop the sync thread and the inbox worker (after the HTTP side has stopped)."""
        self.services.stop.set()
        self.services.wake.set()
        if self.syncer.is_alive():
            self.syncer.join(timeout=30)
        self.inbox.close()


def prepare_node(
    home: Home,
    passphrase: str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    sync_interval: float = DEFAULT_SYNC_INTERVAL,
    listener: socket.socket | None = None,
) -> RunningNode:
    """Unlock the keys, migrate the database and build the app; nothing serves yet.

    ``listener``: a socket already bound and listening (on ``host``:``port``) to serve on.
    """
    retention.RetentionPolicy.of(home)  # a bad [retention] setting refuses to start, clearly
    services = NodeServices(home=home, keyring=unlock(home, passphrase), lexicon=node_lexicon(home))
    with Store.open(home.database_path):
        pass  # migrate before any worker opens its own connection
    purge_stale_uploads(home.path)
    ssl_context = None
    if tls_cert or tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(str(tls_cert), str(tls_key))
    limits = http_limits(home.config, str(home.config_path))
    limiters = rate_limiters(home)
    inbox = InboxWorker(services)
    app = create_app(
        inbox,
        health_info(services),
        executor=inbox.executor,
        client_max_size=limits.max_upload_bytes,
        trusted_proxies=trusted_proxies(home.config, str(home.config_path)),
        body_timeout=limits.body_timeout,
        peer_limiter=limiters.get("peer_limiter"),
        address_limiter=limiters.get("address_limiter"),
    )
    add_ui(
        app,
        WebContext(
            home=home,
            hasher=hasher_from_config(home.config),
            lexicon=services.lexicon,
            secure=ssl_context is not None or home.url.startswith("https://"),
            keyring=services.keyring,
            max_upload_bytes=limits.max_upload_bytes,
            max_upload_rows=limits.max_upload_rows,
        ),
    )
    syncer = threading.Thread(
        target=sync_forever, args=(services, sync_interval), name="tafuta-sync", daemon=True
    )
    return RunningNode(
        services, inbox, app, syncer, host, port, ssl_context, listener=listener, limits=limits
    )


class QuietBadRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (a header over 8 KiB, a broken request line)
    with 400 but logs a full traceback for it: any client could fill the log that way, and a
    client's mistake is not the node's. One line instead, without the request's bytes (they
    may hold a session cookie)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RequestPayloadError):  # the body, left unread after an answer, is
            exc = exc.__cause__  # broken (a bad Content-Encoding): aiohttp's cause says how
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed HTTP request from %s (%s %s)"
            record.args = (remote, exc.code, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def plain_server_name() -> None:
    """``Server: Tafuta`` also on the answers aiohttp makes itself, before any app code runs (a
    request it cannot parse); server.plain_server_header sets it on every other answer. aiohttp
    reads this module constant when it writes headers; without it they name its and Python's
    versions, which helps only an attacker."""
    aiohttp.web_response.SERVER_SOFTWARE = "Tafuta"


def quiet_bad_requests() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietBadRequests) for f in server_log.filters):
        server_log.addFilter(QuietBadRequests())


def run_nodes(
    nodes: list[RunningNode], on_ready: Callable[[list[RunningNode]], None] | None = None
) -> None:
    """Serve every node in one event loop until SIGINT or SIGTERM; then close them all cleanly.

    ``on_ready`` is called once every node listens, before the sync threads start.
    """

    quiet_bad_requests()
    plain_server_name()

    async def run() -> None:
        runners = []
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        try:
            for node in nodes:
                # aiohttp's keep-alive timeout also closes a connection whose request head
                # has not arrived in time (slow-loris): node/net/http_limits.py. After an answer,
                # the unread rest of a body is drained for at most LINGER_SECONDS.
                runner = web.AppRunner(
                    node.app,
                    access_log=None,
                    keepalive_timeout=node.limits.header_timeout,
                    lingering_time=LINGER_SECONDS,
                )
                await runner.setup()
                runners.append(runner)
                site: web.BaseSite
                if node.listener is not None:
                    site = web.SockSite(runner, node.listener, ssl_context=node.ssl_context)
                else:
                    site = web.TCPSite(runner, node.host, node.port, ssl_context=node.ssl_context)
                await site.start()
            if on_ready:
                on_ready(nodes)
            for node in nodes:
                node.syncer.start()
            await stopped.wait()
        finally:
            for node in nodes:
                node.services.stop.set()
                node.services.wake.set()
            for runner in runners:
                await runner.cleanup()

    try:
        asyncio.run(run())
    finally:
        for node in nodes:
            node.close()


def serve(
    home: Home,
    passphrase: str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    sync_interval: float = DEFAULT_SYNC_INTERVAL,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; then stop the workers and close cleanly.

    Holds the home's lock (node/ops/lock.py) while running, so a restore cannot swap the home away.
    """
    with home_lock(home.path, "restore over it or serve it twice"):
        node = prepare_node(
            home,
            passphrase,
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            sync_interval=sync_interval,
        )
        run_nodes([node], (lambda nodes: on_ready(nodes[0].url)) if on_ready else None)
