"""What the campaign's parts share: real nodes (the test suite's Network: homes, `tafuta serve`
processes on free loopback ports, pairing by invitation and safety number), row counts, and the
node log checks."""

from __future__ import annotations

import hashlib
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.testing.processes import (
    PASSPHRASE,
    TAFUTA,
    Network,
    Node,
    free_port,
    pair,
    wait_until,
    write_register,
)

__all__ = [
    "PASSPHRASE",
    "TAFUTA",
    "Network",
    "Node",
    "audit_chain",
    "crashes_in_log",
    "free_port",
    "integrity",
    "new_network",
    "pair",
    "pair_in_process",
    "raise_limits",
    "table_counts",
    "table_digests",
    "wait_until",
    "write_register",
]

# What an unhandled exception leaves in a node's log: Python's traceback, aiohttp's
# "Error handling request" (it answers 500), or our own "sync round failed".
CRASH = re.compile(r"Traceback \(most recent call last\)|Error handling request|round failed")


def new_network(root: Path) -> Network:
    """The test suite's Network in a folder made for it."""
    root.mkdir(parents=True, exist_ok=True)
    return Network(root)


def table_counts(database: Path) -> dict[str, int]:
    """Rows in every table: the campaign's 'nothing was written' check."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}
    finally:
        db.close()


# Columns the node's own background work updates, whatever requests come in: the sync loop's
# delivery bookkeeping (retries to a peer that is not serving).
BOOKKEEPING = {"outbox": "seq, message_id, peer_id, type, payload, created_at"}
# Tables that only count changes to others (kept by triggers): a write they show is already
# shown by the table written.
DERIVED = ("table_changes",)


def table_digests(database: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """A SHA-256 of every table's rows (in a fixed order; ``BOOKKEEPING`` columns and
    ``DERIVED`` tables left out): catches an UPDATE, which row counts cannot see (a refused form
    that still changed a user's language, say)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        digests = {}
        for name in sorted(set(names) - set(skip) - set(DERIVED)):
            columns = BOOKKEEPING.get(name, "*")
            rows = sorted(repr(row) for row in db.execute(f'SELECT {columns} FROM "{name}"'))
            digests[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return digests
    finally:
        db.close()


def integrity(database: Path) -> str:
    db = sqlite3.connect(str(database), timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def audit_chain(database: Path) -> dict:
    """The audit log's hash chain checked (node.audit.verify_chain, what `tafuta audit verify`
    runs), read-only: rows, and the first broken row if any."""
    from node.store.audit import verify_chain

    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        rows = (dict(r) for r in db.execute("SELECT * FROM audit_log ORDER BY id"))
        report = verify_chain(rows)
    finally:
        db.close()
    return {"ok": report.ok, "rows": report.rows, "broken_id": report.broken_id}


def crashes_in_log(log: Path) -> int:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return len(CRASH.findall(text))


def raise_limits(node: Node, rate: int = 100_000, extra: str = "") -> None:
    """Lift the node's rate limits ([server] in config.toml), so every request of a category
    reaches the check it is meant to test instead of a 429; ``extra`` adds [server] lines."""
    config = node.home / "config.toml"
    text = config.read_text(encoding="utf-8")
    if "[server]" not in text:
        config.write_text(
            text + f"\n[server]\naddress_rate = {rate}\naddress_burst = {rate}\n"
            f"peer_rate = {rate}\npeer_burst = {rate}\n{extra}",
            encoding="utf-8",
        )


def pair_in_process(a: Node, b: Node) -> None:
    """What `pair` does through the CLI (invite, add, compare safety numbers, trust), through
    the same library calls in this process: many pairs in seconds instead of minutes."""
    from node.home import open_home
    from node.store.db import Store
    from node.trust.identity import invite_token
    from node.trust.peers import add_peer, peer_fingerprint, trust_peer

    homes = {n.name: open_home(n.home) for n in (a, b)}
    tokens = {name: invite_token(home) for name, home in homes.items()}
    for me, other in ((a, b), (b, a)):
        home = homes[me.name]
        with Store.open(home.database_path) as store:
            add_peer(home, store, tokens[other.name], actor="campaign")
    digits = {}
    for me, other in ((a, b), (b, a)):
        home = homes[me.name]
        with Store.open(home.database_path) as store:
            digits[me.name] = peer_fingerprint(home, store, other.name)
    assert digits[a.name] == digits[b.name]
    for me, other in ((a, b), (b, a)):
        home = homes[me.name]
        with Store.open(home.database_path) as store:
            trust_peer(home, store, other.name, digits[me.name], actor="campaign")


@dataclass(frozen=True)
class BadRequest:
    """One request the campaign sends and expects to be refused."""

    method: str
    path: str
    body: bytes = b""
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Category:
    """A kind of bad request: how often to send it, how to build one (from the campaign's
    context) and which answers count as a refusal."""

    name: str
    weight: float
    build: Callable[[Any, random.Random], BadRequest]
    allowed: Callable[[int, str], bool] = lambda status, location: 400 <= status < 500


def plan(total: int, categories: list[Category], rng: random.Random) -> list[Category]:
    """``total`` categories in random order, in proportion to their weights (each at least 5)."""
    weights = sum(c.weight for c in categories)
    counts = {c.name: max(5, int(total * c.weight / weights)) for c in categories}
    heaviest = max(categories, key=lambda c: c.weight).name
    counts[heaviest] += max(0, total - sum(counts.values()))  # at least ``total`` in all
    order = [c for c in categories for _ in range(counts[c.name])]
    rng.shuffle(order)
    return order
