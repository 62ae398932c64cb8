"""The SQLite store: durable settings and forward migrations from older schemas."""

from __future__ import annotations

import sqlite3

import pytest

from node.errors import StoreError
from node.store.db import Store
from node.store.migrations import LATEST_VERSION, MIGRATIONS


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
        tables = {
            r["name"] for r in old.db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert "import_runs" not in tables
        old.conn.execute(
            "INSERT INTO records (ref, kind, given_names, imported_at, updated_at) "
            "VALUES ('OLD-1', 'missing', 'Amina', '2025-01-01', '2025-01-01')"
        )
    with Store.open(path) as store:
        assert store.schema_version == LATEST_VERSION
        tables = {r["name"] for r in store.db.query("SELECT name FROM sqlite_master")}
        assert "import_runs" in tables
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


def test_an_error_after_sqlite_rolled_back_by_itself_is_the_error_raised(tmp_path):
    """Regression (campaign, full disk): when COMMIT failed with 'database or disk is full',
    SQLite had already rolled back, so our ROLLBACK raised 'cannot rollback - no transaction is
    active' and hid the real error from the user (and made the inbox answer 500)."""
    with Store.open(tmp_path / "t.db") as store:
        with pytest.raises(ValueError, match="the real error"), store.transaction() as conn:
            conn.execute("ROLLBACK")  # as SQLite does by itself on some failures
            raise ValueError("the real error")
        with (
            pytest.raises(sqlite3.OperationalError, match="cannot commit"),
            store.transaction() as conn,
        ):
            conn.execute("ROLLBACK")
        assert not store.conn.in_transaction
        with store.transaction() as conn:  # and the store still works
            conn.execute("PRAGMA user_version")


def test_a_full_database_refuses_an_import_with_a_clear_message_and_no_rows(tmp_path):
    """A database that cannot grow (PRAGMA max_page_count, as a full disk) refuses the import
    whole, saying the disk is full."""
    with Store.open(tmp_path / "t.db") as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        added = [{"ref": f"R{i}", "kind": "found", "given_names": "x" * 200} for i in range(500)]
        counts = {"added": 500, "updated": 0, "unchanged": 0, "rejected": 0}
        with pytest.raises(StoreError, match="full"):
            store.write_import(added, [], "big.csv", "2026-01-01T00:00:00+00:00", counts)
        assert store.count_records() == 0
        assert store.conn.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0
