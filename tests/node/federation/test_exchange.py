"""The blinded exchange between two nodes, in one process with real stores and real keys:
idempotence, incremental sync, retraction and the key budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching.synthetic import generate
from node.federation.exchange import Federation
from node.federation.inbox import OverBudget
from node.testing.inprocess import Pair
from protocol.errors import ReplayedEnvelope

COUNTED = ("processed", "peer_blinded", "own_blinded", "outbox", "matches", "pseudonyms")


def counts(federation: Federation) -> dict[str, int]:
    conn = federation.store.conn
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


@pytest.fixture
def pair(tmp_path):
    regs = generate(60, 50, overlap=0.5, seed=11)
    made = Pair(tmp_path, regs.missing, regs.found)
    yield made
    made.close()


def test_both_sides_store_the_same_suggestions(pair):
    pair.sync()
    a = {m["match_id"]: m["score"] for m in pair.a.store.list_matches()}
    b = {m["match_id"]: m["score"] for m in pair.b.store.list_matches()}
    assert a and a == b
    assert pair.a.store.outbox_count() == pair.b.store.outbox_count() == 0


def test_the_same_message_twice_has_one_effect(pair):
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    message = pair.a.store.pending_messages(peer.id)[0]
    body = pair.a.seal_for(peer, message["message_id"], message["type"], message["payload"])
    pair.b.receive(body)
    after_first = counts(pair.b)
    again = pair.a.seal_for(peer, message["message_id"], message["type"], message["payload"])
    replay = pair.b.receive(again)
    assert isinstance(replay.replayed, ReplayedEnvelope) and replay.replayed.status == 409
    assert counts(pair.b) == after_first
    # The answer to a replay is a fresh acknowledgement that clears the sender's outbox.
    pair.a.receive(replay.ack)
    assert message["message_id"] not in {
        m["message_id"] for m in pair.a.store.pending_messages(peer.id)
    }


def test_only_new_or_changed_records_are_sent_again(pair):
    pair.sync()
    peer = pair.peer_of(pair.a)
    assert pair.a.prepare(peer) == 0
    pseudonyms = pair.a.store.pseudonyms(peer.id)
    ref = sorted(pseudonyms)[0]
    pair.a.store.conn.execute(
        "UPDATE records SET family_name = 'Changed-Name', version = version + 1 WHERE ref = ?",
        (ref,),
    )
    assert pair.a.prepare(peer) == 1
    queued = pair.a.store.pending_messages(peer.id)
    assert [r["p"] for r in queued[0]["payload"]["records"]] == [pseudonyms[ref][0]]


def test_retraction_removes_keys_and_suggestions_at_the_peer(pair):
    pair.sync()
    match = pair.b.store.list_matches()[0]
    local = next(m for m in pair.a.store.list_matches() if m["match_id"] == match["match_id"])
    pair.a.store.conn.execute(
        "UPDATE records SET retracted = 1 WHERE ref = ?", (local["local_ref"],)
    )
    pair.sync()
    assert match["match_id"] not in {m["match_id"] for m in pair.b.store.list_matches()}
    for table in ("peer_blinded", "peer_records"):  # keys and record gone, whoever evaluates
        left = pair.b.store.conn.execute(
            f"SELECT count(*) FROM {table} WHERE pseudonym = ?", (match["peer_pseudonym"],)
        ).fetchone()[0]
        assert left == 0, table


def small_budget(federation: Federation, keys: int = 10) -> None:
    peer = federation.trusted_peers()[0]
    federation.store.set_peer_budget(peer.id, keys, actor="test", now=federation.clock())


def test_blinding_over_the_key_budget_is_refused_and_recorded(pair):
    small_budget(pair.b)
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    message = pair.a.store.pending_messages(peer.id)[0]
    before = counts(pair.b)
    body = pair.a.seal_for(peer, message["message_id"], message["type"], message["payload"])
    with pytest.raises(OverBudget) as refused:
        pair.b.receive(body)
    assert refused.value.status == 429
    assert counts(pair.b) == before
    events = pair.b.store.peer_events(pair.peer_of(pair.b).id)
    assert "over-budget" in [e["kind"] for e in events]


def test_status_shows_the_over_budget_refusal_to_the_coordinator(pair, run):
    small_budget(pair.b)
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    message = pair.a.store.pending_messages(peer.id)[0]
    with pytest.raises(OverBudget):
        pair.b.receive(
            pair.a.seal_for(peer, message["message_id"], message["type"], message["payload"])
        )
    database = pair.b.store.conn.execute("PRAGMA database_list").fetchone()[2]
    out = run("--home", Path(database).parent, "status").output
    assert "ALERT:" in out and "Kwale Rescue: over-budget: asked to blind" in out
