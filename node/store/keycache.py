"""The digest of each record's match keys under the hash of its content (record_keys), kept so
that a new process need not compute every record's keys again, and the counts of changes to
records and pseudonyms (table_changes), so a sync round need not read every record to find
nothing changed (node/federation/keycache.py). Part of the store layer; mixed into ``Store``."""

from __future__ import annotations

from collections.abc import Sequence

from .parts import StoreParts


class KeyDigestTables(StoreParts):
    def record_key_digests(self) -> list[tuple[str, str, str]]:
        """(ref, content hash, keys digest) of every record whose digest was computed."""
        rows = self.conn.execute("SELECT ref, content_hash, keys_digest FROM record_keys")
        return [(ref, content, digest) for ref, content, digest in rows]

    def remember_key_digests(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Store (ref, content hash, keys digest) rows; a record deleted meanwhile is skipped
        (its row would outlive it)."""
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO record_keys (ref, content_hash, keys_digest) "
                "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM records WHERE ref = ?1) "
                "ON CONFLICT (ref) DO UPDATE SET content_hash = excluded.content_hash, "
                "keys_digest = excluded.keys_digest",
                rows,
            )

    def change_counts(self) -> tuple[int, int]:
        """(changes to records, changes to pseudonyms) ever: equal counts, nothing changed."""
        counts = dict(self.conn.execute("SELECT name, changes FROM table_changes").fetchall())
        return counts["records"], counts["pseudonyms"]

    def matches_changes(self) -> int:
        """Changes to matches ever (inserted, updated or deleted rows), kept by triggers."""
        row = self.conn.execute(
            "SELECT changes FROM table_changes WHERE name = 'matches'"
        ).fetchone()
        return row[0] if row else 0
