"""The SQLite store: durable settings and forward migrations from older schemas."""

from __future__ import annotations

import sqlite3

import pytest

from node.errors import StoreError
from node.migrations import LATEST_VERSION, MIGRATIONS
from node.store import Store


def test_store_opens_with_wal_full_sync_and_foreign_keys(tmp_path):
    with Store.open(tmp_path / "t.db") as store:
        pragma = store.conn.execute
        assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert pragma("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.schema_version == LATEST_VERSION


def test_database_at_an_older_schema_is_migrated_and_keeps_its_records(tmp_path):
    """A node created by an earlier release (schema 1) upgrades in place on first open."""
    path = tmp_path / "old.db"
    with Store.open(path, migrations=MIGRATIONS[:1]) as old:
        assert old.schema_version == 1
        assert "import_runs" not in old.db.table_names()
        old.conn.execute(
            "INSERT INTO records (ref, kind, given_names, imported_at, updated_at) "
            "VALUES ('OLD-1', 'missing', 'Amina', '2025-01-01', '2025-01-01')"
        )
    with Store.open(path) as store:
        assert store.schema_version == LATEST_VERSION
        assert "import_runs" in store.db.table_names()
        assert store.get_record("OLD-1")["given_names"] == "Amina"


def test_migrations_are_numbered_in_order_without_gaps():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_database_from_a_newer_tafuta_is_refused(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this Tafuta understands"):
        Store.open(path)


def test_failed_write_leaves_no_partial_rows(tmp_path):
    """A constraint failure half way through an import rolls the whole import back."""
    with Store.open(tmp_path / "t.db") as store:
        good = {"ref": "A-1", "kind": "missing"}
        bad = {"ref": "A-2", "kind": "neither"}  # violates the CHECK constraint
        counts = {"added": 2, "updated": 0, "unchanged": 0, "rejected": 0}
        with pytest.raises(StoreError, match="nothing was changed"):
            store.write_import([good, bad], [], "f.csv", "2025-01-01", counts)
        assert store.count_records() == 0
        assert store.conn.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0
