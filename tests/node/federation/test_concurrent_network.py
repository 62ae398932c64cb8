"""Three real nodes while everything a deployment runs happens at once: `tafuta serve` on each,
`tafuta sync` twice at the same time on each, imports of changed registers, review decisions
from the CLI, and one server killed with SIGKILL and started again. Once the network has
settled, both nodes of every pair hold the same match ids with the same scores and evidence,
and each holds exactly the other's records."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time

import pytest

from matching.synthetic import generate
from node.testing.processes import (
    comparable_matches,
    let_evaluate,
    pair,
    wait_until,
    write_register,
)

pytestmark = pytest.mark.slow


def matches_with(node, peer) -> dict[str, tuple[float, str]]:
    conn = sqlite3.connect(node.home / "tafuta.db")
    try:
        return comparable_matches(conn, peer.name)
    finally:
        conn.close()


def records_held(node, peer) -> int:
    listing = json.loads(node.tafuta("peers", "list", "--json").stdout)
    return next(p["records_held"] for p in listing if p["name"] == peer.name)


def settled(node) -> bool:
    return json.loads(node.tafuta("status", "--json").stdout)["exchange"]["settled"]


def run_together(*jobs) -> None:
    """Run each job on its own thread, all at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def guard(job):
        try:
            job()
        except BaseException as err:  # re-raised below, on the test's thread
            errors.append(err)

    threads = [threading.Thread(target=guard, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("evaluator", ["A", "B"], ids=["A evaluates", "B evaluates"])
def test_three_nodes_agree_after_concurrent_sync_import_review_and_a_kill(
    network, tmp_path, evaluator
):
    rural = generate(500, 400, overlap=0.4, seed=21)
    urban = generate(500, 400, overlap=0.4, seed=21)
    other = generate(10, 400, overlap=0.0, seed=22)
    a = network("Kwale Rescue", rural.missing)
    b = network("Mombasa Shelter", urban.found)
    c = network("Nairobi Safe House", other.found)
    pair(a, b)
    pair(a, c)
    let_evaluate(*((a, b) if evaluator == "A" else (b, a)))  # the default's two outcomes
    secret = tmp_path / "caseworker.txt"
    secret.write_text("a long enough password\n", encoding="utf-8")
    for node in (a, b, c):
        node.tafuta("users", "add", "case", "--role", "caseworker", "--password-file", secret)
        node.start(sync_interval=0.5)

    def sync_twice(node):
        return [lambda: node.tafuta("sync"), lambda: node.tafuta("sync")]

    def reimport(node, records, label):
        changed = [dict(r) for r in records]
        for record in changed[::7]:
            record["given_names"] = (record.get("given_names") or "") + " " + label
        return lambda: node.tafuta("import", write_register(tmp_path / f"{label}.csv", changed))

    run_together(*sync_twice(a), *sync_twice(b), *sync_twice(c),
                 reimport(a, rural.missing, "Amani"))  # fmt: skip
    wait_until(lambda: matches_with(a, b) and matches_with(b, a), timeout=240)

    def decide(node, peer, decision, how_many):
        def job():
            suggested = [m for m in node.matches()
                         if m["peer"] == peer.name and m["status"] == "suggested"]  # fmt: skip
            for match in suggested[:how_many]:
                result = node.tafuta("review", match["match_id"], decision, "--as", "case",
                                     "--note", "checked the register", check=False)  # fmt: skip
                # A rescoring may withdraw a suggestion between listing and deciding, as it may
                # under a caseworker's eyes: refused clearly, nothing else.
                withdrawn = f"error: no match with id '{match['match_id']}' on this node\n"
                assert result.returncode == 0 or result.stderr == withdrawn, result.stderr

        return job

    def kill_and_restart(node):
        def job():
            time.sleep(1.0)
            node.stop(signal.SIGKILL)
            node.start(sync_interval=0.5, timeout=180)  # six syncs may be blinding meanwhile

        return job

    run_together(*sync_twice(a), *sync_twice(b), decide(a, b, "confirm", 5),
                 decide(b, a, "reject", 3), decide(a, c, "unsure", 2),
                 reimport(b, urban.found, "Baraka"), kill_and_restart(b))  # fmt: skip

    # Settled: every node sees nothing pending, twice in a row a few rounds apart.
    def network_settled():
        if not all(settled(n) for n in (a, b, c)):
            return False
        time.sleep(2)
        return all(settled(n) for n in (a, b, c))

    wait_until(network_settled, timeout=300, interval=1)
    for node in (a, b, c):
        result = node.tafuta("sync", "--wait", "--timeout", "120")
        assert result.stdout.strip().endswith("settled")

    for x, y in ((a, b), (a, c)):
        ours, theirs = matches_with(x, y), matches_with(y, x)
        assert ours, f"{x.name} and {y.name} found nothing: the check would be vacuous"
        assert ours.keys() == theirs.keys()
        assert ours == theirs
    assert records_held(b, a) == records_held(c, a) == 500
    assert records_held(a, b) == 400 and records_held(a, c) == 400
    for node in (a, b, c):
        assert node.tafuta("audit", "verify").returncode == 0
