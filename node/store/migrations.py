"""Forward-only schema migrations, applied in order when a store opens.

Each migration is a list of SQL statements run in one transaction together with the bump of
``PRAGMA user_version``, so a node killed mid-upgrade is left at the old version, never between.
Add new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from .counts_migrations import COUNTS_KEPT
from .migration import Migration
from .privacy_migrations import ONE_EVALUATOR_MIGRATIONS, PRIVACY_MIGRATIONS

_CORE: tuple[Migration, ...] = (
    Migration(
        1,
        "person records with provenance",
        (
            """
            CREATE TABLE records (
                ref TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('missing', 'found')),
                given_names TEXT,
                family_name TEXT,
                other_names TEXT,
                sex TEXT CHECK (sex IN ('F', 'M', 'X')),
                sex_raw TEXT,
                birth_date TEXT,
                age TEXT,
                age_on TEXT,
                origin_place TEXT,
                origin_district TEXT,
                origin_country TEXT,
                mother_name TEXT,
                father_name TEXT,
                last_seen_date TEXT,
                last_seen_place TEXT,
                phone TEXT,
                languages TEXT,
                notes TEXT,
                source_file TEXT,
                imported_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                version INTEGER NOT NULL DEFAULT 1,
                retracted INTEGER NOT NULL DEFAULT 0 CHECK (retracted IN (0, 1))
            )
            """,
            "CREATE INDEX records_kind ON records (kind)",
        ),
    ),
    Migration(
        2,
        "a log of imports, so an admin can see what came from which file",
        (
            """
            CREATE TABLE import_runs (
                id INTEGER PRIMARY KEY,
                source_file TEXT NOT NULL,
                imported_at TEXT NOT NULL,
                added INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                unchanged INTEGER NOT NULL,
                rejected INTEGER NOT NULL
            )
            """,
        ),
    ),
    Migration(
        3,
        "the trust store: peers, their keys, and who changed their state, when and why",
        (
            # One row per peer node; the document is the signed node document as received.
            # A revoked peer keeps its row (and its keys) forever, so its keys are never
            # accepted again; only one live (not revoked) peer may hold a name.
            """
            CREATE TABLE peers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                url TEXT NOT NULL,
                key_id TEXT NOT NULL,
                document TEXT NOT NULL,
                version INTEGER NOT NULL,
                valid_until INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'trusted', 'revoked')),
                state_since TEXT NOT NULL,
                added_at TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX peers_live_name ON peers (name) WHERE state != 'revoked'",
            "CREATE UNIQUE INDEX peers_key_id ON peers (key_id)",
            # Every signing key a peer has had: the current one (retired_at NULL) and retired
            # ones, kept for a grace period (Unix seconds) to verify in-flight messages.
            """
            CREATE TABLE peer_keys (
                key_id TEXT PRIMARY KEY,
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                signing_key TEXT NOT NULL,
                added_at TEXT NOT NULL,
                retired_at INTEGER
            )
            """,
            "CREATE INDEX peer_keys_peer ON peer_keys (peer_id)",
            # Append-only: every add, trust, revoke and update, with who, when and why.
            """
            CREATE TABLE peer_history (
                id INTEGER PRIMARY KEY,
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('added', 'trusted', 'revoked', 'updated')),
                from_state TEXT,
                to_state TEXT NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                version INTEGER NOT NULL,
                key_id TEXT NOT NULL
            )
            """,
            "CREATE INDEX peer_history_peer ON peer_history (peer_id)",
        ),
    ),
    Migration(
        4,
        "federation: per-peer secrets and pseudonyms, blinded keys, outbox, matches",
        (
            # A secret X25519 scalar per peer: blinding is pairwise, so one peer's secret says
            # nothing about what any other peer holds.
            """
            CREATE TABLE blinding_secrets (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                scalar BLOB NOT NULL,
                created_at INTEGER NOT NULL
            )
            """,
            # Our records as one peer knows them: a random pseudonym per (peer, record) and a
            # digest of the match keys last sent, so only new, changed or retracted records are
            # sent again.
            """
            CREATE TABLE pseudonyms (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                ref TEXT NOT NULL,
                pseudonym TEXT NOT NULL,
                keys_digest TEXT,
                sent_at INTEGER NOT NULL,
                PRIMARY KEY (peer_id, ref),
                UNIQUE (peer_id, pseudonym)
            )
            """,
            # Our keys blinded by us and then by the peer (from its blinded-reply) ...
            """
            CREATE TABLE own_blinded (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                pseudonym TEXT NOT NULL,
                key_type TEXT NOT NULL,
                token BLOB NOT NULL
            )
            """,
            "CREATE INDEX own_blinded_pseudonym ON own_blinded (peer_id, pseudonym)",
            # ... and the peer's keys blinded by the peer and then by us.
            """
            CREATE TABLE peer_blinded (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                pseudonym TEXT NOT NULL,
                key_type TEXT NOT NULL,
                token BLOB NOT NULL
            )
            """,
            "CREATE INDEX peer_blinded_pseudonym ON peer_blinded (peer_id, pseudonym)",
            # Messages waiting for the peer's acknowledgement; deleted only once it arrived.
            """
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY,
                message_id TEXT NOT NULL UNIQUE,
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                type TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL,
                last_error TEXT
            )
            """,
            "CREATE INDEX outbox_peer ON outbox (peer_id, seq)",
            # Every message processed, kept long after the clock window: a replay is refused, and
            # a message re-sent because its acknowledgement was lost has no second effect.
            # ack_due: processed from a bundle; its acknowledgement still has to be carried back.
            """
            CREATE TABLE processed (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                message_id TEXT NOT NULL,
                type TEXT NOT NULL,
                processed_at INTEGER NOT NULL,
                ack_due INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (peer_id, message_id)
            )
            """,
            # Per peer: what it announced, whether candidates need scoring again, last contact.
            """
            CREATE TABLE peer_sync (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                announced_records INTEGER NOT NULL DEFAULT 0,
                needs_scoring INTEGER NOT NULL DEFAULT 0,
                last_contact_at INTEGER,
                last_sync_at INTEGER
            )
            """,
            # Keys blinded for each peer per day, against the cap.
            """
            CREATE TABLE blinding_usage (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                day TEXT NOT NULL,
                keys INTEGER NOT NULL,
                PRIMARY KEY (peer_id, day)
            )
            """,
            # Things a coordinator should see: refusals over the cap, and the like.
            """
            CREATE TABLE peer_events (
                id INTEGER PRIMARY KEY,
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                detail TEXT NOT NULL
            )
            """,
            # Suggested matches: one row per candidate pair at or above the threshold. match_id is
            # derived from both pseudonyms, so it is the same on both nodes.
            """
            CREATE TABLE matches (
                match_id TEXT PRIMARY KEY,
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                local_ref TEXT NOT NULL,
                local_pseudonym TEXT NOT NULL,
                peer_pseudonym TEXT NOT NULL,
                score REAL NOT NULL,
                evidence TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'suggested',
                peer_decision TEXT,
                peer_contact TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            )
            """,
            "CREATE INDEX matches_peer ON matches (peer_id, status)",
        ),
    ),
    Migration(
        5,
        "caseworker review: users, sessions, login failures, decisions, the audit log",
        (
            # People who use the web UI. The contact fields are what a peer's caseworker receives
            # once both sides confirmed a match; nothing else about a user ever leaves the node.
            """
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                role TEXT NOT NULL CHECK (role IN ('caseworker', 'coordinator', 'admin')),
                password_hash TEXT NOT NULL,
                full_name TEXT NOT NULL DEFAULT '',
                organisation TEXT NOT NULL DEFAULT '',
                phone TEXT NOT NULL DEFAULT '',
                email TEXT NOT NULL DEFAULT '',
                language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sw')),
                disabled INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            )
            """,
            # Server-side sessions: only a hash of the session id is stored, so a copy of the
            # database does not let anyone log in as a caseworker.
            """
            CREATE TABLE sessions (
                id_hash TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users (id),
                csrf_token TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE login_failures (
                id INTEGER PRIMARY KEY,
                user_name TEXT NOT NULL,
                address TEXT NOT NULL,
                at INTEGER NOT NULL
            )
            """,
            "CREATE INDEX login_failures_at ON login_failures (at)",
            # Every decision on a match, ours and the peer's, in order; an undo marks a decision
            # undone instead of deleting it, so the history stays whole.
            """
            CREATE TABLE decisions (
                id INTEGER PRIMARY KEY,
                match_id TEXT NOT NULL REFERENCES matches (match_id),
                side TEXT NOT NULL CHECK (side IN ('local', 'peer')),
                decision TEXT NOT NULL
                    CHECK (decision IN ('confirm', 'reject', 'unsure', 'undo', 'close')),
                outcome TEXT,
                note TEXT NOT NULL DEFAULT '',
                user_id INTEGER REFERENCES users (id),
                at INTEGER NOT NULL,
                undone_at INTEGER
            )
            """,
            "CREATE INDEX decisions_match ON decisions (match_id, id)",
            "ALTER TABLE matches ADD COLUMN outcome TEXT",
            "ALTER TABLE matches ADD COLUMN handover_sent INTEGER NOT NULL DEFAULT 0",
            # The review queue pages through matches best first, with or without a status filter.
            "CREATE INDEX matches_status_score ON matches (status, score DESC, match_id)",
            "CREATE INDEX matches_score ON matches (score DESC, match_id)",
            "CREATE INDEX matches_local_ref ON matches (local_ref)",
            # Covers the queue's filter by kind without reading whole record rows.
            "CREATE INDEX records_ref_kind ON records (ref, kind)",
            # The append-only, hash-chained audit log: each row carries the hash of the one
            # before, and triggers refuse any change, so an edit made around the triggers
            # breaks the chain where 'tafuta audit verify' finds it.
            """
            CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT NOT NULL,
                detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )
            """,
            """
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """,
            """
            CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """,
        ),
    ),
    Migration(
        6,
        "the network directory of organisations, and published statistics tables",
        (
            # One signed directory entry per origin (its signing key id), exactly as signed, with
            # the origin's node document that binds the key. via_peer_id: the peer it came from;
            # NULL for this node's own entry.
            """
            CREATE TABLE directory_entries (
                origin TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                entry TEXT NOT NULL,
                document TEXT NOT NULL,
                version INTEGER NOT NULL,
                signed_at INTEGER NOT NULL,
                via_peer_id INTEGER REFERENCES peers (id),
                received_at INTEGER NOT NULL
            )
            """,
            # Which version of each entry a peer already has (sent to it, or received from it),
            # so every version crosses every link at most once: gossip that ends.
            """
            CREATE TABLE directory_sent (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                origin TEXT NOT NULL,
                version INTEGER NOT NULL,
                PRIMARY KEY (peer_id, origin)
            )
            """,
            # The latest suppressed tables each peer published to us.
            """
            CREATE TABLE peer_stats (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                published TEXT NOT NULL,
                computed_at INTEGER NOT NULL,
                received_at INTEGER NOT NULL
            )
            """,
            # A digest of the tables last queued for each peer: send again only when they change.
            """
            CREATE TABLE stats_sent (
                peer_id INTEGER PRIMARY KEY REFERENCES peers (id),
                digest TEXT NOT NULL,
                sent_at INTEGER NOT NULL
            )
            """,
        ),
    ),
    Migration(
        7,
        "federation consistency: what we wait for from each peer",
        (
            # Requests whose answer has not arrived yet (the reply to our blinded keys, the list
            # of our pseudonyms a peer holds), by the batch id the answer echoes. Empty for every
            # peer, with empty outboxes and nothing to score, is what "settled" means.
            """
            CREATE TABLE awaiting (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                batch TEXT NOT NULL,
                kind TEXT NOT NULL,
                sent_at INTEGER NOT NULL,
                PRIMARY KEY (peer_id, batch)
            )
            """,
            # Which of a peer's records we hold, by pseudonym, whatever their keys: what we
            # answer when the peer asks what we hold of it, and 'records_held' in 'peers list'.
            """
            CREATE TABLE peer_records (
                peer_id INTEGER NOT NULL REFERENCES peers (id),
                pseudonym TEXT NOT NULL,
                PRIMARY KEY (peer_id, pseudonym)
            )
            """,
            "INSERT INTO peer_records SELECT DISTINCT peer_id, pseudonym FROM peer_blinded",
        ),
    ),
    Migration(
        8,
        "dates and ages as the register wrote them (15/03/2006, March 2005, ~16), beside the "
        "normalised values",
        # A JSON object {field: value as written} for the normalised fields whose stored value
        # differs from what the register wrote; NULL when none does.
        ("ALTER TABLE records ADD COLUMN raw_values TEXT",),
    ),
    Migration(
        9,
        "consent per record (matching with peers, handing over the contact) and retention",
        (
            # As the register said; NULL when it did not and the node's default was yes.
            "ALTER TABLE records ADD COLUMN consent_match TEXT "
            "CHECK (consent_match IN ('yes', 'no'))",
            "ALTER TABLE records ADD COLUMN consent_contact TEXT "
            "CHECK (consent_contact IN ('yes', 'no'))",
            # YYYY-MM-DD after which the record is retracted and later purged; NULL: the node's
            # retention period applies.
            "ALTER TABLE records ADD COLUMN retain_until TEXT",
            # The day retention expired the record (it is retracted then, purged after the
            # grace period); NULL while it is kept.
            "ALTER TABLE records ADD COLUMN expired_at TEXT",
        ),
    ),
)

# Kept by the federation to skip work a sync round or a new process would otherwise repeat.
_FEDERATION_SPEED: tuple[Migration, ...] = (
    Migration(
        12,
        "the digest of each record's match keys, kept across processes; counts of changes to "
        "records and pseudonyms",
        (
            # Under the hash of the record's content (with the lexicon, key set and keying code:
            # node/federation/keycache.py), the digest of the keys it gives, so a process that
            # finds the same hash need not compute the keys again. Deleted with the record.
            """
            CREATE TABLE record_keys (
                ref TEXT PRIMARY KEY REFERENCES records (ref) ON DELETE CASCADE,
                content_hash TEXT NOT NULL,
                keys_digest TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            # How many rows of each table were inserted, updated or deleted, ever: a sync round
            # that finds both counts as they were when it last found nothing to send to a peer
            # reads no records (node/federation/keycache.py). Kept by triggers, so no write,
            # through the store or not, is missed.
            """
            CREATE TABLE table_changes (
                name TEXT PRIMARY KEY,
                changes INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "INSERT INTO table_changes VALUES ('records', 0), ('pseudonyms', 0)",
            *(
                f"""
                CREATE TRIGGER {table}_{event.lower()}_counted AFTER {event} ON {table}
                BEGIN
                    UPDATE table_changes SET changes = changes + 1 WHERE name = '{table}';
                END
                """
                for table in ("records", "pseudonyms")
                for event in ("INSERT", "UPDATE", "DELETE")
            ),
        ),
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    _CORE + PRIVACY_MIGRATIONS + _FEDERATION_SPEED + ONE_EVALUATOR_MIGRATIONS + COUNTS_KEPT
)
LATEST_VERSION = MIGRATIONS[-1].version
