"""The SQL of the network directory and of shared statistics (a companion of store.py).

Each write that follows a peer's message also records the message as processed, in the same
transaction (see store_federation.py), so a message applied twice has one effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .parts import StoreParts


class DirectoryTables(StoreParts):
    """Mixed into Store; uses its ``conn``, ``db``, ``transaction`` and ``_mark_processed``."""

    # -- directory entries ----------------------------------------------------------------

    _ENTRY_COLUMNS = "origin, name, entry, document, version, signed_at, via_peer_id, received_at"

    def directory_entries(self) -> list[dict]:
        sql = f"SELECT {self._ENTRY_COLUMNS} FROM directory_entries ORDER BY name, origin"
        return list(self.db.query(sql))

    def directory_entry(self, origin: str) -> dict | None:
        sql = f"SELECT {self._ENTRY_COLUMNS} FROM directory_entries WHERE origin = ?"
        rows = list(self.db.query(sql, [origin]))
        return rows[0] if rows else None

    def own_directory_entry(self) -> dict | None:
        sql = (
            f"SELECT {self._ENTRY_COLUMNS} FROM directory_entries WHERE via_peer_id IS NULL "
            "ORDER BY version DESC LIMIT 1"
        )
        rows = list(self.db.query(sql))
        return rows[0] if rows else None

    def save_own_entry(self, row: dict) -> None:
        """Replace this node's own entry (under any of its keys, old or new) with ``row``."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM directory_entries WHERE via_peer_id IS NULL")
            self._insert_entry(conn, row)

    def apply_directory_entry(
        self,
        peer_id: int,
        message_id: str,
        now: int,
        ack_due: bool,
        row: dict | None,
        replaces: Sequence[str] = (),
    ) -> None:
        """Record a peer's directory-entry message; store ``row`` (None: nothing to store) in
        place of the entries under ``replaces`` (the origin's earlier keys), and note that the
        peer already holds this version."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "directory-entry", now, ack_due)
            if row is None:
                return
            for origin in {row["origin"], *replaces}:
                conn.execute("DELETE FROM directory_entries WHERE origin = ?", (origin,))
            self._insert_entry(conn, row)
            self._note_sent(conn, peer_id, row["origin"], row["version"])

    @staticmethod
    def _insert_entry(conn, row: dict) -> None:
        conn.execute(
            "INSERT INTO directory_entries (origin, name, entry, document, version, signed_at, "
            "via_peer_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["origin"],
                row["name"],
                row["entry"],
                row["document"],
                row["version"],
                row["signed_at"],
                row["via_peer_id"],
                row["received_at"],
            ),
        )

    @staticmethod
    def _note_sent(conn, peer_id: int, origin: str, version: int) -> None:
        conn.execute(
            "INSERT INTO directory_sent (peer_id, origin, version) VALUES (?, ?, ?) "
            "ON CONFLICT (peer_id, origin) DO UPDATE SET version = excluded.version",
            (peer_id, origin, version),
        )

    def directory_sent(self, peer_id: int) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT origin, version FROM directory_sent WHERE peer_id = ?", (peer_id,)
        )
        return dict(rows.fetchall())

    def enqueue_shared(
        self,
        peer_id: int,
        messages: Sequence[tuple[str, str, dict]],
        entries_sent: Sequence[tuple[str, int]],
        stats_digest: str | None,
        now: int,
    ) -> int:
        """Queue directory entries and statistics for a peer and note what it will hold;
        returns the messages queued.

        Another process (a ``tafuta sync`` beside ``serve``) may have queued the same between
        our reading and this write: under the write lock, an entry whose version the peer was
        already sent, and tables whose digest it was already sent, are left out."""
        with self.transaction() as conn:
            sent = dict(
                conn.execute(
                    "SELECT origin, version FROM directory_sent WHERE peer_id = ?", (peer_id,)
                ).fetchall()
            )
            row = conn.execute(
                "SELECT digest FROM stats_sent WHERE peer_id = ?", (peer_id,)
            ).fetchone()
            stats_are_new = stats_digest is not None and (row is None or row[0] != stats_digest)
            messages = [
                m
                for m in messages
                if (m[1] != "directory-entry" or sent.get(m[2]["entry"]["origin"], -1)
                    < m[2]["entry"]["version"])
                and (m[1] != "stats-table" or stats_are_new)
            ]  # fmt: skip
            self._enqueue(conn, peer_id, messages, now)
            for origin, version in entries_sent:
                self._note_sent(conn, peer_id, origin, version)
            if stats_digest is not None:
                conn.execute(
                    "INSERT INTO stats_sent (peer_id, digest, sent_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (peer_id) DO UPDATE SET digest = excluded.digest, "
                    "sent_at = excluded.sent_at",
                    (peer_id, stats_digest, now),
                )
        return len(messages)

    def directory_snapshot(self) -> dict[str, list[tuple]]:
        """Every row of the directory tables, to show that a refusal changed nothing."""
        return {
            table: self.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("directory_entries", "directory_sent", "peer_stats", "stats_sent")
        }

    # -- statistics -----------------------------------------------------------------------

    def record_facts(self) -> list[dict]:
        """The fields statistics are computed from, for every live record and every record
        withdrawn because its case was closed (a reunited person still counts)."""
        sql = (
            "SELECT ref, kind, sex, birth_date, age, age_on, origin_district, origin_country, "
            "last_seen_date, imported_at FROM records WHERE (retracted = 0 OR ref IN "
            "(SELECT local_ref FROM matches WHERE status = 'closed')) "
            "AND coalesce(consent_match, 'yes') != 'no' ORDER BY ref"
        )
        return list(self.db.query(sql))

    def match_statuses(self) -> list[tuple[str, str]]:
        """(local ref, status) of every match this node holds; a case closed as reunited reads
        'closed-reunited' (the review workflow keeps the outcome in its own column)."""
        return self.conn.execute(
            "SELECT local_ref, CASE WHEN status = 'closed' THEN 'closed-' || coalesce(outcome, '') "
            "ELSE status END FROM matches"
        ).fetchall()

    def stats_sent_digest(self, peer_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT digest FROM stats_sent WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else None

    def apply_peer_stats(
        self, peer_id: int, message_id: str, published: dict, now: int, ack_due: bool
    ) -> None:
        """Keep a peer's published tables unless we already hold newer ones from it."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "stats-table", now, ack_due)
            conn.execute(
                "INSERT INTO peer_stats (peer_id, published, computed_at, received_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET "
                "published = excluded.published, computed_at = excluded.computed_at, "
                "received_at = excluded.received_at "
                "WHERE excluded.computed_at >= peer_stats.computed_at",
                (peer_id, json.dumps(published), published["computed_at"], now),
            )

    def peer_published_stats(self) -> list[dict]:
        """Each trusted peer's latest published tables, with the peer's name."""
        rows = self.db.query(
            "SELECT p.name AS peer, s.published, s.computed_at FROM peer_stats s "
            "JOIN peers p ON p.id = s.peer_id WHERE p.state = 'trusted' ORDER BY p.name"
        )
        return [{**row, "published": json.loads(row["published"])} for row in rows]
