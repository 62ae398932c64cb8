"""The serve lock: one file in the home that a running `tafuta serve` holds an exclusive lock on.

`tafuta restore` takes the same lock before it replaces a home, so it never swaps the database
out from under a running node. An OS lock (flock) rather than a pid file: the kernel releases it
when the process dies, even by SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from node.errors import HomeError
from node.store.db import Store

LOCK_NAME = "serve.lock"


@contextmanager
def _lock_file(path: Path) -> Iterator[int]:
    """An open descriptor on the lock file ``path`` (created if needed), closed at the end:
    closing it releases any flock taken on it, by the kernel, even after SIGKILL."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise HomeError(f"cannot create the lock file {path}: {err.strerror}") from err
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def home_lock(home_path: Path, purpose: str) -> Iterator[None]:
    """Hold the home's lock for the duration; HomeError at once if another process holds it."""
    with _lock_file(Path(home_path) / LOCK_NAME) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise HomeError(
                f"a Tafuta node is running on {home_path} (it holds {LOCK_NAME}); stop it "
                f"before you {purpose}"
            ) from err
        yield


@contextmanager
def exchange_lock(store: Store, peer_id: int) -> Iterator[None]:
    """Hold the lock on preparing records for one peer, waiting while another process has it.

    A file beside the database, locked with flock: serve's sync thread, a 'tafuta sync' and a
    bundle export prepare one after the other, so no record is blinded and queued twice, and a
    killed process releases it at once. A store with no file (in memory) needs no lock.
    """
    database = store.database_file()
    if database is None:
        yield
        return
    with _lock_file(Path(f"{database}.exchange-{peer_id}.lock")) as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield


@contextmanager
def scoring_lock(store: Store, peer_id: int) -> Iterator[bool]:
    """Try the lock on scoring one peer: True while held, False at once if another process
    scores that peer now (serve's sync thread and a 'tafuta sync' beside it would otherwise
    both fit the same model on the same candidates and store the same result)."""
    with _try_peer_lock(store, "scoring", peer_id) as held:
        yield held


@contextmanager
def delivery_lock(store: Store, peer_id: int) -> Iterator[bool]:
    """Try the lock on delivering one peer's outbox: True while held, False at once if another
    process delivers to that peer now. Without it serve's sync thread and each 'tafuta sync'
    beside it sealed and sent the same queued messages, in step: the peer opened each one up
    to three times to answer all but one as a replay."""
    with _try_peer_lock(store, "delivery", peer_id) as held:
        yield held


@contextmanager
def _try_peer_lock(store: Store, kind: str, peer_id: int) -> Iterator[bool]:
    """One process at a time per peer for ``kind`` of work, without waiting: True while held,
    False if another process holds it. A store with no file (in memory) needs no lock."""
    database = store.database_file()
    if database is None:
        yield True
        return
    with _lock_file(Path(f"{database}.{kind}-{peer_id}.lock")) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
