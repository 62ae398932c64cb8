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
import sqlite3
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from keys import Keyring
from matching import Lexicon

from .errors import HomeError, NodeError
from .federation import Federation
from .home import Home
from .identity import unlock
from .lock import home_lock
from .ratelimit import RateLimiter
from .runtime import federation_for, node_lexicon
from .server import create_app
from .store import Store
from .sync import sync_round

log = logging.getLogger("tafuta.serve")

DEFAULT_PORT = 8470
DEFAULT_SYNC_INTERVAL = 60.0


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

    def receive(self, body: bytes) -> bytes | None:
        federation = self._federation()
        before = federation.store.outbox_count()
        received = federation.receive(body)
        retried = federation.store.retry_now(received.peer_id, federation.clock())
        if retried or federation.store.outbox_count() != before:
            self.services.wake.set()  # something is waiting for a peer that is up: send it now
        return received.ack

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
        while not services.stop.is_set():
            services.wake.clear()
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

    Holds the home's lock (node/lock.py) while running, so a restore cannot swap the home away.
    """
    with home_lock(home.path, "restore over it or serve it twice"):
        _serve(home, passphrase, host, port, tls_cert, tls_key, sync_interval, on_ready)


def _serve(home, passphrase, host, port, tls_cert, tls_key, sync_interval, on_ready) -> None:
    services = NodeServices(home=home, keyring=unlock(home, passphrase), lexicon=node_lexicon(home))
    with Store.open(home.database_path):
        pass  # migrate before any worker opens its own connection
    inbox = InboxWorker(services)
    ssl_context = None
    if tls_cert or tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(str(tls_cert), str(tls_key))
    app = create_app(inbox, health_info(services), executor=inbox.executor, **rate_limiters(home))
    syncer = threading.Thread(
        target=sync_forever, args=(services, sync_interval), name="tafuta-sync", daemon=True
    )

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        scheme = "https" if ssl_context else "http"
        if on_ready:
            on_ready(f"{scheme}://{host}:{port}")
        syncer.start()
        try:
            await stopped.wait()
        finally:
            services.stop.set()
            services.wake.set()
            await runner.cleanup()

    try:
        asyncio.run(run())
    finally:
        if syncer.is_alive():
            syncer.join(timeout=30)
        inbox.close()
