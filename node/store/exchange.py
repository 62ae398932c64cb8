"""The federation part of the store: pseudonyms, blinded keys, the outbox, processed messages,
matches and blinding caps. Part of the store layer: with node/store/db.py, the only code that
writes SQL. Mixed into ``Store``; every write is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from node.errors import NodeError
from protocol.envelope import new_message_id

from .parts import StoreParts
from .review import append_audit, peer_actor

# Every change to either side's keys bumps the peer's scoring generation; a scoring pass clears it
# only if nothing changed while it ran, so a change that lands mid-pass is never forgotten.
MARK_DIRTY = "UPDATE peer_sync SET needs_scoring = needs_scoring + 1 WHERE peer_id = ?"
# A match both nodes know someone decided on: only a confirmation (and its undo) crosses to the
# peer, so a match is shared once either side confirmed it, even if the confirmation was undone.
SHARED = (
    "(status IN ('confirmed', 'contact exchanged', 'closed') "
    "OR peer_decision IS NOT NULL "
    "OR match_id IN (SELECT match_id FROM decisions WHERE decision = 'confirm'))"
)
# Such matches stay whatever their score, and keep being rescored, on both nodes alike.
REVIEWED_SQL = (
    f"SELECT match_id, local_pseudonym, peer_pseudonym FROM matches WHERE peer_id = ? AND {SHARED}"
)
NO_LONGER_A_CANDIDATE = "no longer a candidate: a record changed or was withdrawn"


def withdraw_matches(
    conn: sqlite3.Connection, peer_id: int, column: str, pseudonyms: Sequence[str], now: int
) -> None:
    """A record was withdrawn, ours or the peer's: the same rule on both nodes of the pair.

    Matches nobody decided on are deleted; the others become 'withdrawn' with no score,
    evidence or pseudonym — nothing that ties them to the peer's record or says what agreed —
    except a case whose contacts were exchanged, which its caseworker still holds. A match only
    this side decided on (a reject or unsure, which never leaves the node) stays withdrawn in
    this side's history; the peer, which never heard of the decision, deletes it.
    """
    assert column in ("local_pseudonym", "peer_pseudonym")
    pairs = [(peer_id, p) for p in pseudonyms]
    conn.executemany(
        f"DELETE FROM matches WHERE peer_id = ? AND {column} = ? AND NOT {SHARED} "
        "AND match_id NOT IN (SELECT match_id FROM decisions)",
        pairs,
    )
    conn.executemany(
        "UPDATE matches SET status = 'withdrawn', score = 0, evidence = '', "
        "local_pseudonym = '', peer_pseudonym = '', updated_at = ? "
        f"WHERE peer_id = ? AND {column} = ? AND status NOT IN ('contact exchanged', 'closed')",
        [(now, peer_id, p) for p in pseudonyms],
    )


class BudgetExceeded(NodeError):
    """A peer's batch would pass its key budget; raised inside the transaction, which rolls
    back. node/federation/exchange.py turns it into the protocol's 429."""

    def __init__(self, used: int, new: int, limit: int):
        super().__init__(f"{new:,} new keys with {used:,} used in 30 days; the budget is {limit:,}")
        self.used, self.new, self.limit = used, new, limit


class FederationTables(StoreParts):
    """SQL for exchanging blinded keys with peers. Expects ``self.conn`` and ``self.db``."""

    conn: sqlite3.Connection

    # -- secrets and pseudonyms -----------------------------------------------------------

    def blinding_scalar(self, peer_id: int, new_scalar: bytes, now: int) -> bytes:
        """This node's scalar for the peer, created on first use."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blinding_secrets (peer_id, scalar, created_at) "
                "VALUES (?, ?, ?)",
                (peer_id, new_scalar, now),
            )
            conn.execute("INSERT OR IGNORE INTO peer_sync (peer_id) VALUES (?)", (peer_id,))
            row = conn.execute(
                "SELECT scalar FROM blinding_secrets WHERE peer_id = ?", (peer_id,)
            ).fetchone()
        return bytes(row[0])

    def scalar_created_at(self, peer_id: int) -> int | None:
        row = self.conn.execute(
            "SELECT created_at FROM blinding_secrets WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else None

    def rotate_peer_secrets(
        self, peer_id: int, new_scalar: bytes, messages: Sequence[tuple[str, str, dict]],
        retracted: Sequence[str], *, actor: str, now: int,
    ) -> None:  # fmt: skip
        """A new scalar and new pseudonyms for the peer, in one transaction (Federation.rotate).

        ``retracted``: the pseudonyms given up (``messages`` retract them at the peer); their
        rows go, so the next ``prepare`` sends those records under fresh pseudonyms. Every other
        record is marked to be sent again (its keys change with the scalar). Keys blinded with
        the old scalar (ours as the peer returned them, the peer's as we blinded them) and
        unreviewed suggestions go too.
        """
        with self.transaction() as conn:
            conn.execute(
                "UPDATE blinding_secrets SET scalar = ?, created_at = ? WHERE peer_id = ?",
                (new_scalar, now, peer_id),
            )
            self._enqueue(conn, peer_id, messages, now)
            conn.executemany(
                "DELETE FROM pseudonyms WHERE peer_id = ? AND pseudonym = ?",
                [(peer_id, p) for p in retracted],
            )
            conn.execute(
                "UPDATE pseudonyms SET keys_digest = '' WHERE peer_id = ? "
                "AND keys_digest IS NOT NULL",
                (peer_id,),
            )
            for table in ("own_blinded", "peer_blinded", "notices_sent"):
                conn.execute(f"DELETE FROM {table} WHERE peer_id = ?", (peer_id,))
            conn.execute(
                "DELETE FROM matches WHERE peer_id = ? AND status = 'suggested' "
                "AND peer_decision IS NULL AND match_id NOT IN (SELECT match_id FROM decisions)",
                (peer_id,),
            )
            conn.execute(MARK_DIRTY, (peer_id,))
            append_audit(conn, actor, "peer-secrets-rotated", peer_actor(conn, peer_id),
                         f"{len(retracted)} pseudonyms renewed", now)  # fmt: skip

    def apply_rekey(self, peer_id: int, message_id: str, now: int, ack_due: bool) -> None:
        """The peer rotated its scalar: our keys it returned are void, and every record of ours
        goes to it again (under the same pseudonyms), for it to blind with its new scalar."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "rekey", now, ack_due)
            conn.execute("DELETE FROM own_blinded WHERE peer_id = ?", (peer_id,))
            conn.execute(
                "UPDATE pseudonyms SET keys_digest = '' WHERE peer_id = ? "
                "AND keys_digest IS NOT NULL",
                (peer_id,),
            )
            conn.execute(MARK_DIRTY, (peer_id,))

    def reviewed_local_pseudonyms(self, peer_id: int) -> set[str]:
        """Our pseudonyms in a match someone reviewed: the peer already knows those pairs."""
        rows = self.conn.execute(
            "SELECT local_pseudonym FROM matches WHERE peer_id = ? AND (status != 'suggested' "
            "OR peer_decision IS NOT NULL OR match_id IN (SELECT match_id FROM decisions))",
            (peer_id,),
        )
        return {r[0] for r in rows}

    def pseudonyms(self, peer_id: int) -> dict[str, tuple[str, str | None]]:
        """{ref: (pseudonym, digest of keys last sent or None once retracted)}."""
        rows = self.conn.execute(
            "SELECT ref, pseudonym, keys_digest FROM pseudonyms WHERE peer_id = ?", (peer_id,)
        )
        return {ref: (pseudonym, digest) for ref, pseudonym, digest in rows}

    def live_pseudonyms(self, peer_id: int) -> set[str]:
        """Our records' pseudonyms for the peer that it should hold now: sent, not retracted,
        and not marked to be sent again after a rotation."""
        return {pseudonym for pseudonym, digest in self.pseudonyms(peer_id).values() if digest}

    def refs_for_pseudonyms(self, peer_id: int) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT pseudonym, ref FROM pseudonyms WHERE peer_id = ?", (peer_id,)
        )
        return dict(rows.fetchall())

    def enqueue_outgoing(
        self,
        peer_id: int,
        messages: Sequence[tuple[str, str, dict]],
        sent: Sequence[tuple[str, str, str | None]],
        now: int,
        expected: Mapping[str, tuple[str, str | None] | None] | None = None,
        awaiting: Sequence[str] = (),
    ) -> bool:
        """Queue messages and record what they carry, in one transaction; False if stale.

        ``messages``: (message id, type, payload). ``sent``: (ref, pseudonym, digest) of every
        record they carry; digest None marks a retraction. ``expected``: what the caller read of
        each sent ref's row (None: no row) before it blinded; if another process changed any
        of them meanwhile nothing is queued and False is returned, so what is sent is always
        exactly what is stored. ``awaiting``: batch ids whose replies we now wait for. A
        changed record's old doubly blinded keys are dropped until the peer's reply brings the
        new ones, and a retracted record's matches are withdrawn.
        """
        with self.transaction() as conn:
            if expected is not None:
                current = {
                    ref: (pseudonym, digest)
                    for ref, pseudonym, digest in conn.execute(
                        "SELECT ref, pseudonym, keys_digest FROM pseudonyms WHERE peer_id = ?",
                        (peer_id,),
                    )
                }
                if any(current.get(ref) != expected.get(ref) for ref, _, _ in sent):
                    return False
            self._enqueue(conn, peer_id, messages, now)
            conn.executemany(
                "INSERT INTO pseudonyms (peer_id, ref, pseudonym, keys_digest, sent_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (peer_id, ref) DO UPDATE SET "
                "keys_digest = excluded.keys_digest, sent_at = excluded.sent_at",
                [(peer_id, ref, pseudonym, digest, now) for ref, pseudonym, digest in sent],
            )
            conn.executemany(
                "DELETE FROM own_blinded WHERE peer_id = ? AND pseudonym = ?",
                [(peer_id, pseudonym) for _, pseudonym, _ in sent],
            )
            retracted = [p for _, p, digest in sent if digest is None]
            withdraw_matches(conn, peer_id, "local_pseudonym", retracted, now)
            conn.executemany(
                "INSERT OR REPLACE INTO awaiting (peer_id, batch, kind, sent_at) "
                "VALUES (?, ?, 'blinded-reply', ?)",
                [(peer_id, batch, now) for batch in awaiting],
            )
            if sent:
                conn.execute(MARK_DIRTY, (peer_id,))
        return True

    def enqueue_request(
        self, peer_id: int, message: tuple[str, str, dict], batch: str, kind: str, now: int
    ) -> bool:
        """Queue a request whose answer echoes ``batch``, and remember that we wait for it;
        False (nothing queued) while a request of this kind still waits for its answer."""
        with self.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM awaiting WHERE peer_id = ? AND kind = ?", (peer_id, kind)
            ).fetchone():
                return False
            self._enqueue(conn, peer_id, [message], now)
            conn.execute(
                "INSERT OR REPLACE INTO awaiting (peer_id, batch, kind, sent_at) "
                "VALUES (?, ?, ?, ?)",
                (peer_id, batch, kind, now),
            )
        return True

    def peer_record_pseudonyms(self, peer_id: int) -> list[str]:
        """The pseudonyms of the peer's records we hold, sorted."""
        rows = self.conn.execute(
            "SELECT pseudonym FROM peer_records WHERE peer_id = ? ORDER BY pseudonym", (peer_id,)
        )
        return [r[0] for r in rows]

    def records_held(self, peer_id: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM peer_records WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]

    def apply_holdings_request(
        self,
        peer_id: int,
        message_id: str,
        answers: Sequence[tuple[str, str, dict]],
        now: int,
        ack_due: bool,
    ) -> None:
        """The peer asked which of its records we hold: queue the answer, atomically."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "holdings-request", now, ack_due)
            self._enqueue(conn, peer_id, answers, now)

    def apply_holdings(
        self,
        peer_id: int,
        message_id: str,
        batch: str,
        last: bool,
        retractions: Sequence[tuple[str, str, dict]],
        now: int,
        ack_due: bool,
    ) -> None:
        """Part of the peer's list of our records it holds: queue the retraction of those we
        never sent or withdrew, and stop waiting once the last part arrived."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "holdings", now, ack_due)
            self._enqueue(conn, peer_id, retractions, now)
            if retractions:
                count = sum(len(m[2]["pseudonyms"]) for m in retractions)
                append_audit(conn, "node", "repair", batch,
                             f"retracting {count} pseudonyms {peer_actor(conn, peer_id)} held "
                             "that this node does not know", now)  # fmt: skip
            if last:
                conn.execute(
                    "DELETE FROM awaiting WHERE peer_id = ? AND batch = ?", (peer_id, batch)
                )

    def settle_state(self, peer_ids: Sequence[int]) -> dict[int, dict]:
        """What each peer's exchange still waits for: our outbox, answers, scoring."""
        state = {}
        for peer_id in peer_ids:
            waits = dict(
                self.conn.execute(
                    "SELECT kind, count(*) FROM awaiting WHERE peer_id = ? GROUP BY kind",
                    (peer_id,),
                ).fetchall()
            )
            state[peer_id] = {
                "outbox": self.outbox_count(peer_id),
                "awaiting_replies": waits.get("blinded-reply", 0),
                "awaiting_holdings": waits.get("holdings", 0),
                "needs_scoring": bool(self.peer_sync_state(peer_id)["needs_scoring"]),
            }
        return state

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

    def apply_peer_keys(
        self,
        peer_id: int,
        message_id: str,
        records: Sequence[tuple[str, Sequence[tuple[str, bytes]]]],
        reply: tuple[str, str, dict] | None,
        announced: int,
        day: str,
        now: int,
        ack_due: bool,
        budget: tuple[Sequence[bytes], int, int] | None = None,
        profile: str | None = None,
    ) -> None:
        """Store a peer's keys (now doubly blinded by us) and queue the reply, atomically.

        ``budget``: (digests of the distinct keys blinded, the budget, the window's start). The
        budget is checked again under the write lock: OverBudget and nothing changes if the new
        keys would pass it. ``profile``: the peer's batch profile to remember (JSON).
        """
        with self.transaction() as conn:
            if reply is not None:
                self._enqueue(conn, peer_id, [reply], now)
            if budget is not None:
                digests, limit, since = budget
                used, new = self._budget_use(conn, peer_id, digests, since)
                if used + new > limit:
                    raise BudgetExceeded(used, new, limit)
                conn.executemany(
                    "INSERT INTO budget_keys (peer_id, digest, at) VALUES (?, ?, ?) "
                    "ON CONFLICT (peer_id, digest) DO NOTHING",
                    [(peer_id, d, now) for d in digests],
                )
            if profile is not None:
                conn.execute(
                    "INSERT INTO peer_profiles (peer_id, profile) VALUES (?, ?) "
                    "ON CONFLICT (peer_id) DO UPDATE SET profile = excluded.profile",
                    (peer_id, profile),
                )
            self._mark_processed(conn, peer_id, message_id, "blinded-keys", now, ack_due)
            self._replace_keys(conn, "peer_blinded", peer_id, records)
            conn.executemany(
                "INSERT OR IGNORE INTO peer_records (peer_id, pseudonym) VALUES (?, ?)",
                [(peer_id, pseudonym) for pseudonym, _ in records],
            )
            keys = sum(len(k) for _, k in records)
            conn.execute(
                "INSERT INTO blinding_usage (peer_id, day, keys) VALUES (?, ?, ?) "
                "ON CONFLICT (peer_id, day) DO UPDATE SET keys = keys + excluded.keys",
                (peer_id, day, keys),
            )
            conn.execute(
                "UPDATE peer_sync SET announced_records = ?, needs_scoring = needs_scoring + 1 "
                "WHERE peer_id = ?",
                (announced, peer_id),
            )

    def apply_own_keys(
        self,
        peer_id: int,
        message_id: str,
        records: Sequence[tuple[str, Sequence[tuple[str, bytes]]]],
        now: int,
        ack_due: bool,
        batch: str | None = None,
    ) -> None:
        """Store our keys as doubly blinded by the peer (its blinded-reply to ``batch``)."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "blinded-reply", now, ack_due)
            self._replace_keys(conn, "own_blinded", peer_id, records)
            conn.execute(MARK_DIRTY, (peer_id,))
            if batch is not None:
                conn.execute(
                    "DELETE FROM awaiting WHERE peer_id = ? AND batch = ?", (peer_id, batch)
                )

    def apply_retraction(
        self, peer_id: int, message_id: str, pseudonyms: Sequence[str], now: int, ack_due: bool
    ) -> None:
        """Forget a peer's withdrawn records: their keys and their candidate matches."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "retraction", now, ack_due)
            pairs = [(peer_id, p) for p in pseudonyms]
            conn.executemany("DELETE FROM peer_blinded WHERE peer_id = ? AND pseudonym = ?", pairs)
            conn.executemany("DELETE FROM peer_records WHERE peer_id = ? AND pseudonym = ?", pairs)
            withdraw_matches(conn, peer_id, "peer_pseudonym", pseudonyms, now)
            # The candidates left are scored again: weights and the one-to-one step depend on
            # every pair, so the peer (which rescored after retracting) and we stay equal.
            conn.execute(MARK_DIRTY, (peer_id,))

    def apply_simple(
        self,
        peer_id: int,
        message_id: str,
        kind: str,
        now: int,
        ack_due: bool,
    ) -> None:
        """Record a message that has no effect of its own here (node-document, match-notice)."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, kind, now, ack_due)

    @staticmethod
    def _replace_keys(conn, table: str, peer_id: int, records) -> None:
        assert table in ("own_blinded", "peer_blinded")
        conn.executemany(
            f"DELETE FROM {table} WHERE peer_id = ? AND pseudonym = ?",
            [(peer_id, pseudonym) for pseudonym, _ in records],
        )
        conn.executemany(
            f"INSERT INTO {table} (peer_id, pseudonym, key_type, token) VALUES (?, ?, ?, ?)",
            [
                (peer_id, pseudonym, key_type, token)
                for pseudonym, keys in records
                for key_type, token in keys
            ],
        )

    # -- key budgets and alerts (node/trust/budgets.py) ------------------------------------------

    @staticmethod
    def _budget_use(conn, peer_id: int, digests: Sequence[bytes], since: int) -> tuple[int, int]:
        """(distinct keys blinded for the peer since ``since``, how many of ``digests`` are new)."""
        conn.execute("DELETE FROM budget_keys WHERE peer_id = ? AND at < ?", (peer_id, since))
        used = conn.execute(
            "SELECT count(*) FROM budget_keys WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]
        known = 0
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            known += conn.execute(
                f"SELECT count(*) FROM budget_keys WHERE peer_id = ? AND digest IN ({marks})",
                [peer_id, *chunk],
            ).fetchone()[0]
        return used, len(digests) - known

    def budget_use(self, peer_id: int, digests: Sequence[bytes], since: int) -> tuple[int, int]:
        """Read-only: (keys used in the window, new keys among ``digests``)."""
        self.conn.execute("BEGIN")
        try:
            used = self.conn.execute(
                "SELECT count(*) FROM budget_keys WHERE peer_id = ? AND at >= ?", (peer_id, since)
            ).fetchone()[0]
            known = 0
            for start in range(0, len(digests), 500):
                chunk = list(digests[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                known += self.conn.execute(
                    "SELECT count(*) FROM budget_keys WHERE peer_id = ? AND at >= ? "
                    f"AND digest IN ({marks})",
                    [peer_id, since, *chunk],
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

    def own_key_profile(self, peer_id: int) -> tuple[int, dict[str, int]]:
        """Our records with keys in the exchange with a peer, and our keys per key type."""
        records = self.conn.execute(
            "SELECT count(DISTINCT pseudonym) FROM own_blinded WHERE peer_id = ?", (peer_id,)
        ).fetchone()[0]
        types = dict(
            self.conn.execute(
                "SELECT key_type, count(*) FROM own_blinded WHERE peer_id = ? GROUP BY key_type",
                (peer_id,),
            )
        )
        return records, types

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

    # -- who evaluates, and match notices (docs/privacy-design.md) ------------------------------

    def peer_evaluation(self, peer_id: int) -> str:
        row = self.conn.execute(
            "SELECT evaluation FROM peer_evaluation WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else "both"

    def set_peer_evaluation(self, peer_id: int, evaluation: str, *, actor: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO peer_evaluation (peer_id, evaluation, set_by, set_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET "
                "evaluation = excluded.evaluation, set_by = excluded.set_by, "
                "set_at = excluded.set_at",
                (peer_id, evaluation, actor, now),
            )
            append_audit(conn, actor, "peer-evaluation-set", peer_actor(conn, peer_id),
                         evaluation, now)  # fmt: skip

    def enqueue_notices(self, peer_id: int, notices: Sequence[dict], now: int) -> int:
        """Queue a match notice for each suggestion that is new or changed since the last one
        sent, and a withdrawal for each one sent before that is gone; returns messages queued."""
        with self.transaction() as conn:
            sent = dict(
                conn.execute(
                    "SELECT match_id, digest FROM notices_sent WHERE peer_id = ?", (peer_id,)
                )
            )
            messages: list[tuple[dict, str | None]] = []
            keep = set()
            for notice in notices:
                digest = json.dumps(notice, sort_keys=True)
                keep.add(notice["match_id"])
                if sent.get(notice["match_id"]) != digest:
                    messages.append((notice, digest))
            for match_id in sorted(set(sent) - keep):
                old = json.loads(sent[match_id])
                messages.append(({**old, "score": 0, "evidence": ""}, None))
            queued = [(new_message_id(), "match-notice", n) for n, _ in messages]
            self._enqueue(conn, peer_id, queued, now)
            for notice, kept in messages:
                if kept is None:
                    conn.execute(
                        "DELETE FROM notices_sent WHERE peer_id = ? AND match_id = ?",
                        (peer_id, notice["match_id"]),
                    )
                else:
                    conn.execute(
                        "INSERT INTO notices_sent (peer_id, match_id, digest) VALUES (?, ?, ?) "
                        "ON CONFLICT (peer_id, match_id) DO UPDATE SET digest = excluded.digest",
                        (peer_id, notice["match_id"], kept),
                    )
        return len(messages)

    def confirmed_matches(self, peer_id: int) -> list[dict]:
        """Our matches with the peer that our caseworker confirmed (or that went further)."""
        return list(
            self.db.query(
                "SELECT match_id, score, evidence, local_pseudonym, peer_pseudonym FROM matches "
                "WHERE peer_id = ? AND status IN ('confirmed', 'contact exchanged', 'closed') "
                "ORDER BY match_id",
                [peer_id],
            )
        )

    def send_notice(self, peer_id: int, notice: dict, now: int) -> bool:
        """Queue one match notice unless this very notice was sent; True if queued."""
        digest = json.dumps(notice, sort_keys=True)
        with self.transaction() as conn:
            sent = conn.execute(
                "SELECT digest FROM notices_sent WHERE peer_id = ? AND match_id = ?",
                (peer_id, notice["match_id"]),
            ).fetchone()
            if sent and sent[0] == digest:
                return False
            self._enqueue(conn, peer_id, [(new_message_id(), "match-notice", notice)], now)
            conn.execute(
                "INSERT INTO notices_sent (peer_id, match_id, digest) VALUES (?, ?, ?) "
                "ON CONFLICT (peer_id, match_id) DO UPDATE SET digest = excluded.digest",
                (peer_id, notice["match_id"], digest),
            )
        return True

    def apply_notice(
        self, peer_id: int, message_id: str, notice: dict, local_ref: str, now: int, ack_due: bool
    ) -> None:
        """A suggestion the peer found (or its withdrawal, score 0), applied with the message."""
        with self.transaction() as conn:
            self._mark_processed(conn, peer_id, message_id, "match-notice", now, ack_due)
            if notice["score"] == 0 and not notice["evidence"]:
                conn.execute(
                    "DELETE FROM matches WHERE match_id = ? AND peer_id = ? "
                    "AND status = 'suggested' AND peer_decision IS NULL "
                    "AND match_id NOT IN (SELECT match_id FROM decisions)",
                    (notice["match_id"], peer_id),
                )
                return
            conn.execute(
                "INSERT INTO matches (match_id, peer_id, local_ref, local_pseudonym, "
                "peer_pseudonym, score, evidence, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'suggested', ?, ?) ON CONFLICT (match_id) DO UPDATE "
                "SET score = excluded.score, evidence = excluded.evidence, "
                "updated_at = excluded.updated_at WHERE matches.peer_id = excluded.peer_id",
                (notice["match_id"], peer_id, local_ref, notice["receiver_pseudonym"],
                 notice["sender_pseudonym"], float(notice["score"]), notice["evidence"], now,
                 now),
            )  # fmt: skip

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

    # -- scoring --------------------------------------------------------------------------

    def peer_sync_state(self, peer_id: int) -> dict:
        rows = list(self.db.query("SELECT * FROM peer_sync WHERE peer_id = ?", [peer_id]))
        return (
            rows[0]
            if rows
            else {
                "peer_id": peer_id,
                "announced_records": 0,
                "needs_scoring": 0,
                "last_contact_at": None,
                "last_sync_at": None,
            }
        )

    def scoring_input(
        self, peer_id: int
    ) -> tuple[int, dict, dict, dict[str, str], dict[str, tuple[str, str]]]:
        """Generation, own and peer keys, pseudonym→ref and the reviewed pairs, read from one
        consistent snapshot.

        The inbox thread may apply a peer's keys while the sync thread scores; reading the three
        tables in one read transaction keeps them consistent with each other and with the
        generation that ``replace_suggestions`` later checks.
        """
        self.conn.execute("BEGIN")
        try:
            generation = self.peer_sync_state(peer_id)["needs_scoring"]
            own = self.blinded_keys("own_blinded", peer_id)
            theirs = self.blinded_keys("peer_blinded", peer_id)
            refs = self.refs_for_pseudonyms(peer_id)
            reviewed = self.reviewed_pairs(peer_id)
        finally:
            self.conn.execute("COMMIT")
        return generation, own, theirs, refs, reviewed

    def blinded_keys(self, table: str, peer_id: int) -> dict[str, list[tuple[str, bytes]]]:
        assert table in ("own_blinded", "peer_blinded")
        keys: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        rows = self.conn.execute(
            f"SELECT pseudonym, key_type, token FROM {table} WHERE peer_id = ?", (peer_id,)
        )
        for pseudonym, key_type, token in rows:
            keys[pseudonym].append((key_type, bytes(token)))
        return dict(keys)

    def reviewed_pairs(self, peer_id: int) -> dict[str, tuple[str, str]]:
        """{match id: (our pseudonym, the peer's)} of matches either side has decided on."""
        rows = self.conn.execute(REVIEWED_SQL, (peer_id,))
        return {match_id: (local, theirs) for match_id, local, theirs in rows}

    def replace_suggestions(
        self,
        peer_id: int,
        suggestions: Sequence[dict],
        now: int,
        generation: int | None = None,
        rescored: Sequence[dict] = (),
        reviewed_seen: Iterable[str] | None = None,
    ) -> None:
        """Make the suggested matches for a peer exactly ``suggestions``; reviewed ones stay.

        ``rescored``: the new score and evidence of reviewed matches, whatever the threshold
        (one with no candidate left gets score 0), so both nodes of a pair keep showing the same
        figures for the same match however their decisions and rescoring interleaved.
        ``generation`` is the scoring generation the suggestions were computed from; the peer
        stays marked for scoring if its keys changed since (None: clear unconditionally), or if
        a match was decided on since ``reviewed_seen`` was read, as it still needs its score.
        """
        with self.transaction() as conn:
            reviewed = {row[0] for row in conn.execute(REVIEWED_SQL, (peer_id,))}
            seen = reviewed if reviewed_seen is None else set(reviewed_seen)
            fresh = {r["match_id"]: r for r in rescored}
            conn.executemany(
                "UPDATE matches SET score = ?, evidence = ? WHERE match_id = ? AND peer_id = ? "
                "AND status != 'withdrawn'",
                [
                    (fresh[m]["score"], fresh[m]["evidence"], m, peer_id)
                    if m in fresh
                    else (0.0, NO_LONGER_A_CANDIDATE, m, peer_id)
                    for m in reviewed & seen
                ],
            )
            if reviewed - seen:
                generation = -1  # never equal: score again
            # The rest (suggested, or decided here only: a reject or unsure never leaves the
            # node) follow the suggestions, as on the peer, which never heard of those
            # decisions: kept with the new score while a suggestion, else deleted — but a match
            # our caseworker decided on stays in our history, as no longer a candidate.
            local = {
                row[0]: row[1]
                for row in conn.execute(
                    f"SELECT match_id, match_id IN (SELECT match_id FROM decisions) FROM matches "
                    f"WHERE peer_id = ? AND NOT {SHARED} AND status != 'withdrawn'",
                    (peer_id,),
                )
            }
            wanted = {s["match_id"]: s for s in suggestions if s["match_id"] not in reviewed}
            gone = [m for m in local if m not in wanted]
            conn.executemany(
                "DELETE FROM matches WHERE match_id = ?", [(m,) for m in gone if not local[m]]
            )
            conn.executemany(
                "UPDATE matches SET score = 0, evidence = ? WHERE match_id = ?",
                [(NO_LONGER_A_CANDIDATE, m) for m in gone if local[m]],
            )
            conn.executemany(
                "UPDATE matches SET score = ?, evidence = ? WHERE match_id = ?",
                [(s["score"], s["evidence"], m) for m, s in wanted.items() if m in local],
            )
            conn.executemany(
                "INSERT INTO matches (match_id, peer_id, local_ref, local_pseudonym, "
                "peer_pseudonym, score, evidence, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'suggested', ?, ?)",
                [
                    (
                        s["match_id"],
                        peer_id,
                        s["local_ref"],
                        s["local_pseudonym"],
                        s["peer_pseudonym"],
                        s["score"],
                        s["evidence"],
                        now,
                        now,
                    )
                    for m, s in wanted.items()
                    if m not in local
                ],
            )
            conn.execute(
                "UPDATE peer_sync SET needs_scoring = CASE WHEN ? IS NULL OR needs_scoring = ? "
                "THEN 0 ELSE needs_scoring END, last_sync_at = ? WHERE peer_id = ?",
                (generation, generation, now, peer_id),
            )

    def list_matches(self, status: str | None = None) -> list[dict]:
        where, params = ("WHERE m.status = ?", [status]) if status else ("", [])
        sql = (
            "SELECT m.match_id, m.local_ref, m.local_pseudonym, p.name AS peer, "
            "m.peer_pseudonym, m.score, m.evidence, m.status, m.peer_decision FROM matches m "
            f"JOIN peers p ON p.id = m.peer_id {where} "
            "ORDER BY m.score DESC, m.local_ref, m.peer_pseudonym"
        )
        return list(self.db.query(sql, params))
