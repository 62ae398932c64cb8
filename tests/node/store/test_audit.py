"""The hash-chained audit log: appended by every change, refused any edit by the database, and
a row edited around the triggers found by `tafuta audit verify`."""

from __future__ import annotations

import sqlite3

import pytest

from node.store.audit import GENESIS, chain_hash, verify_chain
from node.store.db import Store


@pytest.fixture
def audited(node_home, run, sample_csv, tmp_path):
    """A node whose audit log holds an import and two user changes."""
    password = tmp_path / "pw.txt"
    password.write_text("a long enough password\n", encoding="utf-8")
    assert run("--home", node_home, "import", sample_csv).exit_code == 0
    assert run("--home", node_home, "users", "add", "amina", "--role", "caseworker",
               "--password-file", password).exit_code == 0  # fmt: skip
    assert run("--home", node_home, "users", "disable", "amina").exit_code == 0
    return node_home


def rows(home) -> list[dict]:
    with Store.open(home / "tafuta.db") as store:
        return list(store.iter_audit())


def test_changes_are_appended_with_a_valid_chain(audited):
    actions = [r["action"] for r in rows(audited)]
    assert actions == ["records-written", "user-added", "user-disabled"]
    assert rows(audited)[0]["prev_hash"] == GENESIS
    assert verify_chain(rows(audited)).ok


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET detail = 'nothing happened'", "DELETE FROM audit_log WHERE id = 2"],
)
def test_the_database_refuses_to_change_the_audit_log(audited, statement):
    db = sqlite3.connect(audited / "tafuta.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute(statement)
    db.close()
    assert verify_chain(rows(audited)).ok


@pytest.mark.parametrize(
    ("tamper", "broken", "problem"),
    [
        ("UPDATE audit_log SET detail = 'role admin' WHERE id = 2", 2, "contents"),
        ("DELETE FROM audit_log WHERE id = 2", 3, "missing"),
        ("UPDATE audit_log SET prev_hash = hash WHERE id = 3", 3, "previous-hash"),
        ("UPDATE audit_log SET actor = 'someone else' WHERE id = 1", 1, "contents"),
    ],
)
def test_a_tampered_row_is_named_by_audit_verify(audited, run, tamper, broken, problem):
    """Someone with the database file drops the triggers and edits history."""
    db = sqlite3.connect(audited / "tafuta.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute(tamper)
    db.commit()
    db.close()
    result = run("--home", audited, "audit", "verify")
    assert result.exit_code == 3
    assert f"broken at row {broken}" in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.output


def test_audit_verify_prints_the_head_hash(audited, run):
    result = run("--home", audited, "audit", "verify")
    assert result.exit_code == 0
    assert f"3 rows verify; head {rows(audited)[-1]['hash']}" in result.stdout


def test_chain_hash_covers_the_row_id():
    row = {"id": 1, "at": "t", "actor": "a", "action": "b", "subject": "c", "detail": "d"}
    assert chain_hash(GENESIS, row) != chain_hash(GENESIS, {**row, "id": 2})
