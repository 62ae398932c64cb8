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
)

LATEST_VERSION = MIGRATIONS[-1].version
