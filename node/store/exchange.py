"""The federation part of the store: pseudonyms, blinded keys, the outbox, processed messages,
matches and blinding caps. Part of the store layer: with node/store/db.py, the only code that
writes SQL. Mixed into ``Store``; every write is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from node.statuses import HANDED_OVER, SHARED_STATUSES, sql_list

from .audit import append_audit, peer_actor
from .budgets import BudgetExceeded
from .parts import StoreParts, in_parts

# Every change to either side's keys bumps the peer's scoring generation; a scoring pass clears it
# only if nothing changed while it ran, so a change that lands mid-pass is never forgotten.
MARK_DIRTY = "UPDATE peer_sync SET needs_scoring = needs_scoring + 1 WHERE peer_id = ?"
# A match both nodes know someone decided on: only a confirmation (and its undo) crosses to the
# peer, so a match is shared once either side confirmed it, even if the confirmation was undone.
SHARED = (
    f"(status IN ({sql_list(SHARED_STATUSES)}) "
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
        f"WHERE peer_id = ? AND {column} = ? AND status NOT IN ({sql_list(HANDED_OVER)})",
        [(now, peer_id, p) for p in pseudonyms],
    )


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

    def live_among(self, peer_id: int, pseudonyms: Iterable[str]) -> set[str]:
        """Those of ``pseudonyms`` that ``live_pseudonyms`` holds, looked up one part at a time
        (a batch's records, where reading every pseudonym took 0.6 s a batch at 100k)."""
        live: set[str] = set()
        for part, marks in in_parts(list(dict.fromkeys(pseudonyms))):
            live.update(
                pseudonym
                for (pseudonym,) in self.conn.execute(
                    "SELECT pseudonym FROM pseudonyms WHERE peer_id = ? AND keys_digest != '' "
                    f"AND pseudonym IN ({marks})",
                    [peer_id, *part],
                )
            )
        return live

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

    def replies_in_flight(self, peer_id: int) -> bool:
        """Replies to our blinded keys are awaited from a peer that takes our messages: none
        of them has failed to reach it (a failed one is retried later: the peer may be down)."""
        return bool(
            self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM awaiting WHERE peer_id = ? "
                "AND kind = 'blinded-reply') AND NOT EXISTS "
                "(SELECT 1 FROM outbox WHERE peer_id = ? AND attempts > 0)",
                (peer_id, peer_id),
            ).fetchone()[0]
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
                "needs_scoring": bool(self.peer_sync_state(peer_id)["needs_scoring"])
                or self._linkage_due(peer_id),
            }
        return state

    def _linkage_due(self, peer_id: int) -> bool:
        """A pair we link (as its linkage node) whose first node is this peer waits for
        scoring."""
        row = self.conn.execute(
            "SELECT 1 FROM linkage_pairs WHERE first_id = ? AND needs_scoring > 0", (peer_id,)
        ).fetchone()
        return row is not None

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
        forward: tuple[int, tuple[str, str, dict]] | None = None,
    ) -> None:
        """Store a peer's keys (now doubly blinded by us) and queue the reply, atomically.
        ``forward``: (linkage node, message) carrying the keys on to the pair's linkage node.

        ``budget``: (digests of the distinct keys blinded, the budget, the window's start). The
        budget is checked again under the write lock: OverBudget and nothing changes if the new
        keys would pass it. ``profile``: the peer's batch profile to remember (JSON).
        """
        with self.transaction() as conn:
            if reply is not None:
                self._enqueue(conn, peer_id, [reply], now)
            if forward is not None:
                self._enqueue(conn, forward[0], [forward[1]], now)
            if budget is not None:
                digests, limit, since = budget
                used, new = self._budget_add(conn, peer_id, digests, since, now)
                if used + new > limit:
                    raise BudgetExceeded(used, new, limit)  # rolls the insert back too
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
        self,
        peer_id: int,
        message_id: str,
        pseudonyms: Sequence[str],
        now: int,
        ack_due: bool,
        forward: tuple[int, tuple[str, str, dict]] | None = None,
    ) -> None:
        """Forget a peer's withdrawn records: their keys and their candidate matches (and tell
        the pair's linkage node, ``forward``, in the same transaction)."""
        with self.transaction() as conn:
            if forward is not None:
                self._enqueue(conn, forward[0], [forward[1]], now)
            self._mark_processed(conn, peer_id, message_id, "retraction", now, ack_due)
            pairs = [(peer_id, p) for p in pseudonyms]
            conn.executemany("DELETE FROM peer_blinded WHERE peer_id = ? AND pseudonym = ?", pairs)
            conn.executemany("DELETE FROM peer_records WHERE peer_id = ? AND pseudonym = ?", pairs)
            withdraw_matches(conn, peer_id, "peer_pseudonym", pseudonyms, now)
            # A match notice on its way to the peer about a record it withdrew (retracted, or
            # renamed by a rotation) would be refused there, and delivery stops at the first
            # refusal: it goes. (Our record of having told it stays, so the next scoring sends
            # a withdrawal, which the peer ignores for a pseudonym it no longer has.)
            drop_notices_about(conn, peer_id, set(pseudonyms))
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


def drop_notices_about(conn, peer_id: int, pseudonyms: set[str]) -> None:
    """Take out of the outbox every match notice to the peer about one of its records in
    ``pseudonyms``; a batch left empty goes."""
    rows = conn.execute(
        "SELECT seq, payload FROM outbox WHERE peer_id = ? AND type = 'match-notices'",
        (peer_id,),
    ).fetchall()
    for seq, payload in rows:
        notices = json.loads(payload)["notices"]
        kept = [n for n in notices if n["receiver_pseudonym"] not in pseudonyms]
        if len(kept) == len(notices):
            continue
        if kept:
            conn.execute(
                "UPDATE outbox SET payload = ? WHERE seq = ?",
                (json.dumps({"notices": kept}), seq),
            )
        else:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
