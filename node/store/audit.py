"""The hash chain of the audit log, and checking it.

Every row of ``audit_log`` carries the SHA-256 of its own fields together with the hash of the row
before it, starting from ``GENESIS``. Triggers refuse UPDATE and DELETE, so an ordinary mistake
cannot change history; someone who edits the file around the triggers changes a row's fields (its
hash no longer matches), deletes a row (the next row's ``prev_hash`` no longer matches) or
rewrites every later hash — which ``tafuta audit verify`` cannot tell from an honest log unless
the admin compares the printed head hash with one written down earlier. The docs say so.

The hash covers the row id, so rows cannot be reordered either.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .parts import StoreParts

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "action", "subject", "detail")


def chain_hash(prev_hash: str, row: dict) -> str:
    """The hash of one row: its fields, unit-separated, after the previous row's hash."""
    text = "\x1f".join([prev_hash, *(str(row[f]) for f in FIELDS)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What verifying the chain found: rows checked, the head hash, the first broken row."""

    rows: int
    head: str
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify_chain(rows: Iterable[dict]) -> ChainReport:
    """Walk the rows in id order; stop at the first row whose links or hash do not hold."""
    prev, count, expected_id = GENESIS, 0, None
    for row in rows:
        if expected_id is not None and row["id"] != expected_id:
            return ChainReport(count, prev, row["id"], f"rows before id {row['id']} are missing")
        if row["prev_hash"] != prev:
            return ChainReport(
                count, prev, row["id"], "its previous-hash does not match the row before it"
            )
        if row["hash"] != chain_hash(prev, row):
            return ChainReport(count, prev, row["id"], "its contents do not match its hash")
        prev, count, expected_id = row["hash"], count + 1, row["id"] + 1
    return ChainReport(count, prev)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def append_audit(
    conn: sqlite3.Connection, actor: str, action: str, subject: str, detail: str, at: int | str
) -> None:
    """Append one row to the hash chain; call inside the transaction of the change it records."""
    last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    row = {
        "id": (last[0] + 1) if last else 1,
        "at": at if isinstance(at, str) else iso(at),
        "actor": actor,
        "action": action,
        "subject": subject,
        "detail": detail,
    }
    prev = last[1] if last else GENESIS
    conn.execute(
        "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash) "
        "VALUES (:id, :at, :actor, :action, :subject, :detail, :prev, :hash)",
        {**row, "prev": prev, "hash": chain_hash(prev, row)},
    )


def peer_actor(conn: sqlite3.Connection, peer_id: int) -> str:
    row = conn.execute("SELECT name FROM peers WHERE id = ?", (peer_id,)).fetchone()
    return f"peer:{row[0] if row else peer_id}"


class AuditTables(StoreParts):
    """Mixed into Store: reading and appending to the audit log."""

    # -- audit ----------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str, detail: str, at: int) -> None:
        with self.transaction() as conn:
            append_audit(conn, actor, action, subject, detail, at)

    def iter_audit(self) -> Iterator[dict]:
        yield from self.db.query("SELECT * FROM audit_log ORDER BY id")

    def audit_page(self, offset: int = 0, limit: int = 100, query: str = "") -> list[dict]:
        where, params = "", []
        if query:
            where = "WHERE actor LIKE ? OR action LIKE ? OR subject LIKE ?"
            params = [f"%{query}%"] * 3
        sql = f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        return list(self.db.query(sql, [*params, limit, offset]))

    def audit_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
