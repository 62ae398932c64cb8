"""The SQL of match notices (docs/privacy-design.md): who evaluates a pair, and the notices
that tell the other side about a match."""

from __future__ import annotations

import json
from collections.abc import Sequence

from protocol.envelope import new_message_id

from .audit import append_audit, peer_actor
from .matches import finish_scoring
from .parts import StoreParts


class NoticeTables(StoreParts):
    """Mixed into Store: evaluation and notices."""

    # -- who evaluates, and match notices (docs/privacy-design.md) ------------------------------

    def peer_evaluation(self, peer_id: int) -> str:
        row = self.conn.execute(
            "SELECT evaluation FROM peer_evaluation WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else "both"

    def peer_evaluation_is_auto(self, peer_id: int) -> bool:
        """Whether the pair's evaluation came from the default rule (one node, by key order)."""
        row = self.conn.execute(
            "SELECT auto FROM peer_evaluation WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return bool(row and row[0])

    def set_peer_evaluation(
        self,
        peer_id: int,
        evaluation: str,
        *,
        actor: str,
        now: int,
        linker_id: int | None = None,
        auto: bool = False,
    ) -> None:
        """Who compares the pair's keys; ``linker_id`` is the linkage node for "linker";
        ``auto``: "ours" or "theirs" came from the default rule, not from the coordinators."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO peer_evaluation (peer_id, evaluation, linker_id, set_by, set_at, "
                "auto) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET "
                "evaluation = excluded.evaluation, linker_id = excluded.linker_id, "
                "set_by = excluded.set_by, set_at = excluded.set_at, auto = excluded.auto",
                (peer_id, evaluation, linker_id, actor, now, int(auto)),
            )
            via = "" if linker_id is None else f" via {peer_actor(conn, linker_id)}"
            detail = evaluation + via + (" (auto: by key order)" if auto else "")
            append_audit(conn, actor, "peer-evaluation-set", peer_actor(conn, peer_id),
                         detail, now)  # fmt: skip

    def peer_linker(self, peer_id: int) -> int | None:
        """The linkage node of our pair with the peer, when evaluation is "linker"."""
        row = self.conn.execute(
            "SELECT linker_id FROM peer_evaluation WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return row[0] if row else None

    def enqueue_notices(
        self,
        peer_id: int,
        notices: Sequence[dict],
        now: int,
        *,
        finish: bool = False,
        generation: int | None = None,
    ) -> int:
        """Queue a match notice for each suggestion that is new or changed since the last one
        sent, and a withdrawal for each one sent before that is gone, in batches; returns the
        notices queued. ``finish``: also clear the peer's "needs scoring" mark, in the same
        transaction, as ``replace_suggestions(finish=False)`` left it (``generation``: what
        it returned)."""
        with self.transaction() as conn:
            if finish:
                finish_scoring(conn, peer_id, generation, now)
            sent = dict(
                conn.execute(
                    "SELECT match_id, digest FROM notices_sent WHERE peer_id = ?", (peer_id,)
                )
            )
            messages = notice_changes(sent, notices)
            self._enqueue(conn, peer_id, notice_batches([n for n, _ in messages]), now)
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

    def send_notices(self, peer_id: int, notices: Sequence[dict], now: int) -> int:
        """Queue each match notice unless this very notice was sent (one transaction and as few
        messages as batches allow, whatever their number); returns the notices queued."""
        unsent = []
        with self.transaction() as conn:
            for notice in notices:
                digest = json.dumps(notice, sort_keys=True)
                sent = conn.execute(
                    "SELECT digest FROM notices_sent WHERE peer_id = ? AND match_id = ?",
                    (peer_id, notice["match_id"]),
                ).fetchone()
                if sent and sent[0] == digest:
                    continue
                unsent.append(notice)
                conn.execute(
                    "INSERT INTO notices_sent (peer_id, match_id, digest) VALUES (?, ?, ?) "
                    "ON CONFLICT (peer_id, match_id) DO UPDATE SET digest = excluded.digest",
                    (peer_id, notice["match_id"], digest),
                )
            self._enqueue(conn, peer_id, notice_batches(unsent), now)
        return len(unsent)

    def apply_notice(
        self,
        peer_id: int,
        message_id: str,
        notice: dict,
        local_ref: str,
        now: int,
        ack_due: bool,
        *,
        sender_id: int | None = None,
    ) -> None:
        """A suggestion the peer found (or its withdrawal, score 0), applied with the message;
        ``sender_id`` is the pair's linkage node when it, not the peer, sent the notice."""
        kind = "match-notice" if sender_id is None else "linkage-notice"
        self.apply_notices(
            peer_id, message_id, kind, [(notice, local_ref)], now, ack_due, sender_id=sender_id
        )

    def apply_notices(
        self,
        peer_id: int,
        message_id: str,
        kind: str,
        notices: Sequence[tuple[dict, str]],
        now: int,
        ack_due: bool,
        *,
        sender_id: int | None = None,
    ) -> None:
        """Notices about our pair with the peer (each with the ref of our record it names),
        applied together with their message in one transaction; ``sender_id`` as for
        ``apply_notice``."""
        with self.transaction() as conn:
            self._mark_processed(conn, sender_id or peer_id, message_id, kind, now, ack_due)
            for notice, local_ref in notices:
                self._apply_one_notice(conn, peer_id, notice, local_ref, now)

    @staticmethod
    def _apply_one_notice(conn, peer_id: int, notice: dict, local_ref: str, now: int) -> None:
        if notice["score"] == 0 and not notice["evidence"]:
            conn.execute(
                "DELETE FROM matches WHERE match_id = ? AND peer_id = ? "
                "AND status = 'suggested' AND peer_decision IS NULL "
                "AND match_id NOT IN (SELECT match_id FROM decisions)",
                (notice["match_id"], peer_id),
            )
        else:
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


# Notices per match-notices message: about 250 bytes each, so a message stays near 250 kB.
NOTICES_PER_MESSAGE = 1_000


def notice_batches(notices: Sequence[dict]) -> list[tuple[str, str, dict]]:
    """Messages carrying these notices in order, NOTICES_PER_MESSAGE at most in each: one
    envelope, one request and one transaction at the peer per batch, not per suggestion."""
    return [
        (new_message_id(), "match-notices", {"notices": list(notices[i : i + NOTICES_PER_MESSAGE])})
        for i in range(0, len(notices), NOTICES_PER_MESSAGE)
    ]


def notice_changes(sent: dict[str, str], wanted: Sequence[dict]) -> list[tuple[dict, str | None]]:
    """What to tell a receiver, given the notices last sent it (``sent``: match id -> the notice
    as JSON) and those it should hold now: each new or changed notice with the JSON to remember,
    and a withdrawal (score 0, no evidence; None: forget it) for each one sent that is gone."""
    messages: list[tuple[dict, str | None]] = []
    keep = set()
    for notice in wanted:
        digest = json.dumps(notice, sort_keys=True)
        keep.add(notice["match_id"])
        if sent.get(notice["match_id"]) != digest:
            messages.append((notice, digest))
    for match_id in sorted(set(sent) - keep):
        messages.append(({**json.loads(sent[match_id]), "score": 0, "evidence": ""}, None))
    return messages
