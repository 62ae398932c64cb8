"""Forward-only schema migrations, applied in order when a store opens.

Each migration is a list of SQL statements run in one transaction together with the bump of
``PRAGMA user_version``, so a node killed mid-upgrade is left at the old version, never between.
Add new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
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
)

LATEST_VERSION = MIGRATIONS[-1].version
