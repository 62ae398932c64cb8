"""The SQL of scoring: the keys both sides hold, the reviewed pairs that stay, replacing a
peer's suggestions after a scoring pass, and listing matches."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence

from .exchange import NO_LONGER_A_CANDIDATE, REVIEWED_SQL, SHARED
from .parts import StoreParts


class MatchTables(StoreParts):
    """Mixed into Store: scoring input and suggestions."""

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

    def nothing_to_score(self, peer_id: int, now: int) -> None:
        """The peer, or our pair's linkage node, scores for us: the keys that arrived need no
        scoring here, so the exchange can count as settled."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE peer_sync SET needs_scoring = 0, last_sync_at = ? WHERE peer_id = ?",
                (now, peer_id),
            )

    def replace_suggestions(
        self,
        peer_id: int,
        suggestions: Sequence[dict],
        now: int,
        generation: int | None = None,
        rescored: Sequence[dict] = (),
        reviewed_seen: Iterable[str] | None = None,
        *,
        finish: bool = True,
    ) -> int | None:
        """Make the suggested matches for a peer exactly ``suggestions``; reviewed ones stay.

        ``rescored``: the new score and evidence of reviewed matches, whatever the threshold
        (one with no candidate left gets score 0), so both nodes of a pair keep showing the same
        figures for the same match however their decisions and rescoring interleaved.
        ``generation`` is the scoring generation the suggestions were computed from; the peer
        stays marked for scoring if its keys changed since (None: clear unconditionally), or if
        a match was decided on since ``reviewed_seen`` was read, as it still needs its score.
        ``finish=False`` leaves the peer marked for scoring: the caller still has notices to
        queue and clears the mark with them (``enqueue_notices``), so a process killed in
        between scores again rather than never telling the peer. Returns the generation to
        clear with.
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
            if finish:
                finish_scoring(conn, peer_id, generation, now)
        return generation

    def list_matches(self, status: str | None = None) -> list[dict]:
        where, params = ("WHERE m.status = ?", [status]) if status else ("", [])
        sql = (
            "SELECT m.match_id, m.local_ref, m.local_pseudonym, p.name AS peer, "
            "m.peer_pseudonym, m.score, m.evidence, m.status, m.peer_decision FROM matches m "
            f"JOIN peers p ON p.id = m.peer_id {where} "
            "ORDER BY m.score DESC, m.local_ref, m.peer_pseudonym"
        )
        return list(self.db.query(sql, params))


def finish_scoring(
    conn: sqlite3.Connection, peer_id: int, generation: int | None, now: int
) -> None:
    """Clear the peer's "needs scoring" mark unless its keys changed since ``generation`` (None:
    clear it whatever changed)."""
    conn.execute(
        "UPDATE peer_sync SET needs_scoring = CASE WHEN ? IS NULL OR needs_scoring = ? "
        "THEN 0 ELSE needs_scoring END, last_sync_at = ? WHERE peer_id = ?",
        (generation, generation, now, peer_id),
    )
