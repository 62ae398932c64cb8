"""The SQL of the outbox (messages waiting for a peer's acknowledgement) and of the messages
received (processed once, acknowledged later)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from .audit import append_audit, peer_actor
from .parts import StoreParts


class OutboxTables(StoreParts):
    """Mixed into Store: the outbox, processed messages and acknowledgements due."""

    @staticmethod
    def _enqueue(conn, peer_id: int, messages: Iterable[tuple[str, str, dict]], now: int) -> None:
        conn.executemany(
            "INSERT INTO outbox (message_id, peer_id, type, payload, created_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (message_id, peer_id, kind, json.dumps(payload), now, now)
                for message_id, kind, payload in messages
            ],
        )

    # -- the outbox -----------------------------------------------------------------------

    def due_messages(self, peer_id: int, now: int, limit: int = 100) -> list[dict]:
        sql = (
            "SELECT message_id, type, payload, attempts FROM outbox "
            "WHERE peer_id = ? AND next_attempt_at <= ? ORDER BY seq LIMIT ?"
        )
        rows = list(self.db.query(sql, [peer_id, now, limit]))
        for row in rows:
            row["payload"] = json.loads(row["payload"])
        return rows

    def has_due(self, peer_id: int, now: int) -> bool:
        """Whether a message waits for the peer and is due now (``due_messages`` without
        reading any payload)."""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE peer_id = ? AND next_attempt_at <= ? LIMIT 1",
            (peer_id, now),
        ).fetchone()
        return row is not None

    def pending_messages(self, peer_id: int) -> list[dict]:
        rows = list(
            self.db.query(
                "SELECT message_id, type, payload FROM outbox WHERE peer_id = ? ORDER BY seq",
                [peer_id],
            )
        )
        for row in rows:
            row["payload"] = json.loads(row["payload"])
        return rows

    def outbox_count(self, peer_id: int | None = None) -> int:
        if peer_id is None:
            return self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM outbox WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]

    def acknowledge(self, peer_id: int, message_id: str, now: int) -> bool:
        """Delete an acknowledged message; False if it was not (or no longer) in the outbox."""
        with self.transaction() as conn:
            sent = conn.execute(
                "SELECT type FROM outbox WHERE peer_id = ? AND message_id = ?",
                (peer_id, message_id),
            ).fetchone()
            deleted = conn.execute(
                "DELETE FROM outbox WHERE peer_id = ? AND message_id = ?", (peer_id, message_id)
            ).rowcount
            if sent:
                append_audit(conn, "node", "message-sent", message_id,
                             f"{sent[0]} to {peer_actor(conn, peer_id)}", now)  # fmt: skip
            conn.execute(
                "UPDATE peer_sync SET last_contact_at = ? WHERE peer_id = ?", (now, peer_id)
            )
        return bool(deleted)

    def retry_now(self, peer_id: int, now: int) -> int:
        """The peer just spoke to us, so it is up: end the backoff of what waits for it."""
        with self.transaction() as conn:
            return conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE peer_id = ? AND next_attempt_at > ?",
                (now, peer_id, now),
            ).rowcount

    def postpone(self, peer_id: int, message_id: str, next_at: int, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE peer_id = ? AND message_id = ?",
                (next_at, error[:500], peer_id, message_id),
            )

    # -- processing received messages -------------------------------------------------------

    def was_processed(self, peer_id: int, message_id: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM processed WHERE peer_id = ? AND message_id = ?",
                (peer_id, message_id),
            ).fetchone()
            is not None
        )

    def _mark_processed(
        self, conn, peer_id: int, message_id: str, kind: str, now: int, ack_due: bool
    ) -> None:
        conn.execute(
            "INSERT INTO processed (peer_id, message_id, type, processed_at, ack_due) "
            "VALUES (?, ?, ?, ?, ?)",
            (peer_id, message_id, kind, now, int(ack_due)),
        )
        via = "bundle" if ack_due else "network"
        append_audit(conn, peer_actor(conn, peer_id), "message-received", message_id,
                     f"{kind} via {via}", now)  # fmt: skip
        conn.execute(
            "INSERT INTO peer_sync (peer_id, last_contact_at) VALUES (?, ?) "
            "ON CONFLICT (peer_id) DO UPDATE SET last_contact_at = excluded.last_contact_at",
            (peer_id, now),
        )

    def acks_due(self, peer_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT message_id FROM processed WHERE peer_id = ? AND ack_due = 1", (peer_id,)
        )
        return [r[0] for r in rows]

    def mark_ack_due(self, peer_id: int, message_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE processed SET ack_due = 1 WHERE peer_id = ? AND message_id = ?",
                (peer_id, message_id),
            )

    def clear_acks_due(self, peer_id: int, message_ids: Sequence[str]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE processed SET ack_due = 0 WHERE peer_id = ? AND message_id = ?",
                [(peer_id, m) for m in message_ids],
            )
