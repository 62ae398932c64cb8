"""Backups taken while a serving node keeps writing restore and verify.

A node serves (its sync loop running) while a writer commits imports of 50 records each as fast
as it can. Meanwhile `tafuta backup` (the CLI, a separate process) is run several times. Each
backup is restored with `tafuta restore --into` a new folder, which runs the integrity,
schema and audit-chain checks; then the restored database must hold whole imports only (records =
50 × import runs of the writer), its audit chain must verify (checked again here, and its rows
reported), and the restored node must open with its keys (`tafuta status`).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from .common import TAFUTA, audit_chain, new_network
from .killcycles import _add_records, _people


def run(root: Path, backups: int) -> dict:
    make = new_network(root)
    node = make("Backup Node", _people("BASE", 200))
    node.start(sync_interval=0.5)
    stop = threading.Event()
    written = [0]

    def writer():
        while not stop.is_set():
            _add_records(node, f"W{written[0]}", 50)
            written[0] += 1
            stop.wait(0.05)  # a busy office, not a bulk load

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    results = []
    try:
        for i in range(backups):
            time.sleep(0.2)
            path = root / f"backup-{i}.tafuta-backup"
            began = time.monotonic()
            made = node.tafuta("backup", path, check=False)
            seconds = time.monotonic() - began
            restored = root / f"restored-{i}"
            back = node.tafuta("restore", path, "--into", restored, check=False)
            results.append(_check(restored, made, back, seconds, node))
    finally:
        stop.set()
        thread.join(60)
        make.close()
    return {
        "backups": backups,
        "imports_committed_during_run": written[0],
        "results": results,
        "all_ok": all(r["ok"] for r in results),
    }


def _check(restored: Path, made, back, seconds: float, node) -> dict:
    result = {
        "backup_exit": made.returncode,
        "backup_seconds": round(seconds, 2),
        "restore_exit": back.returncode,
        "restore_output": (back.stdout or back.stderr).strip()[-200:],
    }
    if made.returncode or back.returncode:
        result["ok"] = False
        return result
    db = sqlite3.connect(str(restored / "tafuta.db"))
    try:
        records = db.execute("SELECT count(*) FROM records WHERE ref LIKE 'W%'").fetchone()[0]
        runs = db.execute("SELECT count(*) FROM import_runs WHERE source_file LIKE 'W%'").fetchone()
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    opened = node_status(node, restored)
    chain = audit_chain(restored / "tafuta.db")
    result.update(
        audit_chain_verified=chain["ok"],
        audit_rows=chain["rows"],
        writer_records=records,
        writer_imports=runs[0],
        whole_imports_only=records == 50 * runs[0],
        integrity=check,
        restored_node_opens=opened,
    )
    result["ok"] = result["whole_imports_only"] and check == "ok" and opened and chain["ok"]
    return result


def node_status(node, home: Path) -> bool:
    """The restored home opens as a node: `tafuta --home DIR status --json` works."""
    env = {"TAFUTA_PASSPHRASE_FILE": str(node.passphrase_file)}
    result = subprocess.run(
        [TAFUTA, "--home", str(home), "status", "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    return result.returncode == 0 and '"schema_version"' in result.stdout
