"""What each table group of the store uses of the others, declared in one place.

``Store`` (db.py) is made of one mixin per table group (records, peers, exchange, outbox, matches,
notices, budgets, review, accounts, audit, directory). A group uses the connection, the
row reader (``Rows``) and the transaction of ``Store``, and a few methods of other groups: they are
declared here, so the type checker knows them and a reader sees every tie between groups.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types it Optional; after an INSERT it is set)."""
    if cursor.lastrowid is None:
        raise sqlite3.DatabaseError("the row was not inserted")
    return cursor.lastrowid


def in_parts(values: Sequence, size: int = 500) -> Iterator[tuple[list, str]]:
    """``values`` in parts of at most ``size``, each with its ``?, ?, …`` placeholders, for an
    ``IN (…)`` that stays below SQLite's limit of host parameters."""
    for start in range(0, len(values), size):
        part = list(values[start : start + size])
        yield part, ", ".join("?" * len(part))


class Rows:
    """The rows of a query as dicts: ``store.db.query(sql, params)``.

    The store's one read helper. It replaced sqlite-utils, of which the store only ever used
    ``Database(conn).query``: a dependency (whose 4.x wraps each query in a savepoint and runs
    plugin hooks on our connection) for five lines. The SQL runs when ``query`` is called; the
    rows are read as the result is iterated."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def query(self, sql: str, params: Sequence | Mapping = ()) -> Iterator[dict]:
        cursor = self.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return (dict(zip(keys, row, strict=True)) for row in cursor)


class StoreParts:
    conn: sqlite3.Connection
    db: Rows

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        @staticmethod
        def _enqueue(
            conn: Any, peer_id: int, messages: Iterable[tuple[str, str, dict]], now: int
        ) -> None: ...

        def _mark_processed(
            self, conn: Any, peer_id: int, message_id: str, kind: str, now: int, ack_due: bool
        ) -> None: ...

        # outbox.py, for exchange.py
        def outbox_count(self, peer_id: int | None = None) -> int: ...

        # matches.py, for exchange.py
        def peer_sync_state(self, peer_id: int) -> dict: ...

        # budgets.py, for exchange.py
        @staticmethod
        def _budget_add(
            conn: Any, peer_id: int, digests: Sequence[bytes], since: int, now: int
        ) -> tuple[int, int]: ...

        # exchange.py, for matches.py
        def refs_for_pseudonyms(self, peer_id: int) -> dict[str, str]: ...
