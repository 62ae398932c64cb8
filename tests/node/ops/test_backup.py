"""`tafuta backup` and `tafuta restore`: a whole home in one encrypted file, back again only when
it decrypts and checks out, and never over a running node."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from node.errors import BackupError
from node.home import open_home
from node.ops.backup import restore_backup, verify_restored_home, write_backup
from node.ops.lock import home_lock
from node.store.db import Store
from node.testing.processes import HOME_PASSPHRASE as PASSPHRASE


def records_of(home) -> list[tuple]:
    db = sqlite3.connect(home / "tafuta.db")
    try:
        return db.execute("SELECT ref, given_names, version FROM records ORDER BY ref").fetchall()
    finally:
        db.close()


@pytest.fixture
def filled_home(node_home, run, sample_csv):
    """A home with the sample register and an admin word list."""
    assert run("--home", node_home, "import", sample_csv).exit_code == 0
    (node_home / "name_variants.txt").write_text("mwanaisha isha\n", encoding="utf-8")
    return node_home


@pytest.fixture
def backup_file(filled_home, run, tmp_path):
    path = tmp_path / "node.tafuta-backup"
    result = run("--home", filled_home, "backup", path)
    assert result.exit_code == 0, result.output
    return path


def test_backup_and_restore_round_trip_the_whole_home(filled_home, backup_file, run, tmp_path):
    restored = tmp_path / "restored"
    result = run("--home", filled_home, "restore", backup_file, "--into", restored)
    assert result.exit_code == 0, result.output
    assert "integrity check ok" in result.output
    assert records_of(restored) == records_of(filled_home)
    for name in ("config.toml", "keys/identity.json", "name_variants.txt"):
        assert (restored / name).read_bytes() == (filled_home / name).read_bytes()
    assert (restored / "keys" / "identity.json").stat().st_mode & 0o077 == 0
    assert run("--home", restored, "records", "count").output.strip() == str(
        len(records_of(filled_home))
    )


def test_backup_file_is_encrypted(filled_home, backup_file):
    data = backup_file.read_bytes()
    assert data.startswith(b"TAFUTA-BACKUP\x00")
    assert b"Mwanaisha" not in data and b"Kwale" not in data
    assert backup_file.stat().st_mode & 0o077 == 0


def test_restore_replaces_a_changed_home_and_leaves_nothing_aside(
    filled_home, backup_file, run, write_csv
):
    before = records_of(filled_home)
    extra = write_csv([{"ref": "NEW-1", "kind": "found", "given_names": "Neema"}], "extra.csv")
    assert run("--home", filled_home, "import", extra).exit_code == 0
    assert records_of(filled_home) != before
    result = run("--home", filled_home, "restore", backup_file)
    assert result.exit_code == 0, result.output
    assert "replaced the home" in result.output
    assert records_of(filled_home) == before
    leftovers = [p.name for p in filled_home.parent.iterdir() if p.name.startswith(".node")]
    assert leftovers == []


def _tree(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("wrong passphrase", "the passphrase does not open"),
        ("flipped byte in the header", "does not open|is damaged"),
        ("flipped byte in the ciphertext", "the passphrase does not open"),
        ("flipped last byte", "the passphrase does not open"),
        ("truncated by one byte", "is truncated"),
        ("truncated to the header", "is truncated"),
        ("one byte appended", "bytes too many"),
        ("not a backup", "is not a Tafuta backup"),
        ("newer format", "upgrade Tafuta"),
    ],
)
def test_a_bad_backup_is_refused_clearly_and_changes_nothing(
    filled_home, backup_file, run, tmp_path, damage, message
):
    data = bytearray(backup_file.read_bytes())
    env = None
    header_end = 18 + int.from_bytes(data[14:18], "big")  # magic, length, header
    if damage == "wrong passphrase":
        wrong = tmp_path / "wrong.txt"
        wrong.write_text("another passphrase entirely\n", encoding="utf-8")
        env = {"TAFUTA_PASSPHRASE_FILE": str(wrong)}
    elif damage == "flipped byte in the header":
        data[header_end - 30] ^= 0x01
    elif damage == "flipped byte in the ciphertext":
        data[header_end + 40] ^= 0x01
    elif damage == "flipped last byte":
        data[-1] ^= 0x80
    elif damage == "truncated by one byte":
        data = data[:-1]
    elif damage == "truncated to the header":
        data = data[:header_end]
    elif damage == "one byte appended":
        data += b"\x00"
    elif damage == "not a backup":
        data = bytearray(b"PK\x03\x04 a zip file, say")
    elif damage == "newer format":
        data = data.replace(b'"version":1', b'"version":9', 1)
    backup_file.write_bytes(bytes(data))
    before = _tree(filled_home)
    result = run("--home", filled_home, "restore", backup_file, env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert _tree(filled_home) == before
    assert [p.name for p in tmp_path.iterdir() if "restoring" in p.name] == []


def test_backup_refuses_to_overwrite_an_existing_file(filled_home, run, tmp_path):
    target = tmp_path / "exists.bin"
    target.write_bytes(b"precious")
    result = run("--home", filled_home, "backup", target)
    assert result.exit_code == 2
    assert "already exists; refusing to overwrite it" in result.stderr
    assert target.read_bytes() == b"precious"


def test_backup_with_a_wrong_passphrase_writes_nothing(filled_home, run, tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("another passphrase entirely\n", encoding="utf-8")
    target = tmp_path / "b.bin"
    env = {"TAFUTA_PASSPHRASE_FILE": str(wrong)}
    result = run("--home", filled_home, "backup", target, env=env)
    assert result.exit_code == 2
    assert "the passphrase does not open" in result.stderr
    assert not target.exists()


def test_backup_refuses_a_file_inside_the_home(filled_home, run):
    result = run("--home", filled_home, "backup", filled_home / "b.bin")
    assert result.exit_code == 2
    assert "outside the node home" in result.stderr


def test_restore_refuses_a_folder_that_is_not_a_home(backup_file, run, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"jpeg")
    result = run("restore", backup_file, "--into", other)
    assert result.exit_code == 2
    assert "is not a Tafuta home and is not empty" in result.stderr
    assert [p.name for p in other.iterdir()] == ["holiday.jpg"]


def test_restore_into_an_empty_folder_works(backup_file, run, tmp_path, filled_home):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("restore", backup_file, "--into", empty)
    assert result.exit_code == 0, result.output
    assert records_of(empty) == records_of(filled_home)


def test_restore_refuses_while_a_node_holds_the_home(filled_home, backup_file, run):
    before = _tree(filled_home)
    with home_lock(filled_home, "test"):
        result = run("--home", filled_home, "restore", backup_file)
    assert result.exit_code == 1
    assert "a Tafuta node is running on" in result.stderr
    assert {k: v for k, v in _tree(filled_home).items() if k != "serve.lock"} == {
        k: v for k, v in before.items() if k != "serve.lock"
    }


def test_a_database_from_a_newer_tafuta_is_not_restored(filled_home, tmp_path):
    db = sqlite3.connect(filled_home / "tafuta.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    path = tmp_path / "newer.bin"
    write_backup(open_home(filled_home), path, PASSPHRASE)
    with pytest.raises(BackupError, match="newer than this Tafuta understands"):
        restore_backup(path, tmp_path / "target", PASSPHRASE)
    assert not (tmp_path / "target").exists()


def test_a_backup_whose_audit_log_was_edited_is_not_restored(filled_home, tmp_path):
    """The audit chain is checked before a restore replaces anything."""
    db = sqlite3.connect(filled_home / "tafuta.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET detail = 'nothing to see' WHERE id = 1")
    db.commit()
    db.close()
    path = tmp_path / "edited.bin"
    write_backup(open_home(filled_home), path, PASSPHRASE)
    with pytest.raises(BackupError, match="audit log is broken at row 1"):
        restore_backup(path, tmp_path / "target", PASSPHRASE)
    assert not (tmp_path / "target").exists()


def test_verify_restored_home_refuses_a_corrupt_database(filled_home, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.toml").write_bytes((filled_home / "config.toml").read_bytes())
    source, target = sqlite3.connect(filled_home / "tafuta.db"), sqlite3.connect(copy / "t.db")
    source.backup(target)
    target.execute("PRAGMA journal_mode=DELETE")
    page_size = target.execute("PRAGMA page_size").fetchone()[0]
    source.close(), target.close()
    data = bytearray((copy / "t.db").read_bytes())
    data[page_size : page_size + 64] = b"\xff" * 64  # scribble over the second page's header
    (copy / "tafuta.db").write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"integrity check|cannot be read|broken"):
        verify_restored_home(copy)


def test_a_backup_taken_during_concurrent_writes_restores_consistent(filled_home, tmp_path):
    """Imports of 50 records each keep committing while three backups are taken; every backup
    restores, passes the checks, and holds whole imports only (all-or-nothing)."""
    home = open_home(filled_home)
    base = len(records_of(filled_home))
    stop = threading.Event()
    batches = []

    def writer():
        with Store.open(home.database_path) as store:
            n = 0
            while not stop.is_set() and n < 400:
                added = [
                    {"ref": f"W{n}-{i}", "kind": "found", "given_names": "Baraka"}
                    for i in range(50)
                ]
                counts = {"added": 50, "updated": 0, "unchanged": 0, "rejected": 0}
                now = datetime.now(UTC).isoformat()
                store.write_import(added, [], f"w{n}.csv", now, counts)
                batches.append(n)
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        paths = []
        for i in range(3):
            while len(batches) < (i + 1) * 3:  # let some imports land between backups
                threading.Event().wait(0.01)
            paths.append(tmp_path / f"during-{i}.bin")
            write_backup(home, paths[-1], PASSPHRASE)
    finally:
        stop.set()
        thread.join()
    seen = []
    for i, path in enumerate(paths):
        report = restore_backup(path, tmp_path / f"restored-{i}", PASSPHRASE)
        extra = report.records - base
        assert extra % 50 == 0 and extra > 0
        db = sqlite3.connect(tmp_path / f"restored-{i}" / "tafuta.db")
        runs = db.execute("SELECT count(*) FROM import_runs WHERE source_file LIKE 'w%'").fetchone()
        db.close()
        assert runs[0] * 50 == extra
        seen.append(extra)
    assert seen == sorted(seen)


@pytest.mark.slow
def test_restore_refuses_while_tafuta_serve_runs_and_works_after_it_stops(network, tmp_path):
    node = network("Kwale Rescue", [{"ref": "K-1", "kind": "missing", "given_names": "Amani"}])
    node.start()
    path = tmp_path / "live.bin"
    node.tafuta("backup", path)  # online: the node keeps serving
    refused = node.tafuta("restore", path, check=False)
    assert refused.returncode == 1
    assert "a Tafuta node is running on" in refused.stderr
    second = node.tafuta("serve", "--port", "1", check=False)
    assert second.returncode == 1 and "a Tafuta node is running on" in second.stderr
    node.stop()
    assert "replaced the home" in node.tafuta("restore", path).stdout
    node.start()
    assert node.tafuta("records", "count").stdout.strip() == "1"
