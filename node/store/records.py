"""The SQL of the records table: writing an import, reading records, retention, and the
records a caseworker edits or searches in the web UI. Rules live in node/records/."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from node.canonical import FIELDS
from node.errors import RecordNotFound, StoreError

from .audit import append_audit, iso
from .parts import StoreParts, in_parts

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


class RecordTables(StoreParts):
    """Mixed into Store: the records table."""

    # -- records edited in the UI -----------------------------------------------------------

    def retract_record(self, ref: str, *, actor: str, reason: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE records SET retracted = 1, version = version + 1, updated_at = ? "
                "WHERE ref = ?",
                (iso(now), ref),
            )
            append_audit(conn, actor, "record-retracted", ref, reason, now)

    def search_records(self, query: str, kind: str | None, limit: int, offset: int):
        where, params = ["retracted = 0"], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if query:
            where.append(
                "(ref LIKE ? OR given_names LIKE ? OR family_name LIKE ? OR other_names LIKE ?)"
            )
            params.extend([f"%{query}%"] * 4)
        condition = " AND ".join(where)
        total = self.conn.execute(
            f"SELECT count(*) FROM records WHERE {condition}", params
        ).fetchone()[0]
        rows = self.db.query(
            "SELECT ref, kind, given_names, family_name, sex, birth_date, age, origin_district, "
            f"version FROM records WHERE {condition} ORDER BY ref LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return list(rows), total

    def key_counts(self, peer_id: int) -> dict[str, int]:
        """How many of our records and of the peer's records have keys in the exchange."""
        own = self.conn.execute(
            "SELECT count(DISTINCT pseudonym) FROM own_blinded WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]
        theirs = self.conn.execute(
            "SELECT count(DISTINCT pseudonym) FROM peer_blinded WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]
        return {"own": own, "peer": theirs}

    def matches_for_record(self, ref: str) -> list[dict]:
        return list(
            self.db.query(
                "SELECT m.match_id, m.score, m.status, p.name AS peer FROM matches m "
                "JOIN peers p ON p.id = m.peer_id WHERE m.local_ref = ? ORDER BY m.score DESC",
                [ref],
            )
        )

    # -- records ------------------------------------------------------------------------

    def existing_content(self, refs: Sequence[str]) -> dict[str, dict]:
        """The stored content columns and version of the given refs, for change detection."""
        columns = ", ".join((*CONTENT_COLUMNS, "version", "retracted"))
        found: dict[str, dict] = {}
        for part, marks in in_parts(refs, 900):
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
