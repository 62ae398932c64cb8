"""The SQL of caseworker review: the queue, matches, decisions, peer decisions, closing a case.

Part of the store (``node/store/db.py`` mixes it in). The rules (who may decide what, when a
contact is handed over) live in ``node/review/``: ``decide`` and ``apply_peer_review`` take the
handover rule (``review.handover.next_step``) as an argument and run it inside their transaction
on the facts read here (``HandoverFacts``), then write what it says (``HandoverStep``). Each write
is one transaction that also appends to the audit log, so nothing changes unrecorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.errors import NodeError
from node.statuses import STATUS_AFTER, Status
from protocol.blinding import match_id_for
from protocol.envelope import new_message_id

from .audit import append_audit, iso
from .parts import StoreParts

USER_COLUMNS = (
    "id, name, role, full_name, organisation, phone, email, language, disabled, created_at"
)


@dataclass(frozen=True)
class HandoverFacts:
    """What the handover rule needs to know of one match, read inside the transaction."""

    status: str
    peer_decision: str | None
    peer_contact_here: bool  # the peer's caseworker's contact has arrived
    handover_sent: bool  # ours was queued before
    consent_contact: str | None  # the record's consent to hand over the contact (None: no record)
    confirmer: dict | None  # our confirming caseworker's profile (None: no live confirmation)


@dataclass(frozen=True)
class HandoverStep:
    """What the rule decided: our contact to queue for the peer (once), and whether the match
    is now 'contact exchanged'."""

    contact: dict | None
    exchanged: bool


HandoverRule = Callable[[HandoverFacts], HandoverStep | None]


class HandoverNotAllowed(NodeError):
    """A peer sent a contact handover for a match that both sides have not confirmed."""


class ReviewTables(StoreParts):
    """Mixed into Store: expects ``self.conn``, ``self.db`` and ``self.transaction()``."""

    # -- the review queue -------------------------------------------------------------------

    def review_queue(
        self,
        *,
        status: str | None = None,
        peer: str | None = None,
        kind: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        peer_decision: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict], int]:
        """One page of matches, best first, and how many match the filters in all.

        ``peer_decision``: the partner's decision (confirm, reject, unsure), or "none" for
        matches the partner has not decided yet.
        """
        where, params = [], []
        if peer_decision == "none":
            where.append("m.peer_decision IS NULL")
            peer_decision = None
        for clause, value in (
            ("m.peer_decision = ?", peer_decision),
            ("m.status = ?", status),
            ("p.name = ?", peer),
            ("r.kind = ?", kind),
            ("m.score >= ?", min_score),
            ("m.score <= ?", max_score),
        ):
            if value is not None and value != "":
                where.append(clause)
                params.append(value)
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        # Join peers and records for the count only when a filter needs them.
        joins = ""
        if peer:
            joins += " JOIN peers p ON p.id = m.peer_id"
        if kind:
            # CROSS JOIN keeps SQLite walking matches in score order and looking each record up
            # by its primary key, instead of scanning every record of that kind.
            joins += " CROSS JOIN records r ON r.ref = m.local_ref"
        total = self.conn.execute(
            f"SELECT count(*) FROM matches m{joins} {condition}", params
        ).fetchone()[0]
        # Page through match ids first (an index walk), then fetch the page's details.
        page = [
            row[0]
            for row in self.conn.execute(
                f"SELECT m.match_id FROM matches m{joins} {condition} "
                "ORDER BY m.score DESC, m.match_id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        ]
        marks = ", ".join("?" * len(page))
        rows = self.db.query(
            "SELECT m.match_id, m.local_ref, m.score, m.evidence, m.status, m.peer_decision, "
            "p.name AS peer, r.kind, r.given_names, r.family_name "
            "FROM matches m JOIN peers p ON p.id = m.peer_id "
            f"LEFT JOIN records r ON r.ref = m.local_ref WHERE m.match_id IN ({marks}) "
            "ORDER BY m.score DESC, m.match_id",
            page,
        )
        return list(rows), total

    def status_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, count(*) FROM matches GROUP BY status"))

    def peer_decision_counts(self) -> dict[str, int]:
        """How many matches the partners confirmed, rejected, were unsure of, or not decided."""
        return dict(
            self.conn.execute(
                "SELECT coalesce(peer_decision, 'none'), count(*) FROM matches GROUP BY 1"
            )
        )

    def match(self, match_id: str) -> dict | None:
        rows = list(
            self.db.query(
                "SELECT m.*, p.name AS peer FROM matches m JOIN peers p ON p.id = m.peer_id "
                "WHERE m.match_id = ?",
                [match_id],
            )
        )
        return rows[0] if rows else None

    def agreeing_key_types(self, peer_id: int, local: str, theirs: str) -> list[str]:
        """The key types on which both records' doubly blinded keys are equal."""
        rows = self.conn.execute(
            "SELECT DISTINCT o.key_type FROM own_blinded o JOIN peer_blinded t "
            "ON t.peer_id = o.peer_id AND t.key_type = o.key_type AND t.token = o.token "
            "WHERE o.peer_id = ? AND o.pseudonym = ? AND t.pseudonym = ? ORDER BY o.key_type",
            (peer_id, local, theirs),
        )
        return [r[0] for r in rows]

    def decisions(self, match_id: str) -> list[dict]:
        return list(
            self.db.query(
                "SELECT d.*, u.name AS user_name FROM decisions d "
                "LEFT JOIN users u ON u.id = d.user_id WHERE d.match_id = ? ORDER BY d.id",
                [match_id],
            )
        )

    def decide(
        self,
        match: dict,
        decision: str,
        note: str,
        user: dict,
        messages: Sequence[tuple[str, str, dict]],
        now: int,
        *,
        hand_over: HandoverRule,
    ) -> None:
        """Our decision, the new status and the messages to the peer, in one transaction."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO decisions (match_id, side, decision, note, user_id, at) "
                "VALUES (?, 'local', ?, ?, ?, ?)",
                (match["match_id"], decision, note, user["id"], now),
            )
            conn.execute(
                "UPDATE matches SET status = ?, updated_at = ? WHERE match_id = ?",
                (STATUS_AFTER[decision], now, match["match_id"]),
            )
            self._enqueue(conn, match["peer_id"], messages, now)
            append_audit(
                conn, f"user:{user['name']}", f"decision-{decision}", match["match_id"], note, now
            )
            self._hand_over(conn, match["match_id"], now, hand_over)

    def undo(self, match: dict, decision: dict, user: dict, messages, now: int) -> str:
        """Mark our decision undone; the status returns to what the one before it made it."""
        with self.transaction() as conn:
            conn.execute("UPDATE decisions SET undone_at = ? WHERE id = ?", (now, decision["id"]))
            earlier = conn.execute(
                "SELECT decision FROM decisions WHERE match_id = ? AND side = 'local' "
                "AND undone_at IS NULL AND decision IN ('confirm', 'reject', 'unsure') "
                "ORDER BY id DESC LIMIT 1",
                (match["match_id"],),
            ).fetchone()
            status = STATUS_AFTER[earlier[0]] if earlier else Status.SUGGESTED
            conn.execute(
                "UPDATE matches SET status = ?, updated_at = ? WHERE match_id = ?",
                (status, now, match["match_id"]),
            )
            self._enqueue(conn, match["peer_id"], messages, now)
            append_audit(
                conn,
                f"user:{user['name']}",
                "decision-undone",
                match["match_id"],
                decision["decision"],
                now,
            )
            return status

    def close_case(
        self, match: dict, outcome: str, note: str, user: dict, retract: bool, now: int
    ) -> None:
        """Close a case: the match resolved, and (``retract``) its record withdrawn so that the
        next sync round retracts its keys at every peer."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO decisions (match_id, side, decision, outcome, note, user_id, at) "
                "VALUES (?, 'local', 'close', ?, ?, ?, ?)",
                (match["match_id"], outcome, note, user["id"], now),
            )
            conn.execute(
                "UPDATE matches SET status = 'closed', outcome = ?, updated_at = ? "
                "WHERE match_id = ?",
                (outcome, now, match["match_id"]),
            )
            if retract:
                conn.execute(
                    "UPDATE records SET retracted = 1, version = version + 1, updated_at = ? "
                    "WHERE ref = ?",
                    (iso(now), match["local_ref"]),
                )
            append_audit(
                conn,
                f"user:{user['name']}",
                "case-closed",
                match["match_id"],
                f"{outcome}: {note}",
                now,
            )

    def _hand_over(
        self, conn: sqlite3.Connection, match_id: str, now: int, rule: HandoverRule
    ) -> None:
        """Read the match's handover facts, ask the rule, write what it decided."""
        row = conn.execute(
            "SELECT m.peer_id, m.status, m.peer_decision, m.peer_contact, m.handover_sent, "
            "r.consent_contact FROM matches m LEFT JOIN records r ON r.ref = m.local_ref "
            "WHERE m.match_id = ?",
            (match_id,),
        ).fetchone()
        if row is None:
            return
        peer_id, status, peer_decision, peer_contact, handover_sent, consent = row
        confirmer = conn.execute(
            "SELECT u.full_name, u.name, u.organisation, u.phone, u.email FROM decisions d "
            "JOIN users u ON u.id = d.user_id WHERE d.match_id = ? AND d.side = 'local' "
            "AND d.decision = 'confirm' AND d.undone_at IS NULL ORDER BY d.id DESC LIMIT 1",
            (match_id,),
        ).fetchone()
        facts = HandoverFacts(
            status=status,
            peer_decision=peer_decision,
            peer_contact_here=bool(peer_contact),
            handover_sent=bool(handover_sent),
            consent_contact=consent,
            confirmer=(
                dict(
                    zip(
                        ("full_name", "name", "organisation", "phone", "email"),
                        confirmer,
                        strict=True,
                    )
                )
                if confirmer
                else None
            ),
        )
        step = rule(facts)
        if step is None:
            return
        if step.contact is not None:
            handover = {"match_id": match_id, "contact": step.contact}
            self._enqueue(conn, peer_id, [(new_message_id(), "contact-handover", handover)], now)
            conn.execute("UPDATE matches SET handover_sent = 1 WHERE match_id = ?", (match_id,))
            append_audit(conn, "node", "contact-handed-over", match_id, "", now)
        if step.exchanged:
            conn.execute(
                "UPDATE matches SET status = ?, updated_at = ? WHERE match_id = ?",
                (Status.CONTACT_EXCHANGED, now, match_id),
            )

    @staticmethod
    def _hold_confirmed_match(
        conn: sqlite3.Connection, peer_id: int, payload: dict, now: int
    ) -> tuple | None:
        """The peer confirmed a match our scoring has not reached (or no longer holds): hold
        it, so that both nodes keep the same confirmed matches; its score comes with the next
        scoring (the peer is marked for it). Only for a pair of our live record's pseudonym and
        one the peer sent us, named by the match id derived from both."""
        ours, theirs = payload["receiver_pseudonym"], payload["sender_pseudonym"]
        if match_id_for(ours, theirs) != payload["match_id"]:
            return None
        found = conn.execute(
            "SELECT ref, keys_digest FROM pseudonyms WHERE peer_id = ? AND pseudonym = ?",
            (peer_id, ours),
        ).fetchone()
        held = conn.execute(
            "SELECT 1 FROM peer_records WHERE peer_id = ? AND pseudonym = ?", (peer_id, theirs)
        ).fetchone()
        if found is None or held is None:
            return None
        live = found[1] is not None
        conn.execute(
            "INSERT INTO matches (match_id, peer_id, local_ref, local_pseudonym, peer_pseudonym, "
            "score, evidence, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            (payload["match_id"], peer_id, found[0], ours if live else "", theirs if live else "",
             "not scored yet" if live else "", "suggested" if live else "withdrawn", now, now),
        )  # fmt: skip
        conn.execute(
            "UPDATE peer_sync SET needs_scoring = needs_scoring + 1 WHERE peer_id = ?", (peer_id,)
        )
        return ("suggested" if live else "withdrawn", None)

    def apply_peer_review(
        self,
        peer_id: int,
        message_id: str,
        kind: str,
        payload: dict,
        now: int,
        ack_due: bool,
        *,
        hand_over: HandoverRule,
    ) -> None:
        """A peer's review decision or contact, applied with the message's id in one
        transaction; a decision about a match we do not hold is recorded and ignored, and so is
        a reject or unsure (older nodes sent them; they say nothing we act on).

        A contact handover is accepted only for a match we confirmed and the peer confirmed;
        any other raises HandoverNotAllowed and changes nothing."""
        match_id = payload["match_id"]
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT status, peer_decision FROM matches WHERE match_id = ? AND peer_id = ?",
                (match_id, peer_id),
            ).fetchone()
            if kind == "contact-handover" and (
                row is None
                or row[0] not in ("confirmed", "contact exchanged")
                or row[1] != "confirm"
            ):
                state = "unknown" if row is None else f"{row[0]}, peer decision {row[1] or 'none'}"
                raise HandoverNotAllowed(
                    f"contact handover for match {match_id} refused: both sides must have "
                    f"confirmed it first (here: {state})"
                )
            self._mark_processed(conn, peer_id, message_id, kind, now, ack_due)
            if row is None and kind == "review-decision" and payload["decision"] == "confirm":
                row = self._hold_confirmed_match(conn, peer_id, payload, now)
            if row is None:
                return
            if kind == "review-decision":
                decision = payload["decision"]
                if decision in ("reject", "unsure"):
                    return
                if decision == "undo":
                    conn.execute(
                        "UPDATE decisions SET undone_at = ? WHERE id = (SELECT id FROM decisions "
                        "WHERE match_id = ? AND side = 'peer' AND undone_at IS NULL "
                        "ORDER BY id DESC LIMIT 1)",
                        (now, match_id),
                    )
                    latest = conn.execute(
                        "SELECT decision FROM decisions WHERE match_id = ? AND side = 'peer' "
                        "AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
                        (match_id,),
                    ).fetchone()
                    current = latest[0] if latest else None
                else:
                    conn.execute(
                        "INSERT INTO decisions (match_id, side, decision, at) "
                        "VALUES (?, 'peer', ?, ?)",
                        (match_id, decision, payload["at"]),
                    )
                    current = decision
                conn.execute(
                    "UPDATE matches SET peer_decision = ?, updated_at = ? WHERE match_id = ?",
                    (current, now, match_id),
                )
            else:
                conn.execute(
                    "UPDATE matches SET peer_contact = ?, updated_at = ? WHERE match_id = ?",
                    (json.dumps(payload["contact"]), now, match_id),
                )
            self._hand_over(conn, match_id, now, hand_over)
