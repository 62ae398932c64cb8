"""What the campaign's parts share: real nodes (the test suite's Network: homes, `tafuta serve`
processes on free loopback ports, pairing by invitation and safety number), row counts, and the
node log checks."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.node.conftest import (
    PASSPHRASE,
    TAFUTA,
    Network,
    Node,
    pair,
    wait_until,
    write_register,
)

__all__ = [
    "PASSPHRASE",
    "TAFUTA",
    "Network",
    "Node",
    "crashes_in_log",
    "integrity",
    "pair",
    "raise_limits",
    "table_counts",
    "wait_until",
    "write_register",
]

# What an unhandled exception leaves in a node's log: Python's traceback, aiohttp's
# "Error handling request" (it answers 500), or our own "sync round failed".
CRASH = re.compile(r"Traceback \(most recent call last\)|Error handling request|round failed")


def table_counts(database: Path) -> dict[str, int]:
    """Rows in every table: the campaign's 'nothing was written' check."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}
    finally:
        db.close()


def integrity(database: Path) -> str:
    db = sqlite3.connect(str(database), timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def crashes_in_log(log: Path) -> int:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return len(CRASH.findall(text))


def raise_limits(node: Node, rate: int = 100_000) -> None:
    """Lift the node's rate limits ([server] in config.toml), so every request of a category
    reaches the check it is meant to test instead of a 429."""
    config = node.home / "config.toml"
    text = config.read_text(encoding="utf-8")
    if "[server]" not in text:
        config.write_text(
            text + f"\n[server]\naddress_rate = {rate}\naddress_burst = {rate}\n"
            f"peer_rate = {rate}\npeer_burst = {rate}\n",
            encoding="utf-8",
        )
