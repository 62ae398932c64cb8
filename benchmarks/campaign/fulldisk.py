"""A full disk during import and during sync: a clear error, no partial rows, recovery.

The node home lives on a small tmpfs (``mount -t tmpfs -o size=…``, needs root), filled to the
last byte with a filler file. Import: `tafuta import` of a register larger than what is left
must fail with one ``error:`` line, leave every table as it was and the database intact, and
succeed once the filler is deleted. Sync: the receiving node B is full while its peer A sends
blinded keys; B must answer 503 (not a 500), log one line per refusal (no traceback), store
nothing, and the pair must converge once space returns.

Without root (no tmpfs), the import part runs in-process with SQLite's ``PRAGMA
max_page_count`` as the limit instead (documented in docs/reliability.md), and the sync part
is reported as not run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from node.errors import StoreError
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.store.db import Store

from .common import (
    crashes_in_log,
    integrity,
    new_network,
    pair,
    raise_limits,
    table_counts,
    wait_until,
    write_register,
)
from .killcycles import _add_records, _column, _converge, _people


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` at ``path``; yields False (and mounts nothing) if not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write a filler file until the file system is full; returns it (delete it to recover)."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            while True:
                try:
                    if os.write(fd, block) < size:
                        break
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


def _clean_truncate(filler: Path) -> None:
    filler.unlink(missing_ok=True)


def import_full(root: Path, rows: int = 5000) -> dict:
    disk = root / "disk"
    with small_disk(disk, "4m") as mounted:
        if not mounted:
            return _import_full_fallback(root, rows)
        make = new_network(disk)
        node = make("Full Node", _people("BASE", 100))
        database = node.home / "tafuta.db"
        register = write_register(root / "big.csv", _people("BIG", rows))
        before = table_counts(database)
        filler = fill(disk)
        result = node.tafuta("import", register, check=False)
        _clean_truncate(filler)  # counted once there is room again to open the database
        after = table_counts(database)
        lines = result.stderr.strip().splitlines()
        outcome = {
            "method": "tmpfs of 4 MiB, filled with a filler file",
            "exit_code": result.returncode,
            "error": lines[-1] if lines else "",
            # stderr also holds the progress bar; the error is one line, the last
            "one_error_line": bool(lines)
            and lines[-1].startswith("error: ")
            and sum(line.startswith("error: ") for line in lines) == 1,
            "traceback": "Traceback" in result.stderr,
            "rows_changed": {t: (before[t], after[t]) for t in before if before[t] != after[t]},
            "integrity_after_the_failure": integrity(database),
        }
        again = node.tafuta("import", register, check=False)
        outcome["recovered_exit_code"] = again.returncode
        outcome["records_after_recovery"] = table_counts(database)["records"]
        outcome["expected_after_recovery"] = before["records"] + rows
        outcome["integrity_after_recovery"] = integrity(database)
        make.close()
    return outcome


def _import_full_fallback(root: Path, rows: int) -> dict:
    """In-process import with the database capped by PRAGMA max_page_count."""
    make = new_network(root / "fallback")
    node = make("Full Node", _people("BASE", 100))
    register = write_register(root / "big.csv", _people("BIG", rows))
    home = open_home(node.home)
    with Store.open(home.database_path) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        before = table_counts(home.database_path)
        error = ""
        try:
            apply_import(plan_import(register, store), store)
        except StoreError as err:
            error = str(err)
        after = table_counts(home.database_path)
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        apply_import(plan_import(register, store), store)
    outcome = {
        "method": "fallback: PRAGMA max_page_count (no permission to mount a tmpfs)",
        "error": error,
        "one_error_line": bool(error),
        "traceback": False,
        "rows_changed": {t: (before[t], after[t]) for t in before if before[t] != after[t]},
        "integrity_after_the_failure": integrity(home.database_path),
        "recovered_exit_code": 0,
        "records_after_recovery": table_counts(home.database_path)["records"],
        "expected_after_recovery": before["records"] + rows,
        "integrity_after_recovery": integrity(home.database_path),
    }
    make.close()
    return outcome


def sync_full(root: Path, records: int = 3000, size_mib: int = 32) -> dict:
    """B's home on a small tmpfs (big enough to hold A's records once the filler is gone:
    with the audit log, B's database outgrew the first 3 MiB and stayed full after recovery;
    with key set 3's ~57 keys a record and the key-budget digests, 8 MiB did too)."""
    disk = root / "disk"
    with small_disk(disk, f"{size_mib}m") as mounted:
        if not mounted:
            return {"method": "not run: no permission to mount a tmpfs"}
        make = new_network(root)
        a = make("Kwale Rescue", _people("A", records))
        make.root = disk  # B's home on the small disk
        b = make("Mombasa Shelter", _people("B", 20))
        b.log = root / "mombasa-shelter.log"  # the log stays off the full disk
        pair(a, b)
        for node in (a, b):
            raise_limits(node)
        b.start(sync_interval=0.5)
        filler = fill(disk)
        database = b.home / "tafuta.db"
        before = table_counts(database)
        a.start(sync_interval=0.5)
        refused = _wait_for_refusals(a, b, count=2)
        after = table_counts(database)
        log = b.log.read_text(encoding="utf-8", errors="replace")
        outcome = {
            "method": f"B's home on a {size_mib} MiB tmpfs, filled with a filler file",
            "a_last_error_while_full": refused,
            "b_answered_503": "HTTP 503" in (refused or ""),
            "b_log_lines_cannot_store": log.count("cannot store a message"),
            "b_unhandled_exceptions_in_log": crashes_in_log(b.log),
            "rows_changed_at_b_while_full": {
                t: (before[t], after[t]) for t in before if before[t] != after[t]
            },
            "integrity_while_full": integrity(database),
        }
        started = time.monotonic()
        _clean_truncate(filler)
        _add_records(b, "AFTER", 1)  # B speaks to A again, which ends A's backoff at once
        outcome["converged_after_space_returned"] = _converge(a, b, timeout=240)
        outcome["seconds_to_converge"] = round(time.monotonic() - started, 1)
        # peer_records: a node that does not evaluate a pair keeps the pseudonyms, not the keys
        outcome["records_of_a_held_by_b"] = len(
            _column(b, "SELECT DISTINCT pseudonym FROM peer_records")
        )
        outcome["records_of_a"] = records
        outcome["integrity_after_recovery"] = integrity(database)
        usage = shutil.disk_usage(disk)
        outcome["disk_used_at_end_kib"] = (usage.total - usage.free) // 1024
        outcome["b_unhandled_exceptions_in_log"] = crashes_in_log(b.log)
        make.close()
    return outcome


def _wait_for_refusals(a, b, count: int) -> str | None:
    """A's outbox shows the delivery to B failed ``count`` times; returns A's last error."""

    def refused():
        rows = _column(a, "SELECT attempts, last_error FROM outbox ORDER BY attempts DESC LIMIT 1")
        return rows[0][1] if rows and rows[0][0] >= count else None

    try:
        return wait_until(refused, timeout=120, interval=0.5)
    except AssertionError:
        return None


def passed(imports: dict, syncs: dict) -> bool:
    ok = (
        imports["one_error_line"]
        and not imports["traceback"]
        and not imports["rows_changed"]
        and imports["integrity_after_the_failure"] == "ok"
        and imports["recovered_exit_code"] == 0
        and imports["records_after_recovery"] == imports["expected_after_recovery"]
        and imports["integrity_after_recovery"] == "ok"
    )
    if "a_last_error_while_full" in syncs:
        ok = ok and (
            syncs["b_answered_503"]
            and syncs["b_unhandled_exceptions_in_log"] == 0
            and not syncs["rows_changed_at_b_while_full"]
            and syncs["converged_after_space_returned"]
            and syncs["records_of_a_held_by_b"] == syncs["records_of_a"]
            and syncs["integrity_after_recovery"] == "ok"
        )
    return bool(ok)
