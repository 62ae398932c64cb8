"""Nodes as separate processes: each a home, a port and a running ``tafuta serve``, paired the way
coordinators pair them (invitation tokens, safety numbers, trust), and what tests wait for.
For end-to-end tests, the browser tests and the campaign benchmarks."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from keys import KdfParams
from node.canonical import FIELDS
from node.store.exchange import NO_LONGER_A_CANDIDATE, SHARED
from node.trust.identity import create_node

PASSPHRASE = "network test passphrase"

TAFUTA = str(Path(sys.executable).parent / "tafuta")
# The passphrase of the single test homes that tests/conftest.py makes.
HOME_PASSPHRASE = "test passphrase, not secret"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample-register.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_register(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({f: record.get(f) or "" for f in FIELDS})
    return path


@dataclass
class Node:
    """One node: a home, a passphrase file, a port, and (while running) a serve process."""

    name: str
    home: Path
    passphrase_file: Path
    port: int
    log: Path
    process: subprocess.Popen | None = None
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tafuta(self, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(self.passphrase_file), **self.env}
        result = subprocess.run(
            [TAFUTA, "--home", str(self.home), *map(str, args)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def start(self, sync_interval: float = 0.5, timeout: float = 30) -> None:
        env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(self.passphrase_file), **self.env}
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [TAFUTA, "--home", str(self.home), "serve", "--port", str(self.port),
                 "--sync-interval", str(sync_interval)],
                stdout=log, stderr=log, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/v1/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def matches(self) -> list[dict]:
        return json.loads(self.tafuta("matches", "--format", "json").stdout)


def pair(a: Node, b: Node, evaluation: tuple[str, str] | None = None) -> None:
    """Both coordinators exchange tokens, compare the safety number, and trust each other;
    ``evaluation``: who evaluates as each sets it (else the default, "auto")."""
    token_a = a.tafuta("peers", "invite").stdout.strip().splitlines()[-1]
    token_b = b.tafuta("peers", "invite").stdout.strip().splitlines()[-1]
    a.tafuta("peers", "add", token_b)
    b.tafuta("peers", "add", token_a)
    digits_a = a.tafuta("peers", "fingerprint", b.name).stdout.strip().splitlines()[-1]
    digits_b = b.tafuta("peers", "fingerprint", a.name).stdout.strip().splitlines()[-1]
    assert digits_a == digits_b
    choice_a, choice_b = evaluation or ("auto", "auto")
    a.tafuta("peers", "trust", b.name, "--fingerprint", digits_a, "--evaluation", choice_a)
    b.tafuta("peers", "trust", a.name, "--fingerprint", digits_b, "--evaluation", choice_b)


def let_evaluate(evaluator: Node, other: Node) -> None:
    """Give the pair the roles the default ("auto") gives when ``evaluator``'s key id sorts
    first, whatever this run's random keys say, so that a test can choose the side it tests.
    Written into both stores before either node starts, as trust would have."""
    for node, peer, role in ((evaluator, other, "ours"), (other, evaluator, "theirs")):
        db = sqlite3.connect(node.home / "tafuta.db")
        try:
            with db:
                db.execute(
                    "UPDATE peer_evaluation SET evaluation = ?, auto = 1 "
                    "WHERE peer_id = (SELECT id FROM peers WHERE name = ?)",
                    (role, peer.name),
                )
        finally:
            db.close()


class Network:
    """Makes nodes under one folder: ``network(name, records)``; ``close()`` kills them all."""

    def __init__(self, root: Path):
        self.root = root
        self.nodes: list[Node] = []
        self.secret = root / "passphrase.txt"
        self.secret.write_text(PASSPHRASE + "\n", encoding="utf-8")

    def __call__(self, name: str, records: list[dict] | None = None, *, start: bool = False):
        port = free_port()
        slug = name.lower().replace(" ", "-")
        home = self.root / slug
        create_node(home, name=name, url=f"http://127.0.0.1:{port}", passphrase=PASSPHRASE,
                    kdf=KdfParams.cheap())  # fmt: skip
        node = Node(name, home, self.secret, port, self.root / f"{slug}.log")
        if records:
            node.tafuta("import", write_register(self.root / f"{slug}.csv", records))
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGKILL)


def comparable_matches(conn: sqlite3.Connection, peer_name: str) -> dict[str, tuple]:
    """A node's matches with a peer as {match_id: (score, evidence)}, without its own history:
    a match only this node decided on (a reject or unsure never leaves it) that is no longer a
    candidate or was withdrawn. The peer never heard of those decisions and rightly holds no
    such match; everything else both nodes of a pair must hold alike."""
    rows = conn.execute(
        "SELECT m.match_id, m.score, m.evidence FROM matches m JOIN peers p ON p.id = m.peer_id "
        f"WHERE p.name = ? AND ({SHARED} OR (m.evidence != ? AND m.status != 'withdrawn'))",
        (peer_name, NO_LONGER_A_CANDIDATE),
    )
    return {match_id: (score, evidence) for match_id, score, evidence in rows}


def wait_until(condition, timeout: float = 180, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def settled(*nodes) -> bool:
    """Every outbox empty and every node's matches computed."""
    for node in nodes:
        db = sqlite3.connect(node.home / "tafuta.db")
        try:
            waiting = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            dirty = db.execute("SELECT count(*) FROM peer_sync WHERE needs_scoring != 0")
            if waiting or dirty.fetchone()[0]:
                return False
        finally:
            db.close()
    return True
