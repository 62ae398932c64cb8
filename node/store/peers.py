"""The SQL of the trust store (peers and their history); the rules live in keys/ and
node/trust/peers.py."""

from __future__ import annotations

import sqlite3

from node.errors import StoreError

from .audit import append_audit
from .parts import StoreParts, inserted_id


class PeerTables(StoreParts):
    """Mixed into Store: the peers table and its history."""

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
