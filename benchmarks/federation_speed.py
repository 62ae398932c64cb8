"""Benchmark: two nodes on loopback linking N records each (issue 5).

Measures, side by side in one run:

* time from the first sync to suggestions stored on both nodes (two `tafuta serve` processes,
  real HTTP, real blinding), against the baseline of `tafuta link` on the same two files in one
  process (the same computation without the network, the outbox and the database);
* messages per second the inbox sustains for small messages (full checks, decryption, one
  transaction each), against the baseline of `GET /v1/health` on the same server (HTTP alone).

    .venv/bin/python benchmarks/federation_speed.py [--people 10000] [--messages 500]
    .venv/bin/python benchmarks/federation_speed.py --eastafrica --people 100000 --json F

With the default (one node of the pair evaluates, by key order) only the evaluating node holds
the peer's blinded keys; the other hears of suggestions through match notices. "Settled" is
therefore what ``tafuta status`` says (nothing waits for the peer) once each node holds every
record the other sent, and the two nodes' suggestions are compared with each other and with
``tafuta link``'s pairs.
"""

from __future__ import annotations

import argparse
import csv
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
from matching import DEFAULT_THRESHOLD
from matching.synthetic import generate
from node.canonical import FIELDS
from node.federation.exchange import Federation
from node.federation.sync import is_settled, pending_for
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.trust.budgets import budget_for
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer
from protocol.envelope import new_message_id

PASSPHRASE = "benchmark passphrase"
UNLIMITED = (
    "\n[server]\npeer_rate = 1000000\npeer_burst = 1000000\n"
    "address_rate = 1000000\naddress_burst = 1000000\n"
)
TAFUTA = str(Path(sys.executable).parent / "tafuta")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_csv(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({f: r.get(f) or "" for f in FIELDS} for r in records)
    return path


def registers(people: int, eastafrica: bool, seed: int) -> tuple[list[dict], list[dict]]:
    """A missing list and a found register of about ``people`` records each."""
    if eastafrica:
        from east_africa import generate as east_africa  # beside this script

        data = east_africa(people, people, seed=seed)
        return data.missing, data.found
    regs = generate(people, people, overlap=0.4, seed=42)
    return regs.missing, regs.found


def make_nodes(root: Path, registers: tuple[list[dict], list[dict]]) -> list[dict]:
    nodes = []
    for name, records in zip(("Kwale Rescue", "Mombasa Shelter"), registers, strict=True):
        port = free_port()
        path = root / name.split()[0].lower()
        home = create_node(path, name=name, url=f"http://127.0.0.1:{port}",
                           passphrase=PASSPHRASE, kdf=KdfParams.cheap())  # fmt: skip
        csv_path = write_csv(root / f"{path.name}.csv", records)
        # The inbox rate is measured with one peer sending as fast as it can: the per-peer and
        # per-address limits (20 and 50 a second by default) would measure the policy instead.
        with (path / "config.toml").open("a", encoding="utf-8") as config:
            config.write(UNLIMITED)
        env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(root / "pass")}
        # --skip-invalid: the same partial reading as `tafuta link` (east_africa.py can write an
        # impossible date, a year off by one on 29 February, as registers do).
        subprocess.run([TAFUTA, "--home", str(path), "import", str(csv_path), "--skip-invalid"],
                       check=True, env=env, capture_output=True)  # fmt: skip
        nodes.append({"home": home, "port": port, "csv": csv_path, "env": env})
    stores = [Store.open(n["home"].database_path) for n in nodes]
    for (n, store), other in ((nodes[0], stores[0]), nodes[1]), ((nodes[1], stores[1]), nodes[0]):
        add_peer(n["home"], store, invite_token(other["home"]), actor="bench")
    people = max(len(r) for r in registers)
    for (n, store), other in ((nodes[0], stores[0]), nodes[1]), ((nodes[1], stores[1]), nodes[0]):
        name = other["home"].name
        # A budget for this benchmark's register size, with room to spare; the default
        # evaluation ("auto": one node of the pair, by key order).
        trust_peer(n["home"], store, name, peer_fingerprint(n["home"], store, name), actor="b",
                   budget=budget_for(people))  # fmt: skip
    for store in stores:
        store.close()
    return nodes


def _count(db: sqlite3.Connection, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def settled(nodes) -> bool:
    """Nothing waits for the peer on either node (``tafuta status``'s test: outbox, replies,
    holdings, scoring), and each node holds every record the other sent it."""
    dbs = [sqlite3.connect(n["home"].database_path) for n in nodes]
    try:
        for db, other in ((dbs[0], dbs[1]), (dbs[1], dbs[0])):
            sent = _count(other, "SELECT count(*) FROM pseudonyms")
            held = _count(db, "SELECT count(*) FROM peer_records")
            if not sent or held != sent:
                return False
    finally:
        for db in dbs:
            db.close()
    for n in nodes:
        store = Store.open(n["home"].database_path)
        try:
            if not nothing_pending(store):
                return False
        finally:
            store.close()
    return True


def nothing_pending(store: Store) -> bool:
    """``tafuta status``'s "settled": nothing waits for any trusted peer."""
    peers = [(r["id"], r["name"]) for r in store.iter_peers() if r["state"] == "trusted"]
    return is_settled(pending_for(store, peers))


def network_pairs(nodes, threshold: float) -> tuple[set, set, int]:
    """Each node's suggestions at ``threshold`` or above as (ref at A, ref at B) — read from both
    databases, which only a benchmark can — and how many match ids the two hold alike."""
    dbs = [sqlite3.connect(n["home"].database_path) for n in nodes]
    try:
        refs = [dict(db.execute("SELECT pseudonym, ref FROM pseudonyms")) for db in dbs]
        rows = [
            db.execute(
                "SELECT match_id, local_ref, peer_pseudonym, score FROM matches WHERE score >= ?",
                (threshold,),
            ).fetchall()
            for db in dbs
        ]
    finally:
        for db in dbs:
            db.close()
    at_a = {(local, refs[1].get(peer)) for _, local, peer, _ in rows[0]}
    at_b = {(refs[0].get(peer), local) for _, local, peer, _ in rows[1]}
    alike = len(
        {(m, round(s, 9)) for m, _, _, s in rows[0]} & {(m, round(s, 9)) for m, _, _, s in rows[1]}
    )
    return at_a, at_b, alike


def link_pairs(path: Path) -> set:
    with path.open(encoding="utf-8") as f:
        return {(r["ref_a"], r["ref_b"]) for r in csv.DictReader(f)}


def f1_against(found: set, truth: set) -> float:
    tp = len(found & truth)
    return 2 * tp / (len(found) + len(truth)) if found or truth else 1.0


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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of its children that have ended, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine so far (from /proc/stat), in ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def sample(nodes, procs, elapsed: float) -> dict:
    """One line of the timeline: what each node holds and queues, and the CPU it has used."""
    row: dict = {"t": round(elapsed, 1)}
    for label, n, p in zip("ab", nodes, procs, strict=True):
        db = sqlite3.connect(n["home"].database_path)
        try:
            row[f"{label}_held"] = _count(db, "SELECT count(*) FROM peer_records")
            row[f"{label}_outbox"] = _count(db, "SELECT count(*) FROM outbox")
            row[f"{label}_suggestions"] = _count(db, "SELECT count(*) FROM matches")
        finally:
            db.close()
        try:
            row[f"{label}_cpu_s"] = round(cpu_seconds(p.pid), 1)
        except OSError:
            row[f"{label}_cpu_s"] = None
    busy, total = machine_busy()
    row["machine_busy"], row["machine_total"] = busy, total
    return row


def peak_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_timeline(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument(
        "--eastafrica",
        action="store_true",
        help="Registers from benchmarks/east_africa.py (else matching.synthetic).",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--keep", type=Path, help="Keep the nodes in this new folder.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument(
        "--timeline",
        type=Path,
        help="Write a CSV sampled every 5 s while the nodes exchange: records held, outbox and "
        "suggestions on each node, each serve's CPU seconds and the machine's busy ticks.",
    )
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(args.keep or scratch)
        root = Path(tmp)
        (root / "pass").write_text(PASSPHRASE + "\n")
        nodes = make_nodes(root, registers(args.people, args.eastafrica, args.seed))

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
            timeline, next_sample = [], 0.0
            while not settled(nodes):
                elapsed = time.perf_counter() - start
                if elapsed > args.timeout:
                    raise SystemExit(f"the two nodes did not settle in {args.timeout:.0f} s")
                if args.timeline and elapsed >= next_sample:
                    timeline.append(sample(nodes, procs, elapsed))
                    next_sample = elapsed + 5
                time.sleep(0.5)
            network_seconds = time.perf_counter() - start
            if args.timeline:
                timeline.append(sample(nodes, procs, network_seconds))
                write_timeline(args.timeline, timeline)
            serve_peak = max(peak_mb(p.pid) for p in procs)
            print(f"settled in {network_seconds:.1f} s (link: {link_seconds:.1f} s)", flush=True)
            inbox, plain = inbox_rate(nodes[0]["home"], nodes[1]["port"], args.messages)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=60)
        at_a, at_b, alike = network_pairs(nodes, DEFAULT_THRESHOLD)
        linked = link_pairs(root / "link.csv")
    figures = {
        "people": args.people, "data": "eastafrica" if args.eastafrica else "synthetic",
        "network_s": round(network_seconds, 1), "link_s": round(link_seconds, 1),
        "ratio": round(network_seconds / link_seconds, 2),
        "serve_peak_mb": round(serve_peak), "link_peak_mb": round(link_peak),
        "inbox_per_s": round(inbox, 1), "health_per_s": round(plain, 1),
        "suggestions_a": len(at_a), "suggestions_b": len(at_b), "link_pairs": len(linked),
        "same_suggestions_both_nodes": at_a == at_b, "matches_alike": alike,
        "f1_network_vs_link": round(f1_against(at_a, linked), 4),
    }  # fmt: skip
    machine = f"{os.cpu_count()} cores, {platform.machine()}, python {platform.python_version()}"
    print(f"# two nodes on loopback, {args.people:,} records each ({figures['data']}), "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}")  # fmt: skip
    print("| measure | Tafuta over the network | baseline | baseline is |")
    print("| --- | ---: | ---: | --- |")
    print(f"| first sync to suggestions stored (s) | {network_seconds:.1f} | {link_seconds:.1f} |"
          " `tafuta link` on the same files, one process |")  # fmt: skip
    print(f"| peak memory of one process (MB) | {serve_peak:.0f} | {link_peak:.0f} | same |")
    print(f"| messages/s the inbox sustains | {inbox:.0f} | {plain:.0f} |"
          " `GET /v1/health` on the same server |")  # fmt: skip
    print(f"\n{len(at_a)} suggestions at A, {len(at_b)} at B (the same: "
          f"{at_a == at_b}); link found {len(linked)}; F1 of the network's against link's: "
          f"{figures['f1_network_vs_link']}")  # fmt: skip
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
