"""Preparing a sync round's peers one after the other on a worker thread with its own store
connection, so the round delivers to a peer as soon as it is prepared while it prepares the next.

A round used to prepare every peer before it delivered to any: at 6,000 records, the first peer
saw nothing for the minute and a half the second was being prepared, and the peer's inbox sat
idle while ours computed. The event loop that delivers uses the round's ``Federation`` and its
connection; the worker thread uses a copy of it on a connection of its own (SQLite connections
are not shared across threads), with the same key digests. Preparing stays serialised per peer
across threads and processes: ``Federation.prepare`` holds the peer's ``exchange_lock``, a
file lock that two connections of one process contend for as two processes do.

Keys computed for one peer in the round are kept for the next (``RoundKeys``), so a node with
two new peers computes each record's keys once, and blinds them once per peer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from node.store.db import Store
from node.trust.peers import Peer

from .exchange import Federation
from .keycache import RoundKeys


def queue_for(federation: Federation, peer: Peer, round_keys: RoundKeys) -> int:
    """Everything a round queues for one peer: a due rotation, our new or changed records, the
    shared directory and statistics, confirmed matches to tell. Returns messages queued."""
    if federation.rotation_due(peer):
        federation.rotate(peer, actor="node")
    return (
        federation.prepare(peer, round_keys)
        + federation.prepare_shared(peer)
        + federation.tell_confirmed(peer)
    )


class Preparer:
    """Prepares peers for one round: on its worker thread when ``threaded`` and the store is a
    file, else on the caller's thread with the round's own Federation. Close it at the end."""

    def __init__(self, federation: Federation, *, threaded: bool):
        self.federation = federation
        self.round_keys: RoundKeys = {}
        database = federation.store.database_file()
        self._database = Path(database) if threaded and database else None
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="tafuta-prepare")
            if self._database is not None
            else None
        )
        self._worker: Federation | None = None  # created and used on the worker thread only

    async def queue(self, peer: Peer) -> int:
        """``queue_for`` the peer; the event loop runs other deliveries meanwhile."""
        if self._executor is None:
            return queue_for(self.federation, peer, self.round_keys)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._queue_on_worker, peer)

    def _queue_on_worker(self, peer: Peer) -> int:
        if self._worker is None:
            assert self._database is not None
            self._worker = dataclasses.replace(self.federation, store=Store.open(self._database))
        return queue_for(self._worker, peer, self.round_keys)

    async def close(self) -> None:
        """Close the worker's connection on its own thread, then the thread."""
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_worker)
        self._executor.shutdown()

    def _close_worker(self) -> None:
        if self._worker is not None:
            self._worker.store.close()
            self._worker = None
