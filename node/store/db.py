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

import sqlite_utils

from node.canonical import FIELDS
from node.errors import RecordNotFound, StoreError

from .directory import DirectoryTables
from .exchange import FederationTables
from .migrations import LATEST_VERSION, MIGRATIONS, Migration
from .parts import inserted_id
from .review import ReviewTables, append_audit

RECORD_COLUMNS: tuple[str, ...] = (
    *FIELDS,
    "sex_raw",
    "raw_values",
    "source_file",
    "imported_at",
    "updated_at",
    "version",
    "retracted",
)
# The values that come from the register; a change in any of them is a new version.
CONTENT_COLUMNS: tuple[str, ...] = (*FIELDS, "sex_raw", "raw_values")


class Store(FederationTables, ReviewTables, DirectoryTables):
    """One node database. Use as a context manager or call close()."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

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

    # -- records ------------------------------------------------------------------------

    def existing_content(self, refs: Sequence[str]) -> dict[str, dict]:
        """The stored content columns and version of the given refs, for change detection."""
        columns = ", ".join((*CONTENT_COLUMNS, "version", "retracted"))
        found: dict[str, dict] = {}
        chunk = 900  # below SQLite's default limit of host parameters
        for start in range(0, len(refs), chunk):
            part = list(refs[start : start + chunk])
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {columns} FROM records WHERE ref IN ({marks})"
            for row in self.db.query(sql, part):
                found[row["ref"]] = row
        return found

    def write_import(
        self,
        added: Sequence[dict],
        updated: Sequence[dict],
        source_file: str,
        now: str,
        counts: dict[str, int],
        actor: str = "cli",
        notes: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Insert new records and update changed ones in one transaction, and log the run.

        ``notes``: (action, ref, detail) audit entries written in the same transaction, e.g.
        a change of consent.
        """
        insert_columns = (*CONTENT_COLUMNS, "source_file", "imported_at", "updated_at", "version")
        insert_sql = (
            f"INSERT INTO records ({', '.join(insert_columns)}) "
            f"VALUES ({', '.join('?' * len(insert_columns))})"
        )
        update_sql = (
            "UPDATE records SET "
            + ", ".join(f"{c} = ?" for c in CONTENT_COLUMNS)
            + ", source_file = ?, updated_at = ?, version = version + 1, retracted = 0,"
            " expired_at = NULL"
            " WHERE ref = ?"
        )
        try:
            with self.transaction() as conn:
                conn.executemany(
                    insert_sql,
                    (
                        (*(r.get(c) for c in CONTENT_COLUMNS), source_file, now, now, 1)
                        for r in added
                    ),
                )
                conn.executemany(
                    update_sql,
                    (
                        (*(r.get(c) for c in CONTENT_COLUMNS), source_file, now, r["ref"])
                        for r in updated
                    ),
                )
                conn.execute(
                    "INSERT INTO import_runs (source_file, imported_at, added, updated, "
                    "unchanged, rejected) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        source_file,
                        now,
                        counts["added"],
                        counts["updated"],
                        counts["unchanged"],
                        counts["rejected"],
                    ),
                )
                summary = ", ".join(f"{k} {v}" for k, v in counts.items())
                refs = [r["ref"] for r in (*added, *updated)]
                detail = f"{summary}; refs {', '.join(refs[:20])}{' …' if len(refs) > 20 else ''}"
                append_audit(conn, actor, "records-written", source_file, detail, now)
                for action, subject, note in notes:
                    append_audit(conn, actor, action, subject, note, now)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"the import was not saved ({err}); nothing was changed") from err

    # -- retention (node/records/retention.py decides; these store) ------------------------------

    def retention_facts(self) -> list[dict]:
        sql = "SELECT ref, retain_until, updated_at, retracted, expired_at FROM records"
        return list(self.db.query(sql + " ORDER BY ref"))

    def refs_known_to_peers(self) -> set[str]:
        """Refs whose keys some peer holds and to which no retraction was queued yet."""
        sql = "SELECT DISTINCT ref FROM pseudonyms WHERE keys_digest IS NOT NULL"
        return {row[0] for row in self.conn.execute(sql)}

    def expire_records(
        self, refs: Sequence[str], day: str, *, actor: str, reason: str, now: int
    ) -> None:
        """Mark records expired on ``day`` and retract the live ones, with an audit entry each."""
        with self.transaction() as conn:
            for ref in refs:
                conn.execute(
                    "UPDATE records SET expired_at = ?, version = version + (1 - retracted), "
                    "retracted = 1 WHERE ref = ? AND expired_at IS NULL",
                    (day, ref),
                )
                append_audit(conn, actor, "record-expired", ref, reason, now)

    def purge_records(self, refs: Sequence[str], *, actor: str, now: int) -> None:
        """Delete expired records for good, with an audit entry each (the ref, nothing else)."""
        with self.transaction() as conn:
            for ref in refs:
                conn.execute("DELETE FROM records WHERE ref = ? AND expired_at IS NOT NULL", (ref,))
                append_audit(conn, actor, "record-purged", ref, "retention grace period over", now)

    def iter_records(self, include_retracted: bool = False) -> Iterator[dict]:
        where = "" if include_retracted else " WHERE retracted = 0"
        sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records{where} ORDER BY ref"
        yield from self.db.query(sql)

    def get_record(self, ref: str) -> dict:
        sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE ref = ?"
        rows = list(self.db.query(sql, [ref]))
        if not rows:
            raise RecordNotFound(f"no record with ref {ref!r}")
        return rows[0]

    def count_records(self, include_retracted: bool = False) -> int:
        where = "" if include_retracted else " WHERE retracted = 0"
        return self.conn.execute(f"SELECT count(*) FROM records{where}").fetchone()[0]

    def counts_by_kind(self) -> dict[str, int]:
        counts = {"missing": 0, "found": 0}
        for kind, n in self.conn.execute(
            "SELECT kind, count(*) FROM records WHERE retracted = 0 GROUP BY kind"
        ):
            counts[kind] = n
        return counts

    def retracted_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM records WHERE retracted = 1").fetchone()[0]

    def size_bytes(self, path: Path) -> int:
        """Database plus its write-ahead log, as the admin's disk sees it."""
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())

    # -- trust store (peers) ----------------------------------------------------------------
    # The SQL of the trust store; the rules (which changes are allowed, what a document must
    # carry) live in keys/ and node/trust/peers.py, which call these methods. Each write is one
    # transaction that also appends to peer_history, so a state never changes unrecorded.

    _PEER_COLUMNS = (
        "id, name, url, key_id, document, version, valid_until, state, state_since, added_at"
    )

    def iter_peers(self) -> list[dict]:
        sql = f"SELECT {self._PEER_COLUMNS} FROM peers ORDER BY name, id"
        return list(self.db.query(sql))

    def peer_by_name(self, name: str) -> dict | None:
        """The live peer of that name, else the most recently revoked one, else None."""
        sql = (
            f"SELECT {self._PEER_COLUMNS} FROM peers WHERE name = ? "
            "ORDER BY state = 'revoked', id DESC LIMIT 1"
        )
        rows = list(self.db.query(sql, [name]))
        return rows[0] if rows else None

    def peer_for_key_id(self, key_id: str) -> dict | None:
        """The peer that holds or held this signing key (current or retired), with the key."""
        sql = (
            f"SELECT {', '.join('p.' + c.strip() for c in self._PEER_COLUMNS.split(','))}, "
            "k.signing_key, k.retired_at "
            "FROM peer_keys k JOIN peers p ON p.id = k.peer_id WHERE k.key_id = ?"
        )
        rows = list(self.db.query(sql, [key_id]))
        return rows[0] if rows else None

    def peer_keys(self, peer_id: int) -> list[dict]:
        sql = (
            "SELECT key_id, signing_key, added_at, retired_at FROM peer_keys "
            "WHERE peer_id = ? ORDER BY retired_at IS NOT NULL, retired_at DESC"
        )
        return list(self.db.query(sql, [peer_id]))

    def peer_history(self, peer_id: int) -> list[dict]:
        sql = (
            "SELECT at, actor, action, from_state, to_state, reason, version, key_id "
            "FROM peer_history WHERE peer_id = ? ORDER BY id"
        )
        return list(self.db.query(sql, [peer_id]))

    def insert_peer(
        self, peer: dict, signing_key: str, *, actor: str, at: str, reason: str = ""
    ) -> int:
        """Add a peer as pending with its first key; returns its id."""
        try:
            with self.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO peers (name, url, key_id, document, version, valid_until, "
                    "state, state_since, added_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (*self._peer_document_values(peer), at, at),
                )
                peer_id = inserted_id(cursor)
                conn.execute(
                    "INSERT INTO peer_keys (key_id, peer_id, signing_key, added_at) "
                    "VALUES (?, ?, ?, ?)",
                    (peer["key_id"], peer_id, signing_key, at),
                )
                self._log_peer(conn, peer_id, at, actor, "added", None, "pending", reason)
        except sqlite3.IntegrityError as err:
            raise StoreError(f"the peer was not added ({err}); nothing was changed") from err
        return peer_id

    def set_peer_state(
        self, peer_id: int, from_state: str, to_state: str, *, actor: str, at: str, reason: str
    ) -> None:
        """Move a peer from one state to another, only if it is still in ``from_state``."""
        action = {"trusted": "trusted", "revoked": "revoked"}[to_state]
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE peers SET state = ?, state_since = ? WHERE id = ? AND state = ?",
                (to_state, at, peer_id, from_state),
            )
            if cursor.rowcount != 1:
                raise StoreError("the peer changed while this command ran; nothing was changed")
            self._log_peer(conn, peer_id, at, actor, action, from_state, to_state, reason)

    def update_peer_document(
        self, peer_id: int, peer: dict, signing_key: str, *, actor: str, at: str, now: int
    ) -> None:
        """Store a newer document; a new signing key retires the current one (kept for grace)."""
        try:
            with self.transaction() as conn:
                old_key_id, state = conn.execute(
                    "SELECT key_id, state FROM peers WHERE id = ?", (peer_id,)
                ).fetchone()
                conn.execute(
                    "UPDATE peers SET name = ?, url = ?, key_id = ?, document = ?, version = ?, "
                    "valid_until = ? WHERE id = ?",
                    (*self._peer_document_values(peer), peer_id),
                )
                if peer["key_id"] != old_key_id:
                    conn.execute(
                        "UPDATE peer_keys SET retired_at = ? WHERE key_id = ?", (now, old_key_id)
                    )
                    conn.execute(
                        "INSERT INTO peer_keys (key_id, peer_id, signing_key, added_at) "
                        "VALUES (?, ?, ?, ?)",
                        (peer["key_id"], peer_id, signing_key, at),
                    )
                self._log_peer(conn, peer_id, at, actor, "updated", state, state, "")
        except sqlite3.IntegrityError as err:
            raise StoreError(f"the peer was not updated ({err}); nothing was changed") from err

    def prune_retired_peer_keys(self, retired_before: int) -> int:
        """Delete peers' keys retired before the given time; revoked peers' keys are kept
        forever so they are never accepted again. Returns how many were deleted."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM peer_keys WHERE retired_at IS NOT NULL AND retired_at < ? "
                "AND peer_id IN (SELECT id FROM peers WHERE state != 'revoked')",
                (retired_before,),
            )
            return cursor.rowcount

    def trust_snapshot(self) -> dict[str, list[tuple]]:
        """Every row of the trust store, to show that a refused change changed nothing."""
        return {
            table: self.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("peers", "peer_keys", "peer_history")
        }

    @staticmethod
    def _peer_document_values(peer: dict) -> tuple:
        """The columns that come from the peer's document, in the order the SQL names them."""
        return tuple(
            peer[c] for c in ("name", "url", "key_id", "document", "version", "valid_until")
        )

    def _log_peer(self, conn, peer_id, at, actor, action, from_state, to_state, reason) -> None:
        version, key_id = conn.execute(
            "SELECT version, key_id FROM peers WHERE id = ?", (peer_id,)
        ).fetchone()
        conn.execute(
            "INSERT INTO peer_history (peer_id, at, actor, action, from_state, to_state, "
            "reason, version, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (peer_id, at, actor, action, from_state, to_state, reason, version, key_id),
        )
        name = conn.execute("SELECT name FROM peers WHERE id = ?", (peer_id,)).fetchone()[0]
        change = f"{from_state or '-'} -> {to_state}; version {version}; key {key_id}"
        append_audit(conn, actor, f"peer-{action}", name, f"{change}; {reason}".strip("; "), at)
