"""A pair linked through a blind linkage node, as deployed: three `tafuta serve` processes, the
choices made with the CLI, `tafuta sync` run at the same time as the servers, and a weak
suggestion confirmed from the CLI. The linkage node's suggestions reach the first node, none
reaches the second before review, neither node of the pair holds a key of its own blinded by
both, and the one confirmed reaches the second node with its score and evidence."""

from __future__ import annotations

import json
import re
import sqlite3
import threading

import pytest

from matching.synthetic import generate
from node.testing.processes import pair, wait_until

pytestmark = pytest.mark.slow


def count(node, table: str, peer=None) -> int:
    """Rows in a table of the node's database; only those about ``peer`` if given."""
    conn = sqlite3.connect(node.home / "tafuta.db")
    try:
        if peer is None:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE peer_id = (SELECT id FROM peers WHERE name = ?)",
            (peer.name,),
        ).fetchone()[0]
    finally:
        conn.close()


def suggestions(node) -> dict[str, tuple[float, str]]:
    return {m["match_id"]: (m["score"], m["evidence"]) for m in node.matches()}


def settled(*nodes) -> bool:
    return all(json.loads(n.tafuta("status", "--json").stdout)["exchange"]["settled"]
               for n in nodes)  # fmt: skip


def test_a_pair_linked_through_a_linkage_node_gets_its_suggestions(network, tmp_path):
    registers = generate(300, 250, overlap=0.4, seed=31)
    a = network("Kwale Rescue", registers.missing)
    b = network("Mombasa Shelter", registers.found)
    link = network("Nairobi Linkage")
    for x, y in ((a, b), (a, link), (b, link)):
        pair(x, y)
    a.tafuta("peers", "evaluation", b.name, "linker", "--via", link.name)
    b.tafuta("peers", "evaluation", a.name, "linker", "--via", link.name)
    link.tafuta("linkage", "add", a.name, b.name)
    secret = tmp_path / "caseworker.txt"
    secret.write_text("a long enough password\n", encoding="utf-8")
    a.tafuta("users", "add", "case", "--role", "caseworker", "--password-file", secret)
    for node in (a, b, link):
        node.start(sync_interval=0.5)
    syncs = [threading.Thread(target=n.tafuta, args=("sync",)) for n in (a, b, a, b)]
    for thread in syncs:
        thread.start()
    for thread in syncs:
        thread.join()

    wait_until(lambda: suggestions(a), timeout=240)
    wait_until(lambda: settled(a, b, link), timeout=240, interval=1)
    first = suggestions(a)
    assert first and suggestions(b) == {}  # by default nothing reaches B before A's review
    for node, peer in ((a, b), (b, a)):  # (with the linkage node itself, the usual exchange)
        assert count(node, "own_blinded", peer) == 0 and count(node, "peer_blinded", peer) == 0
    assert count(link, "records") == 0 and count(link, "linkage_keys") > 0
    listed = link.tafuta("linkage", "list").stdout
    # Every record that has keys (a found record may have too little to make one).
    held = re.fullmatch(r"Kwale Rescue \((\d+) records\) and Mombasa Shelter \((\d+) records\): "
                        r"scored\n", listed)  # fmt: skip
    assert held and 290 <= int(held[1]) <= 300 and 240 <= int(held[2]) <= 250

    weak = next(iter(first))
    a.tafuta("review", weak, "confirm", "--as", "case", "--note", "checked the register")
    wait_until(lambda: weak in suggestions(b) and suggestions(b)[weak] == first[weak], timeout=120)
    theirs = next(m for m in b.matches() if m["match_id"] == weak)
    assert theirs["peer_decision"] == "confirm"
    for node in (a, b, link):
        assert node.tafuta("audit", "verify").returncode == 0
