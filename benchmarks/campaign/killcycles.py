"""SIGKILL at random moments during import and during sync, then check what survived.

Import: each cycle starts `tafuta import` of a new register (fresh refs) and kills it after a
random delay drawn over the command's whole run (start-up, validation, the write). After each
kill: ``PRAGMA integrity_check`` is ok, and the register is in the database whole or not at all
(its rows and its import_runs entry together), a run that reported success is there, and the
audit log's hash chain verifies (imports are audited).

Sync: two serving nodes A and B; each cycle adds records to A, lets the pair sync, and kills A
or B (at random) after a random delay, checks the killed node's audit chain (received and
sent messages are audited), then restarts it. A watcher records every message id it
ever sees in either outbox. At the end, once the pair has converged: both databases pass the
integrity check; every message that left an outbox (a message leaves only when the receiver's
signed acknowledgement arrived) is in the receiver's processed table; and B holds each of A's
records exactly once (one pseudonym, no duplicated key rows); both audit chains verify.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from node.home import open_home
from node.store.db import Store

from .common import (
    TAFUTA,
    audit_chain,
    integrity,
    new_network,
    pair,
    raise_limits,
    wait_until,
    write_register,
)


def _people(prefix: str, n: int) -> list[dict]:
    return [
        {"ref": f"{prefix}-{i}", "kind": "missing", "given_names": f"Amani {prefix}",
         "family_name": f"Otieno{i % 97}", "sex": "F",
         "birth_date": f"{1990 + i % 30}-0{1 + i % 9}",
         "origin_district": "Kwale", "origin_country": "KE"}
        for i in range(n)
    ]  # fmt: skip


def import_cycles(root: Path, cycles: int, rows: int = 2000, seed: int = 11) -> dict:
    rng = random.Random(seed)
    make = new_network(root)
    node = make("Import Node")
    env = {"TAFUTA_PASSPHRASE_FILE": str(node.passphrase_file)}
    database = node.home / "tafuta.db"
    started = time.monotonic()
    node.tafuta("import", write_register(root / "warmup.csv", _people("WARM", rows)))
    budget = time.monotonic() - started  # kill anywhere in a whole run
    outcomes = {"killed, nothing written": 0, "killed after the commit": 0, "finished": 0}
    failures = []
    chains_verified = 0
    for cycle in range(cycles):
        source = write_register(root / f"cycle{cycle}.csv", _people(f"C{cycle}", rows))
        process = subprocess.Popen(
            [TAFUTA, "--home", str(node.home), "import", str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env},
        )  # fmt: skip
        time.sleep(rng.uniform(0, budget))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        finished = process.returncode == 0
        check = integrity(database)
        chain = audit_chain(database)
        chains_verified += chain["ok"]
        present, runs = _import_state(database, f"C{cycle}-", source.name)
        whole = (present, runs) in ((0, 0), (rows, 1))
        if check != "ok" or not whole or (finished and present != rows) or not chain["ok"]:
            failures.append({"cycle": cycle, "integrity": check, "rows": present, "runs": runs,
                             "audit_chain": chain})  # fmt: skip
        if finished:
            outcomes["finished"] += 1
        elif present:
            outcomes["killed after the commit"] += 1
        else:
            outcomes["killed, nothing written"] += 1
    make.close()
    return {
        "cycles": cycles,
        "rows_per_import": rows,
        "kill_window_seconds": round(budget, 2),
        "outcomes": outcomes,
        "audit_chain_verified_after_kills": chains_verified,
        "audit_rows_at_end": audit_chain(database)["rows"],
        "failures": failures,
    }


def _import_state(database: Path, prefix: str, source: str) -> tuple[int, int]:
    db = sqlite3.connect(str(database), timeout=30)
    try:
        present = db.execute(
            "SELECT count(*) FROM records WHERE ref LIKE ?", (prefix + "%",)
        ).fetchone()[0]
        runs = db.execute(
            "SELECT count(*) FROM import_runs WHERE source_file = ?", (source,)
        ).fetchone()[0]
    finally:
        db.close()
    return present, runs


class OutboxWatcher(threading.Thread):
    """Records every (peer name, message id) seen in the outboxes of the given nodes."""

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes, self.seen, self.stop = nodes, {n.name: set() for n in nodes}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for node in self.nodes:
                try:
                    db = sqlite3.connect(f"file:{node.home / 'tafuta.db'}?mode=ro", uri=True)
                    try:
                        ids = db.execute("SELECT message_id FROM outbox").fetchall()
                    finally:
                        db.close()
                except sqlite3.DatabaseError:
                    continue  # busy while a node recovers; the next look sees it
                self.seen[node.name].update(i for (i,) in ids)
            self.stop.wait(0.02)


def _add_records(node, prefix: str, n: int) -> None:
    """A caseworker's import while the node serves (the library call `tafuta import` makes)."""
    home = open_home(node.home)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with Store.open(home.database_path) as store:
        counts = {"added": n, "updated": 0, "unchanged": 0, "rejected": 0}
        store.write_import(_people(prefix, n), [], f"{prefix}.csv", now, counts)


def _column(node, sql: str, *args) -> list:
    db = sqlite3.connect(str(node.home / "tafuta.db"), timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def sync_cycles(root: Path, cycles: int, batch: int = 30, seed: int = 13) -> dict:
    rng = random.Random(seed)
    make = new_network(root)
    a = make("Kwale Rescue", _people("BASE-A", 50))
    b = make("Mombasa Shelter", _people("BASE-B", 50))
    pair(a, b)
    for node in (a, b):
        raise_limits(node)
        node.start(sync_interval=0.3)
    watcher = OutboxWatcher([a, b])
    watcher.start()
    kills = {a.name: 0, b.name: 0}
    chains_verified, broken = 0, []
    try:
        for cycle in range(cycles):
            _add_records(a, f"S{cycle}", batch)
            time.sleep(rng.uniform(0, 1.5))
            victim = rng.choice((a, b))
            victim.stop(signal.SIGKILL)
            kills[victim.name] += 1
            chain = audit_chain(victim.home / "tafuta.db")  # right after the kill
            chains_verified += chain["ok"]
            if not chain["ok"]:
                broken.append({"cycle": cycle, "node": victim.name, **chain})
            victim.start(sync_interval=0.3)
        converged = _converge(a, b)
    finally:
        watcher.stop.set()
        watcher.join()
        make.close()
    checks = _sync_checks(a, b, watcher)
    final = {n.name: audit_chain(n.home / "tafuta.db") for n in (a, b)}
    return {"cycles": cycles, "records_added_per_cycle": batch, "kills": kills,
            "converged": converged, "audit_chain_verified_after_kills": chains_verified,
            "audit_chain_broken": broken, "audit_chain_at_end": final, **checks}  # fmt: skip


def _converge(a, b, timeout: float = 300) -> bool:
    """Both outboxes empty and B holds all of A's records (sync keeps running)."""

    def done():
        empty = all(_column(n, "SELECT count(*) FROM outbox")[0][0] == 0 for n in (a, b))
        sent = _column(a, "SELECT count(*) FROM pseudonyms WHERE keys_digest IS NOT NULL")[0][0]
        records = _column(a, "SELECT count(*) FROM records")[0][0]
        return empty and sent == records

    try:
        wait_until(done, timeout=timeout, interval=0.5)
    except AssertionError:
        return False
    return True


def _sync_checks(a, b, watcher: OutboxWatcher) -> dict:
    result = {"integrity": {n.name: integrity(n.home / "tafuta.db") for n in (a, b)}}
    missing = {}
    for sender, receiver in ((a, b), (b, a)):
        remaining = {i for (i,) in _column(sender, "SELECT message_id FROM outbox")}
        acknowledged = watcher.seen[sender.name] - remaining
        processed = _column(
            receiver,
            "SELECT message_id, count(*) FROM processed WHERE peer_id = "
            "(SELECT id FROM peers WHERE name = ?) GROUP BY message_id",
            sender.name,
        )
        counts = dict(processed)
        missing[sender.name] = sorted(i for i in acknowledged if counts.get(i) != 1)
        result[f"acknowledged_from_{sender.name}"] = len(acknowledged)
    result["acknowledged_but_not_processed_once"] = {k: len(v) for k, v in missing.items()}
    peer_b = _column(a, "SELECT id FROM peers WHERE name = ?", b.name)[0][0]
    sent = {p for (p,) in _column(a, "SELECT pseudonym FROM pseudonyms WHERE peer_id = ?", peer_b)}
    peer_a = _column(b, "SELECT id FROM peers WHERE name = ?", a.name)[0][0]
    # Every record B holds of A's, keys or not (a node that does not evaluate keeps only the
    # pseudonyms), and the keys it holds, each once.
    held = {
        p for (p,) in _column(b, "SELECT pseudonym FROM peer_records WHERE peer_id = ?", peer_a)
    }
    keys = _column(
        b,
        "SELECT pseudonym, count(*), count(DISTINCT key_type || hex(token)) FROM peer_blinded "
        "WHERE peer_id = ? GROUP BY pseudonym",
        peer_a,
    )
    result["records_of_a"] = len(_column(a, "SELECT ref FROM records"))
    result["records_held_by_b"] = len(held)
    result["records_missing_at_b"] = len(sent - held)
    result["duplicated_key_rows_at_b"] = sum(n - d for _, n, d in keys)
    return result


def passed(imports: dict | None, syncs: dict | None) -> bool:
    ok = True
    if imports is not None:
        ok &= not imports["failures"]
    if syncs is not None:
        ok &= (
            syncs["converged"]
            and set(syncs["integrity"].values()) == {"ok"}
            and not any(syncs["acknowledged_but_not_processed_once"].values())
            and syncs["records_missing_at_b"] == 0
            and syncs["duplicated_key_rows_at_b"] == 0
            and syncs["records_held_by_b"] == syncs["records_of_a"]
            and not syncs["audit_chain_broken"]
            and syncs["audit_chain_verified_after_kills"] == syncs["cycles"]
            and all(c["ok"] for c in syncs["audit_chain_at_end"].values())
        )
    return bool(ok)
