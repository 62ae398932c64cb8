"""The schema for a peer's key budget, alerts, who evaluates a pair and the blind linkage node
(issue 12; docs/privacy-design.md), versions 10 and up of migrations.py."""

from __future__ import annotations

from .migration import Migration

PRIVACY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        10,
        "key budgets set by the coordinator, the shape of each peer's batches, who evaluates",
        (
            # Distinct keys a peer may ask us to blind per rolling 30 days (node/trust/budgets.py).
            """
            CREATE TABLE peer_budgets (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                keys INTEGER NOT NULL CHECK (keys >= 0),
                set_by TEXT NOT NULL,
                set_at INTEGER NOT NULL
            )
            """,
            # A digest of each distinct key blinded for a peer, and when: the budget's window.
            """
            CREATE TABLE budget_keys (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                digest BLOB NOT NULL,
                at INTEGER NOT NULL,
                PRIMARY KEY (peer_id, digest)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX budget_keys_at ON budget_keys (peer_id, at)",
            # The largest batch a peer sent and its last announcement, to see jumps (JSON).
            """
            CREATE TABLE peer_profiles (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                profile TEXT NOT NULL
            )
            """,
            # Who compares the two sides' keys (docs/privacy-design.md): both nodes, only us
            # (the peer gets match notices above the threshold), or only the peer.
            """
            CREATE TABLE peer_evaluation (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                evaluation TEXT NOT NULL CHECK (evaluation IN ('both', 'ours', 'theirs')),
                set_by TEXT NOT NULL,
                set_at INTEGER NOT NULL
            )
            """,
            # The match notices last sent to a peer we evaluate for, to send only changes.
            """
            CREATE TABLE notices_sent (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                match_id TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (peer_id, match_id)
            ) WITHOUT ROWID
            """,
        ),
    ),
    Migration(
        11,
        "a blind linkage node: a peer pair linked through a third node",
        (
            # "linker": neither node of a pair compares keys; a third node both trust does
            # (docs/privacy-design.md, D4). The linker is one of our trusted peers.
            """
            CREATE TABLE peer_evaluation_v11 (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                evaluation TEXT NOT NULL
                    CHECK (evaluation IN ('both', 'ours', 'theirs', 'linker')),
                linker_id INTEGER REFERENCES peers (id),
                set_by TEXT NOT NULL,
                set_at INTEGER NOT NULL,
                CHECK ((evaluation = 'linker') = (linker_id IS NOT NULL)),
                CHECK (linker_id IS NULL OR linker_id <> peer_id)
            )
            """,
            "INSERT INTO peer_evaluation_v11 (peer_id, evaluation, set_by, set_at) "
            "SELECT peer_id, evaluation, set_by, set_at FROM peer_evaluation",
            "DROP TABLE peer_evaluation",
            "ALTER TABLE peer_evaluation_v11 RENAME TO peer_evaluation",
            # At the linkage node: the pairs of its peers it agreed to link; ``first`` is shown
            # every suggestion, ``second`` only those agreeing on three fields before review.
            """
            CREATE TABLE linkage_pairs (
                id INTEGER PRIMARY KEY,
                first_id INTEGER NOT NULL REFERENCES peers (id),
                second_id INTEGER NOT NULL REFERENCES peers (id),
                needs_scoring INTEGER NOT NULL DEFAULT 0,
                set_by TEXT NOT NULL,
                set_at INTEGER NOT NULL,
                CHECK (first_id <> second_id),
                UNIQUE (first_id, second_id)
            )
            """,
            # Keys blinded by both nodes of a pair: ``owner`` is the node whose record it is.
            """
            CREATE TABLE linkage_keys (
                pair_id INTEGER NOT NULL REFERENCES linkage_pairs (id) ON DELETE CASCADE,
                owner_id INTEGER NOT NULL REFERENCES peers (id),
                pseudonym TEXT NOT NULL,
                key_type TEXT NOT NULL,
                token BLOB NOT NULL
            )
            """,
            "CREATE INDEX linkage_keys_record ON linkage_keys (pair_id, owner_id, pseudonym)",
            # The notices last sent to each node of a pair, to send only changes.
            """
            CREATE TABLE linkage_notices (
                pair_id INTEGER NOT NULL REFERENCES linkage_pairs (id) ON DELETE CASCADE,
                receiver_id INTEGER NOT NULL REFERENCES peers (id),
                match_id TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (pair_id, receiver_id, match_id)
            ) WITHOUT ROWID
            """,
        ),
    ),
)

# One evaluator by default (docs/privacy-design.md, "Choices and defaults").
ONE_EVALUATOR_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        13,
        "who evaluates a pair may come from the default rule: one node, by key order",
        (
            # 1 when the pair's "ours" or "theirs" came from the default ("auto": of the two
            # nodes, the one whose key id sorts first compares) rather than from the
            # coordinators; the evaluating node then tells the peer every suggestion at once.
            "ALTER TABLE peer_evaluation ADD COLUMN auto INTEGER NOT NULL DEFAULT 0 "
            "CHECK (auto IN (0, 1))",
        ),
    ),
)
