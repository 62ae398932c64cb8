"""The blinded exchange between two nodes, in one process with real stores and real keys:
idempotence, incremental sync, retraction and the key budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys import KdfParams
from matching.synthetic import generate
from node.federation.exchange import Federation
from node.federation.inbox import OverBudget
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer
from protocol.errors import ReplayedEnvelope
from tests.node.conftest import PASSPHRASE, write_register

COUNTED = ("processed", "peer_blinded", "own_blinded", "outbox", "matches", "pseudonyms")


def counts(federation: Federation) -> dict[str, int]:
    conn = federation.store.conn
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


class Pair:
    """Two nodes that trust each other, with a courier moving their outboxes by hand."""

    def __init__(self, tmp_path, records_a, records_b):
        self.sides = []
        homes = []
        for name, records in (("Kwale Rescue", records_a), ("Mombasa Shelter", records_b)):
            path = tmp_path / name.split()[0].lower()
            home = create_node(path, name=name, passphrase=PASSPHRASE, kdf=KdfParams.cheap())
            store = Store.open(home.database_path)
            apply_import(plan_import(write_register(tmp_path / f"{path.name}.csv", records),
                                     store), store)  # fmt: skip
            homes.append((home, store))
        for (home, store), (other, _) in ((homes[0], homes[1]), (homes[1], homes[0])):
            add_peer(home, store, invite_token(other), actor="test")
        for (home, store), (other, _) in ((homes[0], homes[1]), (homes[1], homes[0])):
            digits = peer_fingerprint(home, store, other.name)
            trust_peer(home, store, other.name, digits, actor="test")
        for home, store in homes:
            home = open_home(home.path)
            self.sides.append(federation_for(home, store, unlock(home, PASSPHRASE),
                                             node_lexicon(home)))  # fmt: skip
        self.a, self.b = self.sides

    def peer_of(self, federation: Federation):
        return federation.trusted_peers()[0]

    def carry(self, sender: Federation, receiver: Federation) -> list[bytes]:
        """Seal the sender's outbox, deliver each envelope, hand the acks back."""
        peer = self.peer_of(sender)
        envelopes = []
        for message in sender.store.pending_messages(peer.id):
            body = sender.seal_for(peer, message["message_id"], message["type"],
                                   message["payload"])  # fmt: skip
            envelopes.append(body)
            received = receiver.receive(body)
            if received.ack is not None:
                sender.receive(received.ack)
        return envelopes

    def sync(self) -> None:
        for _ in range(2):
            for sender, receiver in ((self.a, self.b), (self.b, self.a)):
                sender.prepare(self.peer_of(sender))
                self.carry(sender, receiver)
        for side in self.sides:
            side.rescore(self.peer_of(side))

    def close(self):
        for side in self.sides:
            side.store.close()


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
    with pytest.raises(ReplayedEnvelope) as replay:
        pair.b.receive(again)
    assert counts(pair.b) == after_first
    # The refusal carries a fresh acknowledgement that clears the sender's outbox.
    pair.a.receive(replay.value.ack)
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
    keys_left = pair.b.store.conn.execute(
        "SELECT count(*) FROM peer_blinded WHERE pseudonym = ?", (match["peer_pseudonym"],)
    ).fetchone()[0]
    assert keys_left == 0


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
