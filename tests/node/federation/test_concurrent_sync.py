"""What a deployment runs at the same time must not send a record twice: two `tafuta sync`
processes on one home, a repair of what an earlier version left at a peer, and knowing when the
exchange has settled."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

from matching.synthetic import generate
from node.testing.inprocess import Mesh
from node.testing.processes import TAFUTA, pair
from protocol.blinding import new_pseudonym


def outbox_records(home) -> list[str]:
    """Every pseudonym carried by a blinded-keys message waiting in the home's outbox."""
    db = sqlite3.connect(home / "tafuta.db")
    try:
        rows = db.execute("SELECT payload FROM outbox WHERE type = 'blinded-keys'").fetchall()
        table = {r[0] for r in db.execute("SELECT pseudonym FROM pseudonyms")}
    finally:
        db.close()
    sent = [record["p"] for (payload,) in rows for record in json.loads(payload)["records"]]
    assert set(sent) <= table, "a pseudonym was sent that the pseudonym table does not hold"
    return sent


def test_two_syncs_started_together_queue_each_record_once(network):
    registers = generate(300, 10, seed=3)
    a = network("Kwale Rescue", registers.missing)
    b = network("Mombasa Shelter")  # never started: everything stays in A's outbox
    pair(a, b)
    env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(a.passphrase_file)}
    runs = [
        subprocess.Popen([TAFUTA, "--home", str(a.home), "sync"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    queued = sorted(int(out.split("queued ")[1].split(",")[0]) for out, _ in outputs)
    assert queued[0] == 0, ("the second sync found everything already queued by the first", outputs)
    sent = outbox_records(a.home)
    assert len(sent) == len(set(sent)) == 300


def test_repair_retracts_records_the_peer_holds_that_we_do_not(tmp_path):
    registers = generate(40, 30, overlap=0.5, seed=5)
    mesh = Mesh(tmp_path, {"A": registers.missing, "B": registers.found}, [("A", "B")])
    try:
        a, b = mesh.fed["A"], mesh.fed["B"]
        peer_b, peer_a = mesh.peer("A", "B"), mesh.peer("B", "A")
        # A evaluates, as the default would have it if A's key id sorted first. (With B
        # evaluating, B's notices about the records A forgot are refused until the repair's
        # retraction reaches B: test_evaluation.py tests that race.)
        a.store.set_peer_evaluation(peer_b.id, "ours", actor="test", now=1, auto=True)
        b.store.set_peer_evaluation(peer_a.id, "theirs", actor="test", now=1, auto=True)

        def exchange():
            for _ in range(4):
                a.prepare(peer_b)
                b.prepare(peer_a)
                mesh.carry("A", "B", queue=False)
                mesh.carry("B", "A", queue=False)
            a.rescore(peer_b)
            b.rescore(peer_a)
            mesh.carry("A", "B", queue=False)  # the evaluating node's notices
            mesh.carry("B", "A", queue=False)

        exchange()
        # The state an earlier version could leave: ten records sent twice under two
        # pseudonyms, of which A's table keeps only the second; B holds both.
        rows = a.store.conn.execute("SELECT ref, pseudonym FROM pseudonyms LIMIT 10").fetchall()
        refs = [ref for ref, _ in rows]
        a.store.conn.executemany(
            "DELETE FROM own_blinded WHERE pseudonym = ?", [(p,) for _, p in rows]
        )
        a.store.conn.executemany(
            "UPDATE pseudonyms SET pseudonym = ?, keys_digest = 'resend' WHERE ref = ?",
            [(new_pseudonym(), ref) for ref in refs],
        )
        exchange()
        assert b.store.records_held(peer_a.id) == 50
        assert a.request_holdings(peer_b)
        assert not a.request_holdings(peer_b), "a second request while one is awaited"
        exchange()
        live = {p for p, digest in a.store.pseudonyms(peer_b.id).values() if digest}
        assert set(b.store.peer_record_pseudonyms(peer_a.id)) == live
        assert len(live) == 40
        assert a.store.settle_state([peer_b.id])[peer_b.id]["awaiting_holdings"] == 0
        ours = {m["match_id"]: (m["score"], m["evidence"]) for m in a.store.list_matches()}
        theirs = {m["match_id"]: (m["score"], m["evidence"]) for m in b.store.list_matches()}
        assert ours == theirs and ours
    finally:
        mesh.close()


def test_sync_wait_gives_up_saying_what_is_pending(network):
    registers = generate(20, 10, seed=9)
    a = network("Kwale Rescue", registers.missing)
    b = network("Mombasa Shelter")  # not running: nothing can be delivered
    pair(a, b, evaluation=("ours", "theirs"))  # A awaits its keys back from B
    before = a.tafuta("status").stdout
    assert "exchange:        settled" in before  # nothing queued yet
    result = a.tafuta("sync", "--wait", "--timeout", "2", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: not settled after 2 s; pending: Mombasa Shelter: 2 messages to send, "
        "1 replies to our keys awaited."
    )
    assert "Traceback" not in result.stderr
    status = json.loads(a.tafuta("status", "--json").stdout)
    assert status["exchange"]["settled"] is False
    assert status["exchange"]["peers"]["Mombasa Shelter"]["outbox"] == 2
    assert "exchange:        pending: Mombasa Shelter" in a.tafuta("status").stdout


def test_bad_sync_wait_timeout_is_refused_and_changes_nothing(network):
    a = network("Kwale Rescue", generate(5, 1, seed=1).missing)
    result = a.tafuta("sync", "--wait", "--timeout", "-1", check=False)
    assert result.returncode == 2
    assert "Invalid value for '--timeout'" in result.stderr
    assert "Traceback" not in result.stderr


def test_review_from_the_command_line_refuses_an_unknown_user_and_match(network, tmp_path):
    a = network("Kwale Rescue", generate(5, 1, seed=1).missing)
    cases = [
        (("review", "0" * 32, "confirm", "--as", "nobody", "--note", "x"), "no active user"),
    ]
    secret = tmp_path / "pw.txt"
    secret.write_text("a long enough password\n", encoding="utf-8")
    a.tafuta("users", "add", "amina", "--role", "caseworker", "--password-file", secret)
    cases.append(
        (("review", "0" * 32, "confirm", "--as", "amina", "--note", "x"), "no match with id")
    )
    for args, message in cases:
        result = a.tafuta(*args, check=False)
        assert result.returncode != 0, result
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_large_register_travels_in_messages_that_fit_an_envelope():
    """Key set 3 has ~57 keys a record: 2,000 records in one message were 9 MB, over the
    envelope's 8 MiB, and the peer refused them."""
    import secrets

    from node.federation.exchange import BATCH_KEYS, batched
    from protocol.blinding import BlindedRecord, new_pseudonym, to_wire
    from protocol.envelope import MAX_ENVELOPE_BYTES

    records = [
        BlindedRecord(new_pseudonym(), tuple(("near_mph_dist", secrets.token_bytes(32))
                                             for _ in range(60)))
        for _ in range(2000)
    ]  # fmt: skip
    chunks = batched(records)
    assert [r for chunk in chunks for r in chunk] == records
    assert len(chunks) > 1
    for chunk in chunks:
        assert sum(len(r.keys) for r in chunk) <= BATCH_KEYS
        # Sealing adds base64 (4/3) and a header: the payload must stay well under the limit.
        assert len(json.dumps(to_wire(chunk))) * 4 / 3 < MAX_ENVELOPE_BYTES * 0.6
