"""What the table mixins (``store_review``, ``store_directory``) use of ``Store``: its
connection, its sqlite-utils view and its transactions, and two helpers of the federation
tables. Declarations only, so the type checker knows them; ``node/store/db.py`` defines them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import sqlite_utils


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types it Optional; after an INSERT it is set)."""
    if cursor.lastrowid is None:
        raise sqlite3.DatabaseError("the row was not inserted")
    return cursor.lastrowid


class StoreParts:
    conn: sqlite3.Connection
    db: sqlite_utils.Database

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        @staticmethod
        def _enqueue(
            conn: Any, peer_id: int, messages: Iterable[tuple[str, str, dict]], now: int
        ) -> None: ...

        def _mark_processed(
            self, conn: Any, peer_id: int, message_id: str, kind: str, now: int, ack_due: bool
        ) -> None: ...
