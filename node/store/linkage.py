"""The SQL of a blind linkage node (docs/privacy-design.md, D4): the pairs of peers it links,
the keys both nodes of a pair blinded, and the notices it sent each of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from protocol.envelope import new_message_id

from .audit import append_audit, peer_actor
from .notices import notice_changes
from .parts import StoreParts

Keys = dict[str, list[tuple[str, bytes]]]


_PAIR_COLUMNS = (
    "p.id, p.first_id, p.second_id, p.needs_scoring, a.name AS first_name, "
    "b.name AS second_name, a.key_id AS first_key_id, b.key_id AS second_key_id"
)
_PAIRS_FROM = (
    "FROM linkage_pairs p JOIN peers a ON a.id = p.first_id JOIN peers b ON b.id = p.second_id"
)


class LinkageTables(StoreParts):
    """Mixed into Store: what a node keeps when it links pairs of its peers."""

    def add_linkage_pair(self, first_id: int, second_id: int, *, actor: str, now: int) -> bool:
        """Agree to link two peers; False if they are linked already (in either order)."""
        with self.transaction() as conn:
            if self._pair_id(conn, first_id, second_id) is not None:
                return False
            conn.execute(
                "INSERT INTO linkage_pairs (first_id, second_id, set_by, set_at) "
                "VALUES (?, ?, ?, ?)",
                (first_id, second_id, actor, now),
            )
            names = f"{peer_actor(conn, first_id)} and {peer_actor(conn, second_id)}"
            append_audit(conn, actor, "linkage-pair-added", names, "", now)
        return True

    def remove_linkage_pair(self, first_id: int, second_id: int, *, actor: str, now: int) -> bool:
        """Stop linking two peers and forget their keys; False if they were not linked."""
        with self.transaction() as conn:
            pair_id = self._pair_id(conn, first_id, second_id)
            if pair_id is None:
                return False
            conn.execute("DELETE FROM linkage_keys WHERE pair_id = ?", (pair_id,))
            conn.execute("DELETE FROM linkage_notices WHERE pair_id = ?", (pair_id,))
            conn.execute("DELETE FROM linkage_pairs WHERE id = ?", (pair_id,))
            names = f"{peer_actor(conn, first_id)} and {peer_actor(conn, second_id)}"
            append_audit(conn, actor, "linkage-pair-removed", names, "", now)
        return True

    def linkage_pairs(self) -> list[dict]:
        """Every pair linked here, with the peers' names and the records held of each side."""
        return list(
            self.db.query(
                f"SELECT {_PAIR_COLUMNS}, "
                "(SELECT count(DISTINCT pseudonym) FROM linkage_keys k "
                " WHERE k.pair_id = p.id AND k.owner_id = p.first_id) AS first_records, "
                "(SELECT count(DISTINCT pseudonym) FROM linkage_keys k "
                " WHERE k.pair_id = p.id AND k.owner_id = p.second_id) AS second_records "
                f"{_PAIRS_FROM} ORDER BY p.id"
            )
        )

    def linkage_pairs_waiting(self) -> list[dict]:
        """The pairs whose keys changed since they were last scored, without the record counts
        (read every sync round)."""
        return list(
            self.db.query(f"SELECT {_PAIR_COLUMNS} {_PAIRS_FROM} WHERE p.needs_scoring > 0")
        )

    def linkage_pair_id(self, one_id: int, other_id: int) -> int | None:
        """The pair of these two peers, in either order, or None."""
        return self._pair_id(self.conn, one_id, other_id)

    @staticmethod
    def _pair_id(conn, one_id: int, other_id: int) -> int | None:
        row = conn.execute(
            "SELECT id FROM linkage_pairs WHERE (first_id = ? AND second_id = ?) "
            "OR (first_id = ? AND second_id = ?)",
            (one_id, other_id, other_id, one_id),
        ).fetchone()
        return row[0] if row else None

    def apply_linkage_keys(
        self,
        sender_id: int,
        message_id: str,
        pair_id: int,
        owner_id: int,
        records: Sequence[tuple[str, Sequence[tuple[str, bytes]]]],
        retracted: Sequence[str],
        now: int,
        ack_due: bool,
    ) -> None:
        """Keys of ``owner``'s records blinded by both nodes, and its records withdrawn, with
        the message's id, in one transaction; the pair is marked for scoring."""
        with self.transaction() as conn:
            self._mark_processed(conn, sender_id, message_id, "linkage-keys", now, ack_due)
            gone = [(pair_id, owner_id, p) for p in retracted] + [
                (pair_id, owner_id, p) for p, _ in records
            ]
            conn.executemany(
                "DELETE FROM linkage_keys WHERE pair_id = ? AND owner_id = ? AND pseudonym = ?",
                gone,
            )
            conn.executemany(
                "INSERT INTO linkage_keys (pair_id, owner_id, pseudonym, key_type, token) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (pair_id, owner_id, pseudonym, key_type, token)
                    for pseudonym, keys in records
                    for key_type, token in keys
                ],
            )
            conn.execute(
                "UPDATE linkage_pairs SET needs_scoring = needs_scoring + 1 WHERE id = ?",
                (pair_id,),
            )

    def linkage_input(self, pair_id: int) -> tuple[int, Keys, Keys]:
        """The scoring generation and both sides' keys (first's, second's), one snapshot."""
        self.conn.execute("BEGIN")
        try:
            row = self.conn.execute(
                "SELECT needs_scoring, first_id, second_id FROM linkage_pairs WHERE id = ?",
                (pair_id,),
            ).fetchone()
            sides: list[Keys] = []
            for owner_id in row[1:]:
                keys: Keys = defaultdict(list)
                for pseudonym, key_type, token in self.conn.execute(
                    "SELECT pseudonym, key_type, token FROM linkage_keys "
                    "WHERE pair_id = ? AND owner_id = ?",
                    (pair_id, owner_id),
                ):
                    keys[pseudonym].append((key_type, bytes(token)))
                sides.append(dict(keys))
        finally:
            self.conn.execute("COMMIT")
        return row[0], sides[0], sides[1]

    def store_linkage_notices(
        self, pair_id: int, generation: int, notices: dict[int, list[dict]], now: int
    ) -> int:
        """Queue, for each node of the pair, a notice for each suggestion new or changed since
        the last one sent it and a withdrawal for each one gone; the scoring of ``generation``
        is done (keys that arrived meanwhile keep the pair marked). Returns messages queued."""
        queued = 0
        with self.transaction() as conn:
            for receiver_id, wanted in notices.items():
                sent = dict(
                    conn.execute(
                        "SELECT match_id, digest FROM linkage_notices "
                        "WHERE pair_id = ? AND receiver_id = ?",
                        (pair_id, receiver_id),
                    )
                )
                messages = notice_changes(sent, wanted)
                self._enqueue(
                    conn,
                    receiver_id,
                    [(new_message_id(), "linkage-notice", n) for n, _ in messages],
                    now,
                )
                queued += len(messages)
                for notice, kept in messages:
                    key = (pair_id, receiver_id, notice["match_id"])
                    if kept is None:
                        conn.execute(
                            "DELETE FROM linkage_notices WHERE pair_id = ? AND receiver_id = ? "
                            "AND match_id = ?",
                            key,
                        )
                    else:
                        conn.execute(
                            "INSERT INTO linkage_notices (pair_id, receiver_id, match_id, digest) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (pair_id, receiver_id, match_id) "
                            "DO UPDATE SET digest = excluded.digest",
                            (*key, kept),
                        )
            conn.execute(
                "UPDATE linkage_pairs SET needs_scoring = max(0, needs_scoring - ?) WHERE id = ?",
                (generation, pair_id),
            )
        return queued
