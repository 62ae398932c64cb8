"""A sync round rescores a peer once all the records it announced have arrived, not after every
batch (issue 16, item 2): each batch of keys that arrives makes a full rescoring stale."""

from __future__ import annotations

import time

import pytest

from matching.synthetic import generate
from node.federation import exchange
from node.federation.exchange import SCORING_DEFER_SECONDS
from node.testing.inprocess import Pair


@pytest.fixture
def pair(tmp_path, monkeypatch):
    # Messages of at most 500 keys: B's 60 records leave in several blinded-keys messages, as a
    # real register of thousands does at 40,000.
    monkeypatch.setattr(exchange, "BATCH_KEYS", 500)
    registers = generate(40, 60, overlap=0.5, seed=5)
    made = Pair(tmp_path, registers.missing, registers.found)
    yield made
    made.close()


def deliver_first_message(sender, receiver, peer) -> None:
    """Only the first of the sender's queued messages reaches the receiver."""
    message = sender.store.pending_messages(peer.id)[0]
    receiver.receive(sender.seal_for(peer, message["message_id"], message["type"],
                                     message["payload"]))  # fmt: skip


def at(federation, seconds: int) -> None:
    federation.clock = lambda: seconds


def test_the_first_round_of_a_process_scores_at_once(pair):
    a, b = pair.a, pair.b
    b.prepare(pair.peer_of(b))
    deliver_first_message(b, a, pair.peer_of(b))  # half of B's records are here
    assert a.scoring_due(pair.peer_of(a))


@pytest.mark.parametrize(
    ("all_arrived", "seconds_later", "due"),
    [
        (False, 1, False),  # B's second batch is on its way: it changes every score
        (False, SCORING_DEFER_SECONDS, True),  # but a peer that stops halfway is scored anyway
        (True, 1, True),  # everything B announced is here: score now
    ],
)
def test_a_round_after_a_scoring_waits_while_the_peers_keys_arrive(
    pair, all_arrived, seconds_later, due
):
    a, b = pair.a, pair.b
    peer = pair.peer_of(a)
    start = int(time.time())
    at(a, start)
    b.prepare(pair.peer_of(b))
    assert len(b.store.pending_messages(pair.peer_of(b).id)) >= 2
    deliver_first_message(b, a, pair.peer_of(b))
    a.rescore(peer)
    if all_arrived:
        pair.carry(b, a)
    else:
        a.prepare(peer)  # our own keys change too: something to score
    assert a.store.peer_sync_state(peer.id)["needs_scoring"]
    at(a, start + seconds_later)
    assert a.scoring_due(peer) is due


def test_nothing_to_score_is_never_due(pair):
    peer = pair.peer_of(pair.a)
    pair.sync()
    assert not pair.a.store.peer_sync_state(peer.id)["needs_scoring"]
    assert not pair.a.scoring_due(peer)
