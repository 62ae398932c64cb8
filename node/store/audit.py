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
from collections.abc import Iterable
from dataclasses import dataclass

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
