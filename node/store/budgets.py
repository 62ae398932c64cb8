"""The SQL of key budgets and peer alerts (node/trust/budgets.py decides), and the peer
events an admin sees."""

from __future__ import annotations

from collections.abc import Sequence

from node.errors import NodeError

from .audit import append_audit, peer_actor
from .parts import StoreParts, in_parts


class BudgetExceeded(NodeError):
    """A peer's batch would pass its key budget; raised inside the transaction, which rolls
    back. node/federation/exchange.py turns it into the protocol's 429."""

    def __init__(self, used: int, new: int, limit: int):
        super().__init__(f"{new:,} new keys with {used:,} used in 30 days; the budget is {limit:,}")
        self.used, self.new, self.limit = used, new, limit


class BudgetTables(StoreParts):
    """Mixed into Store: what each peer asked us to blind, its budget, alerts and events."""

    def peer_alerted(self, peer_id: int, kinds: Sequence[str], since: int) -> bool:
        """Whether the peer set off an alert of these kinds since ``since``."""
        marks = ", ".join("?" * len(kinds))
        row = self.conn.execute(
            f"SELECT 1 FROM peer_events WHERE peer_id = ? AND kind IN ({marks}) AND at >= ? "
            "LIMIT 1",
            [peer_id, *kinds, since],
        ).fetchone()
        return row is not None

    def peer_alerts(self, kinds: Sequence[str], since: int) -> list[dict]:
        """Alerts of these kinds since ``since``, newest first, with the peer's name."""
        marks = ", ".join("?" * len(kinds))
        return list(
            self.db.query(
                "SELECT p.name AS peer, e.at, e.kind, e.detail FROM peer_events e "
                f"JOIN peers p ON p.id = e.peer_id WHERE e.kind IN ({marks}) AND e.at >= ? "
                "ORDER BY e.id DESC LIMIT 50",
                [*kinds, since],
            )
        )

    def blinded_today(self, peer_id: int, day: str) -> int:
        row = self.conn.execute(
            "SELECT keys FROM blinding_usage WHERE peer_id = ? AND day = ?", (peer_id, day)
        ).fetchone()
        return row[0] if row else 0

    def record_peer_event(self, peer_id: int, kind: str, detail: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO peer_events (peer_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                (peer_id, now, kind, detail),
            )

    def recent_peer_events(self, limit: int = 10) -> list[dict]:
        """The latest events for the coordinator, newest first, with the peer's name."""
        return list(
            self.db.query(
                "SELECT p.name AS peer, e.at, e.kind, e.detail FROM peer_events e "
                "JOIN peers p ON p.id = e.peer_id ORDER BY e.id DESC LIMIT ?",
                [limit],
            )
        )

    def peer_events(self, peer_id: int) -> list[dict]:
        return list(
            self.db.query(
                "SELECT at, kind, detail FROM peer_events WHERE peer_id = ? ORDER BY id",
                [peer_id],
            )
        )

    # -- key budgets and alerts (node/trust/budgets.py) ------------------------------------------

    @staticmethod
    def _budget_add(
        conn, peer_id: int, digests: Sequence[bytes], since: int, now: int
    ) -> tuple[int, int]:
        """Forget keys blinded before ``since``, remember ``digests`` as blinded now; returns
        (distinct keys blinded for the peer in the window before, how many of ``digests`` were
        new). Inside the caller's transaction, which rolls it all back if that passes the
        budget: one insert counts the new keys, instead of looking each one up first."""
        conn.execute("DELETE FROM budget_keys WHERE peer_id = ? AND at < ?", (peer_id, since))
        used = _budget_count(conn, peer_id)
        conn.executemany(
            "INSERT INTO budget_keys (peer_id, digest, at) VALUES (?, ?, ?) "
            "ON CONFLICT (peer_id, digest) DO NOTHING",
            [(peer_id, d, now) for d in digests],
        )
        return used, _budget_count(conn, peer_id) - used

    def budget_use(
        self, peer_id: int, digests: Sequence[bytes], since: int, limit: int | None = None
    ) -> tuple[int, int]:
        """Read-only: (keys used in the window, new keys among ``digests``).

        With ``limit``, when even all of ``digests`` fit beside the keys used, they are not
        looked up one by one and ``new`` is their number (an upper bound: enough to decide).
        """
        self.conn.execute("BEGIN")
        try:
            used = _budget_count(self.conn, peer_id, since)
            if limit is not None and used + len(digests) <= limit:
                return used, len(digests)
            known = 0
            for part, marks in in_parts(digests):
                known += self.conn.execute(
                    "SELECT count(*) FROM budget_keys WHERE peer_id = ? AND at >= ? "
                    f"AND digest IN ({marks})",
                    [peer_id, since, *part],
                ).fetchone()[0]
        finally:
            self.conn.execute("COMMIT")
        return used, len(digests) - known

    def peer_budget(self, peer_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM peer_budgets WHERE peer_id = ?", [peer_id]))
        return rows[0] if rows else None

    def set_peer_budget(self, peer_id: int, keys: int, *, actor: str, now: int) -> None:
        """The coordinator's budget for the peer, recorded in the audit log."""
        with self.transaction() as conn:
            old = conn.execute(
                "SELECT keys FROM peer_budgets WHERE peer_id = ?", (peer_id,)
            ).fetchone()
            conn.execute(
                "INSERT INTO peer_budgets (peer_id, keys, set_by, set_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (peer_id) DO UPDATE SET keys = excluded.keys, "
                "set_by = excluded.set_by, set_at = excluded.set_at",
                (peer_id, keys, actor, now),
            )
            before = f"{old[0]:,}" if old else "none"
            append_audit(conn, actor, "peer-budget-set", peer_actor(conn, peer_id),
                         f"{keys:,} keys per 30 days (was {before})", now)  # fmt: skip

    def peer_profile(self, peer_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT profile FROM peer_profiles WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else None

    def peer_keys_held(self, peer_id: int) -> tuple[int, int]:
        """The peer's records we hold with keys, and their keys: the shape of everything it has
        sent and not retracted, where its largest batch is only one message."""
        row = self.conn.execute(
            "SELECT count(DISTINCT pseudonym), count(*) FROM peer_blinded WHERE peer_id = ?",
            (peer_id,),
        ).fetchone()
        return row[0], row[1]

    def own_key_profile(self, peer_id: int) -> tuple[int, dict[str, int]]:
        """Our records with keys in the exchange with a peer, and our keys per key type."""
        # Kept by triggers on own_blinded (migration 14): the inbox reads this for every batch.
        row = self.conn.execute(
            "SELECT records FROM own_key_records WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        types = dict(
            self.conn.execute(
                "SELECT key_type, keys FROM own_key_shape WHERE peer_id = ? AND keys > 0 "
                "ORDER BY key_type",
                (peer_id,),
            )
        )
        return (row[0] if row else 0), types

    def record_peer_alert(self, peer_id: int, kind: str, detail: str, now: int) -> bool:
        """A peer event the coordinator must see, also in the audit log; one per kind per day
        per peer (False when one was recorded in the last day)."""
        with self.transaction() as conn:
            recent = conn.execute(
                "SELECT 1 FROM peer_events WHERE peer_id = ? AND kind = ? AND at > ?",
                (peer_id, kind, now - 24 * 3600),
            ).fetchone()
            if recent:
                return False
            conn.execute(
                "INSERT INTO peer_events (peer_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                (peer_id, now, kind, detail),
            )
            append_audit(conn, peer_actor(conn, peer_id), f"peer-alert-{kind}",
                         peer_actor(conn, peer_id), detail, now)  # fmt: skip
        return True


def _budget_count(conn, peer_id: int, since: int | None = None) -> int:
    """Keys in the peer's budget table, blinded at ``since`` or later (all when None).

    The count is kept by triggers (migration 14): counting the rows scanned millions of them
    for every batch at 100,000 records. Rows older than ``since`` are only deleted when a batch
    is applied, so while any is left the window is counted row by row (the index on
    (peer_id, at) finds whether one is left at once)."""
    if since is not None:
        stale = conn.execute(
            "SELECT 1 FROM budget_keys WHERE peer_id = ? AND at < ? LIMIT 1", (peer_id, since)
        ).fetchone()
        if stale is not None:
            return conn.execute(
                "SELECT count(*) FROM budget_keys WHERE peer_id = ? AND at >= ?", (peer_id, since)
            ).fetchone()[0]
    row = conn.execute(
        "SELECT keys FROM budget_key_counts WHERE peer_id = ?", (peer_id,)
    ).fetchone()
    return row[0] if row else 0
