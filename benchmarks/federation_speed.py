"""Benchmark: two nodes on loopback linking N records each (issue 5).

Measures, side by side in one run:

* time from the first sync to suggestions stored on both nodes (two `tafuta serve` processes,
  real HTTP, real blinding), against the baseline of `tafuta link` on the same two files in one
  process (the same computation without the network, the outbox and the database);
* messages per second the inbox sustains for small messages (full checks, decryption, one
  transaction each), against the baseline of `GET /v1/health` on the same server (HTTP alone).

    .venv/bin/python benchmarks/federation_speed.py [--people 10000] [--messages 500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from keys import KdfParams
from matching.synthetic import generate
from node.canonical import FIELDS
from node.federation.exchange import Federation
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.trust.budgets import budget_for
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer
from protocol.envelope import new_message_id

PASSPHRASE = "benchmark passphrase"
TAFUTA = str(Path(sys.executable).parent / "tafuta")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_csv(path: Path, records: list[dict]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({f: r.get(f) or "" for f in FIELDS} for r in records)
    return path


def make_nodes(root: Path, people: int) -> list[dict]:
    regs = generate(people, people, overlap=0.4, seed=42)
    nodes = []
    for name, records in (("Kwale Rescue", regs.missing), ("Mombasa Shelter", regs.found)):
        port = free_port()
        path = root / name.split()[0].lower()
        home = create_node(path, name=name, url=f"http://127.0.0.1:{port}",
                           passphrase=PASSPHRASE, kdf=KdfParams.cheap())  # fmt: skip
        csv_path = write_csv(root / f"{path.name}.csv", records)
        env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(root / "pass")}
        subprocess.run([TAFUTA, "--home", str(path), "import", str(csv_path)], check=True,
                       env=env, capture_output=True)  # fmt: skip
        nodes.append({"home": home, "port": port, "csv": csv_path, "env": env})
    stores = [Store.open(n["home"].database_path) for n in nodes]
    for (n, store), other in ((nodes[0], stores[0]), nodes[1]), ((nodes[1], stores[1]), nodes[0]):
        add_peer(n["home"], store, invite_token(other["home"]), actor="bench")
    for (n, store), other in ((nodes[0], stores[0]), nodes[1]), ((nodes[1], stores[1]), nodes[0]):
        name = other["home"].name
        # A budget for this benchmark's register size: ~13 keys per record, with room to spare.
        trust_peer(n["home"], store, name, peer_fingerprint(n["home"], store, name), actor="b",
                   budget=budget_for(people))  # fmt: skip
    for store in stores:
        store.close()
    return nodes


def settled(nodes) -> bool:
    """Both sides' keys exchanged both ways, nothing waiting, every candidate scored."""
    checks = (
        "SELECT count(*) = 0 FROM outbox",
        "SELECT count(*) > 0 FROM own_blinded",
        "SELECT count(*) > 0 FROM peer_blinded",
        "SELECT count(*) = 1 FROM peer_sync WHERE needs_scoring = 0 AND last_sync_at IS NOT NULL",
    )
    for n in nodes:
        db = sqlite3.connect(n["home"].database_path)
        try:
            if not all(db.execute(sql).fetchone()[0] for sql in checks):
                return False
        finally:
            db.close()
    return True


def wait_healthy(port: int) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"node on port {port} did not start")


def inbox_rate(sender_home, port: int, messages: int) -> tuple[float, float]:
    """Messages/s through the inbox, and requests/s of /v1/health, 4 clients each."""
    home = open_home(sender_home.path)
    store = Store.open(home.database_path)
    federation = Federation(store, unlock(home, PASSPHRASE), node_lexicon(home))
    peer = federation.trusted_peers()[0]
    payload = {"pseudonyms": ["A" * 22]}
    bodies = [federation.seal_for(peer, new_message_id(), "retraction", payload)
              for _ in range(messages)]  # fmt: skip
    store.close()

    def post(body: bytes) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/inbox", data=body)
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status

    def health(_: int) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=60) as r:
            return r.status

    with ThreadPoolExecutor(4) as pool:
        start = time.perf_counter()
        assert set(pool.map(post, bodies)) == {200}
        inbox = messages / (time.perf_counter() - start)
        start = time.perf_counter()
        assert set(pool.map(health, range(messages))) == {200}
        plain = messages / (time.perf_counter() - start)
    return inbox, plain


def peak_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="Keep the nodes in this new folder.")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(args.keep or scratch)
        root = Path(tmp)
        (root / "pass").write_text(PASSPHRASE + "\n")
        nodes = make_nodes(root, args.people)

        start = time.perf_counter()
        subprocess.run([TAFUTA, "link", str(nodes[0]["csv"]), str(nodes[1]["csv"]), "--out",
                        str(root / "link.csv")], check=True, capture_output=True)  # fmt: skip
        link_seconds = time.perf_counter() - start
        link_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        procs = []
        start = time.perf_counter()
        for n in nodes:
            procs.append(subprocess.Popen(
                [TAFUTA, "--home", str(n["home"].path), "serve", "--port", str(n["port"]),
                 "--sync-interval", "1"], env=n["env"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        try:
            for n in nodes:
                wait_healthy(n["port"])
            while not settled(nodes):
                time.sleep(0.5)
            network_seconds = time.perf_counter() - start
            inbox, plain = inbox_rate(nodes[0]["home"], nodes[1]["port"], args.messages)
            serve_peak = max(peak_mb(p.pid) for p in procs)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=60)
        db = sqlite3.connect(nodes[0]["home"].database_path)
        suggestions = db.execute("SELECT count(*) FROM matches").fetchone()[0]
        db.close()
    machine = f"{os.cpu_count()} cores, {platform.machine()}, python {platform.python_version()}"
    print(f"# two nodes on loopback, {args.people:,} records each, "
          f"{datetime.now(UTC):%Y-%m-%d}, {machine}")  # fmt: skip
    print("| measure | Tafuta over the network | baseline | baseline is |")
    print("| --- | ---: | ---: | --- |")
    print(f"| first sync to suggestions stored (s) | {network_seconds:.1f} | {link_seconds:.1f} |"
          " `tafuta link` on the same files, one process |")  # fmt: skip
    print(f"| peak memory of one process (MB) | {serve_peak:.0f} | {link_peak:.0f} | same |")
    print(f"| messages/s the inbox sustains | {inbox:.0f} | {plain:.0f} |"
          " `GET /v1/health` on the same server |")  # fmt: skip
    print(f"\n{suggestions} suggestions stored on each node.")
    print(json.dumps({"people": args.people, "network_s": network_seconds, "link_s": link_seconds,
                      "inbox_per_s": inbox, "health_per_s": plain}))  # fmt: skip


if __name__ == "__main__":
    main()
