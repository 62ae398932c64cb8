"""What the web UI's handlers share: the home, a store per worker thread, templates, the clock.

SQLite connections stay on the thread that opened them, so database work runs on a small pool
of threads, each with its own connection (WAL lets them read while the inbox thread writes); the
event loop only moves bytes and renders.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web
from argon2 import PasswordHasher

from keys import Keyring
from matching import Lexicon
from node.home import Home
from node.net.http_limits import HttpLimits
from node.store.db import Store
from node.trust.identity import now_seconds

DB_THREADS = 4


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("node.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class WebContext:
    home: Home
    hasher: PasswordHasher
    lexicon: Lexicon
    clock: Callable[[], int] = field(default=now_seconds)
    secure: bool = False
    keyring: Keyring | None = None  # the unlocked keys, to sign the directory profile
    max_upload_bytes: int = HttpLimits.max_upload_bytes  # [web] max_upload_mb
    max_upload_rows: int = HttpLimits.max_upload_rows  # [web] max_upload_rows
    templates: jinja2.Environment = field(default_factory=template_environment)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(DB_THREADS, thread_name_prefix="tafuta-web")
    )
    _local: threading.local = field(default_factory=threading.local)
    _stores: list[Store] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store.open(self.home.database_path)
            with self._lock:
                self._stores.append(store)
        return store

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(store, *args)`` on a database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(self.store(), *args))

    def close(self) -> None:
        """Close every thread's connection on its own thread (SQLite insists), then stop."""
        with self._lock:
            count = len(self._stores)
        if count:
            # One task per thread: each closes its own store, then waits at the barrier so that
            # no thread takes a second task while another thread has not closed yet.
            barrier = threading.Barrier(count)

            def close_own() -> None:
                store = getattr(self._local, "store", None)
                if store is not None:
                    store.close()
                    self._local.store = None
                barrier.wait(timeout=30)

            for future in [self.executor.submit(close_own) for _ in range(count)]:
                future.result(timeout=60)
        self.executor.shutdown(wait=True)
        with self._lock:
            self._stores.clear()


WEB = web.AppKey("web", WebContext)
