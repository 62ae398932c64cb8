"""A sync round rescores a peer once all the records it announced have arrived, not after every
batch (issue 16, item 2): each batch of keys that arrives makes a full rescoring stale."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from matching.synthetic import generate
from node.federation import exchange
from node.federation.exchange import SCORING_DEFER_SECONDS
from node.ops.lock import scoring_lock
from node.testing.inprocess import Pair


@pytest.fixture
def pair(tmp_path, monkeypatch):
    # Messages of at most 500 keys: B's 60 records leave in several blinded-keys messages, as a
    # real register of thousands does at 40,000.
    monkeypatch.setattr(exchange, "BATCH_KEYS", 500)
    registers = generate(40, 60, overlap=0.5, seed=5)
    made = Pair(tmp_path, registers.missing, registers.found, evaluation=("ours", "theirs"))
    yield made
    made.close()


def deliver_first_message(sender, receiver, peer) -> None:
    """Only the first of the sender's queued messages reaches the receiver."""
    message = sender.store.pending_messages(peer.id)[0]
    receiver.receive(sender.seal_for(peer, message["message_id"], message["type"],
                                     message["payload"]))  # fmt: skip


def at(federation, seconds: int) -> None:
    federation.clock = lambda: seconds


def test_a_new_process_waits_too_while_the_peers_keys_arrive(pair):
    """The rule reads the store alone: a `tafuta sync` started beside `serve` in the middle of
    an exchange does not score half of it (it used to, once per process)."""
    a, b = pair.a, pair.b
    b.prepare(pair.peer_of(b))
    deliver_first_message(b, a, pair.peer_of(b))  # half of B's records are here
    fresh = replace(a)  # another process: it has scored nothing yet
    assert not fresh.scoring_due(pair.peer_of(a))


@pytest.mark.parametrize(
    ("all_arrived", "seconds_later", "due"),
    [
        (False, 1, False),  # B's second batch is on its way: it changes every score
        (False, SCORING_DEFER_SECONDS, True),  # but a peer silent that long is scored anyway
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


def test_a_round_waits_for_the_replies_a_reachable_peer_is_still_sending(pair):
    """Replies to our keys change the candidates like the peer's keys do: while the peer takes
    our messages and its replies are on their way, scoring them now would be redone at once."""
    a, b = pair.a, pair.b
    peer = pair.peer_of(a)
    start = int(time.time())
    at(a, start)
    b.prepare(pair.peer_of(b))
    pair.carry(b, a)  # all B announced is here
    a.rescore(peer)
    a.prepare(peer)  # A's keys leave; B's replies will follow
    pair.carry(a, b)  # B took them and queued its replies, not yet delivered
    at(a, start + 1)
    assert a.store.peer_sync_state(peer.id)["needs_scoring"]
    assert not a.scoring_due(peer)
    pair.carry(b, a)  # the replies are here
    assert a.scoring_due(peer)


def test_a_peer_that_does_not_take_our_keys_does_not_hold_scoring_back(pair):
    a, b = pair.a, pair.b
    peer = pair.peer_of(a)
    start = int(time.time())
    at(a, start)
    b.prepare(pair.peer_of(b))
    pair.carry(b, a)
    a.rescore(peer)
    a.prepare(peer)
    message = a.store.pending_messages(peer.id)[0]
    a.store.postpone(peer.id, message["message_id"], start + 60, "cannot reach the peer")
    at(a, start + 1)
    assert a.scoring_due(peer)


def test_a_round_does_not_score_what_another_process_is_scoring(pair):
    """serve's sync thread and a `tafuta sync` beside it reach a quiet exchange together: one
    scores, the other leaves it (the lock is a file, as between two processes)."""
    a, b = pair.a, pair.b
    peer = pair.peer_of(a)
    b.prepare(pair.peer_of(b))
    pair.carry(b, a)
    assert a.scoring_due(peer)
    with scoring_lock(a.store, peer.id) as held:
        assert held
        assert a.rescore_when_due(peer) == -1
    assert a.store.peer_sync_state(peer.id)["needs_scoring"]
    assert a.rescore_when_due(peer) >= 0
    assert not a.store.peer_sync_state(peer.id)["needs_scoring"]
