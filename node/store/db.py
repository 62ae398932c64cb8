"""The node's SQLite store: with its federation part (store_federation.py), the only code that
writes SQL.

Opened with WAL (readers never block the writer), ``synchronous=FULL`` (a committed import
survives power loss) and foreign keys on. Every write is one explicit transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from node.errors import StoreError

from .accounts import AccountTables
from .audit import AuditTables
from .budgets import BudgetTables
from .directory import DirectoryTables
from .exchange import FederationTables
from .keycache import KeyDigestTables
from .linkage import LinkageTables
from .matches import MatchTables
from .migrations import LATEST_VERSION, MIGRATIONS, Migration
from .notices import NoticeTables
from .outbox import OutboxTables
from .parts import Rows
from .peers import PeerTables
from .records import RecordTables
from .review import ReviewTables

# SQLite's page cache per connection, in KiB (its default is 2,000; see Store.open).
CACHE_KIB = 32 * 1024


class Store(
    RecordTables,
    PeerTables,
    FederationTables,
    KeyDigestTables,
    OutboxTables,
    MatchTables,
    NoticeTables,
    LinkageTables,
    BudgetTables,
    ReviewTables,
    AccountTables,
    AuditTables,
    DirectoryTables,
):
    """One node database. Use as a context manager or call close()."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.db = Rows(conn)
        # Triggers fire for the rows a REPLACE deletes too (as when sqlite-utils opened the store).
        conn.execute("PRAGMA recursive_triggers=on")

    @classmethod
    def open(cls, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> Store:
        """Open (creating if needed) and bring the schema up to date."""
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (retracted keys, withdrawn matches) are overwritten with zeros, not
            # left in free pages; set explicitly, whatever this SQLite build's default.
            conn.execute("PRAGMA secure_delete=ON")
            # Blinded keys and budget digests are inserted by the tens of thousands into
            # indexes on random values (pseudonyms, digests): with SQLite's default 2 MB page
            # cache most inserts read and wrote their pages back through the kernel. Inserting
            # 600,000 keys and digests took 8.3 s of CPU with it and 5.6 s with 32 MB; a cache
            # fills only as pages are used, so a small store keeps a small one.
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open the database {path}: {err}") from err
        store = cls(conn)
        try:
            store.migrate(migrations)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StoreError(f"cannot open the database {path}: {err}") from err
        return store

    def close(self) -> None:
        self.conn.close()

    def database_file(self) -> str | None:
        """The path of the database file, or None for an in-memory store."""
        for _seq, name, file in self.conn.execute("PRAGMA database_list"):
            if name == "main":
                return file or None
        return None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error: all or nothing.

        SQLite may already have rolled the transaction back itself (a full disk at COMMIT), so
        ROLLBACK runs only while one is open: the error the caller sees is the real one.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # -- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Apply every migration newer than the database; returns the versions applied."""
        current = self.schema_version
        latest = migrations[-1].version if migrations else 0
        if current > max(latest, LATEST_VERSION):
            raise StoreError(
                f"the database is at schema version {current}, newer than this Tafuta "
                f"understands ({LATEST_VERSION}); upgrade Tafuta"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            with self.transaction() as conn:
                # Another process (serve and a CLI command started together) may have applied
                # it since we looked: re-read the version under the write lock.
                if conn.execute("PRAGMA user_version").fetchone()[0] >= migration.version:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            applied.append(migration.version)
        return applied
