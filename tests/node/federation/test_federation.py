"""Federation end to end: real `tafuta serve` processes on 127.0.0.1 exchanging blinded keys.

Each test builds its nodes from scratch; pairing goes through invitations and safety numbers.
"""

from __future__ import annotations

import csv
import signal
import sqlite3

import pytest

from matching.synthetic import generate
from node.testing.processes import pair, settled, wait_until

pytestmark = pytest.mark.slow


def registers(seed: int, missing: int = 80, found: int = 70):
    return generate(missing, found, overlap=0.4, seed=seed)


def as_pairs(matches: list[dict], peer: str) -> dict[str, tuple]:
    return {m["match_id"]: (m["score"], m["evidence"]) for m in matches if m["peer"] == peer}


def by_refs(x, y) -> set[tuple[str, str, float]]:
    """The pair's suggestions as (x's ref, y's ref, score), joined on the shared match_id."""
    theirs = {m["match_id"]: m["local_ref"] for m in y.matches() if m["peer"] == x.name}
    return {
        (m["local_ref"], theirs[m["match_id"]], m["score"])
        for m in x.matches()
        if m["peer"] == y.name
    }


def linked(x, y, tmp_path) -> set[tuple[str, str, float]]:
    """What `tafuta link` says about the same two registers."""
    out = tmp_path / f"link-{x.port}-{y.port}.csv"
    x.tafuta("link", tmp_path / f"{x.home.name}.csv", tmp_path / f"{y.home.name}.csv", "--out", out)
    with out.open(encoding="utf-8") as f:
        return {(r["ref_a"], r["ref_b"], float(r["score"])) for r in csv.DictReader(f)}


def test_three_nodes_find_the_same_candidates_on_both_sides_of_each_pair(network, tmp_path):
    rural = registers(1)
    other = registers(2)
    a = network("Kwale Rescue", rural.missing)
    b = network("Mombasa Shelter", rural.found)
    others = [{**r, "ref": "NP-" + r["ref"]} for r in other.found[:40]]
    c = network("Nairobi Police", others + rural.found[:10])
    for x, y in ((a, b), (a, c), (b, c)):
        pair(x, y)
    for node in (a, b, c):
        node.start()
    wait_until(lambda: settled(a, b, c) and a.matches())

    for x, y in ((a, b), (a, c), (b, c)):
        assert as_pairs(x.matches(), y.name) == as_pairs(y.matches(), x.name)
        assert by_refs(x, y) == linked(x, y, tmp_path)
    found = {(m["local_ref"]) for m in a.matches() if m["peer"] == b.name}
    true_missing = {m for m, _ in rural.true_pairs}
    assert len(found & true_missing) >= 0.8 * len(true_missing)


def test_no_raw_personal_data_of_one_node_reaches_the_other(network):
    regs = registers(3, 40, 30)
    a = network("Kwale Rescue", regs.missing)
    b = network("Mombasa Shelter", regs.found)
    pair(a, b)
    a.start()
    b.start()
    wait_until(lambda: settled(a, b) and a.matches())
    a.stop()
    b.stop()

    secrets_of_a = set()
    for record in regs.missing:
        for field in ("given_names", "family_name", "mother_name", "birth_date", "phone"):
            value = record.get(field)
            if value and len(value) >= 5:
                secrets_of_a.add(value)
                secrets_of_a.update(part for part in value.split() if len(part) >= 6)
    found_values = {v for r in regs.found for v in r.values() if v}
    secrets_of_a -= {s for s in secrets_of_a if any(s in v for v in found_values)}
    assert len(secrets_of_a) > 50
    blobs = b"".join(p.read_bytes() for p in b.home.rglob("*") if p.is_file())
    blobs += b.log.read_bytes()
    leaked = sorted(s for s in secrets_of_a if s.encode() in blobs)
    assert leaked == []

    listing = a.tafuta("matches", "--format", "csv").stdout.splitlines()
    header = ["match_id", "local_ref", "local_pseudonym", "peer", "peer_pseudonym", "score",
              "evidence", "status", "peer_decision"]  # fmt: skip
    assert next(csv.reader(listing[:1])) == header
    assert len(listing) == len(a.matches()) + 1


def test_a_bundle_carried_between_nodes_gives_the_same_matches_as_http(network):
    regs = registers(4, 40, 30)
    over_http = [network("Kwale Rescue", regs.missing), network("Mombasa Shelter", regs.found)]
    pair(*over_http)
    for node in over_http:
        node.start()
    wait_until(lambda: settled(*over_http) and over_http[0].matches())

    a = network("Kwale Offline", regs.missing)
    b = network("Mombasa Offline", regs.found)
    pair(a, b)
    a.tafuta("bundle", "export", "--peer", b.name, a.home / "to-b.bundle")
    b.tafuta("bundle", "import", a.home / "to-b.bundle")
    b.tafuta("bundle", "export", "--peer", a.name, b.home / "to-a.bundle")
    a.tafuta("bundle", "import", b.home / "to-a.bundle")
    a.tafuta("bundle", "export", "--peer", b.name, a.home / "to-b-2.bundle")
    b.tafuta("bundle", "import", a.home / "to-b-2.bundle")
    # One node evaluates (by default): if it is B, its suggestions go to A in one more bundle.
    b.tafuta("bundle", "export", "--peer", a.name, b.home / "to-a-2.bundle")
    a.tafuta("bundle", "import", b.home / "to-a-2.bundle")

    def scores(node):
        return sorted((m["local_ref"], m["score"]) for m in node.matches())

    assert scores(a) == scores(over_http[0])
    assert scores(b) == scores(over_http[1])
    assert as_pairs(a.matches(), b.name) == as_pairs(b.matches(), a.name)
    again = b.tafuta("bundle", "import", a.home / "to-b.bundle").stdout
    assert "applied 0" in again


def test_node_killed_during_sync_restarts_and_completes(network):
    """SIGKILL while messages are in flight; after restart nothing is lost or applied twice."""
    regs = registers(5, 400, 300)
    a = network("Kwale Rescue", regs.missing)
    b = network("Mombasa Shelter", regs.found)
    pair(a, b)
    b.start()
    a.start(sync_interval=0.2)
    wait_until(lambda: _count(b, "SELECT count(*) FROM processed") > 0, timeout=60, interval=0.05)
    a.stop(signal.SIGKILL)
    b.stop(signal.SIGKILL)
    a.start()
    b.start()
    wait_until(lambda: settled(a, b) and a.matches(), timeout=120)
    assert as_pairs(a.matches(), b.name) == as_pairs(b.matches(), a.name)
    for node in (a, b):
        duplicates = _count(node, "SELECT count(*) - count(DISTINCT pseudonym || key_type || "
                            "hex(token)) FROM peer_blinded")  # fmt: skip
        assert duplicates == 0
        assert _count(node, "PRAGMA integrity_check") in ("ok",)
    # Every record was sent once and is held once; every record with keys is held doubly
    # blinded by the node that evaluates (by default one of the two, by key order).
    assert _count(a, "SELECT count(*) FROM pseudonyms") == len(regs.missing)
    assert _count(b, "SELECT count(*) FROM peer_records") == len(regs.missing)
    at_b = _count(b, "SELECT count(DISTINCT pseudonym) FROM peer_blinded")
    at_a = _count(a, "SELECT count(DISTINCT pseudonym) FROM own_blinded")
    assert min(at_a, at_b) == 0 and max(at_a, at_b) >= 0.95 * len(regs.missing)


def _count(node, sql):
    db = sqlite3.connect(node.home / "tafuta.db")
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def test_retracted_record_disappears_from_the_peer(network, tmp_path):
    regs = registers(6, 40, 30)
    a = network("Kwale Rescue", regs.missing)
    b = network("Mombasa Shelter", regs.found)
    pair(a, b)
    a.start()
    b.start()
    wait_until(lambda: settled(a, b) and b.matches())
    target = b.matches()[0]
    local = next(m for m in a.matches() if m["match_id"] == target["match_id"])
    a.stop()
    db = sqlite3.connect(a.home / "tafuta.db")
    db.execute("UPDATE records SET retracted = 1 WHERE ref = ?", (local["local_ref"],))
    db.commit()
    db.close()
    a.start()
    wait_until(lambda: settled(a, b) and target["match_id"] not in {m["match_id"] for m in
                                                                     b.matches()})  # fmt: skip
    for table in ("peer_blinded", "peer_records"):  # keys and record gone, whoever evaluates
        assert _count(b, f"SELECT count(*) FROM {table} WHERE pseudonym = "
                         f"'{target['peer_pseudonym']}'") == 0  # fmt: skip
