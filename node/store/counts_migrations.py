"""Migrations that keep counts by triggers, so that a hot path reads one row instead of
counting millions (see migrations.py for how migrations run)."""

from __future__ import annotations

from .migration import Migration

# Counts the inbox reads for every batch of a peer's keys, kept by triggers instead of counted
# again: at 100,000 records a side each count scanned millions of rows, once per batch, so the
# inbox's time per batch grew with everything received before it (docs/benchmarks.md,
# "100k a side after the fix").
COUNTS_KEPT: tuple[Migration, ...] = (
    Migration(
        14,
        "counts kept by triggers: our doubly blinded keys per key type and records, the keys "
        "in each peer's budget window, and changes to matches",
        (
            """
            CREATE TABLE own_key_shape (
                peer_id INTEGER NOT NULL,
                key_type TEXT NOT NULL,
                keys INTEGER NOT NULL,
                PRIMARY KEY (peer_id, key_type)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE own_key_records (
                peer_id INTEGER PRIMARY KEY,
                records INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE budget_key_counts (
                peer_id INTEGER PRIMARY KEY,
                keys INTEGER NOT NULL
            )
            """,
            "INSERT INTO own_key_shape SELECT peer_id, key_type, count(*) FROM own_blinded "
            "GROUP BY peer_id, key_type",
            "INSERT INTO own_key_records SELECT peer_id, count(DISTINCT pseudonym) "
            "FROM own_blinded GROUP BY peer_id",
            "INSERT INTO budget_key_counts SELECT peer_id, count(*) FROM budget_keys "
            "GROUP BY peer_id",
            # A record counts once, with its first key in and until its last key is out.
            """
            CREATE TRIGGER own_blinded_insert_counted AFTER INSERT ON own_blinded
            BEGIN
                INSERT INTO own_key_shape VALUES (NEW.peer_id, NEW.key_type, 1)
                    ON CONFLICT (peer_id, key_type) DO UPDATE SET keys = keys + 1;
                INSERT INTO own_key_records SELECT NEW.peer_id, 1 WHERE NOT EXISTS (
                    SELECT 1 FROM own_blinded WHERE peer_id = NEW.peer_id
                    AND pseudonym = NEW.pseudonym AND rowid != NEW.rowid
                ) ON CONFLICT (peer_id) DO UPDATE SET records = records + 1;
            END
            """,
            """
            CREATE TRIGGER own_blinded_delete_counted AFTER DELETE ON own_blinded
            BEGIN
                UPDATE own_key_shape SET keys = keys - 1
                    WHERE peer_id = OLD.peer_id AND key_type = OLD.key_type;
                UPDATE own_key_records SET records = records - 1
                    WHERE peer_id = OLD.peer_id AND NOT EXISTS (
                        SELECT 1 FROM own_blinded WHERE peer_id = OLD.peer_id
                        AND pseudonym = OLD.pseudonym
                    );
            END
            """,
            # Rows are inserted and deleted, never changed: a change would escape the counts.
            """
            CREATE TRIGGER own_blinded_never_updated BEFORE UPDATE ON own_blinded
            BEGIN
                SELECT RAISE(ABORT, 'own_blinded rows are replaced, not updated');
            END
            """,
            """
            CREATE TRIGGER budget_keys_insert_counted AFTER INSERT ON budget_keys
            BEGIN
                INSERT INTO budget_key_counts VALUES (NEW.peer_id, 1)
                    ON CONFLICT (peer_id) DO UPDATE SET keys = keys + 1;
            END
            """,
            """
            CREATE TRIGGER budget_keys_delete_counted AFTER DELETE ON budget_keys
            BEGIN
                UPDATE budget_key_counts SET keys = keys - 1 WHERE peer_id = OLD.peer_id;
            END
            """,
            # Changes to matches counted like those to records and pseudonyms (migration 12):
            # a sync round computes the statistics it publishes only when one of them moved.
            "INSERT INTO table_changes VALUES ('matches', 0)",
            *(
                f"""
                CREATE TRIGGER matches_{event.lower()}_counted AFTER {event} ON matches
                BEGIN
                    UPDATE table_changes SET changes = changes + 1 WHERE name = 'matches';
                END
                """
                for event in ("INSERT", "UPDATE", "DELETE")
            ),
        ),
    ),
)
