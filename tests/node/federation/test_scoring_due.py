"""A sync round rescores a peer once its exchange is quiet, not after every batch (issue 16,
item 2): every batch of keys that arrives makes a full rescoring stale."""

from __future__ import annotations

import time

import pytest

from matching.synthetic import generate
from node.federation.exchange import SCORING_DEFER_SECONDS
from node.testing.inprocess import Pair


@pytest.fixture
def pair(tmp_path):
    regs = generate(40, 30, overlap=0.5, seed=5)
    made = Pair(tmp_path, regs.missing, regs.found)
    yield made
    made.close()


def at(federation, seconds: int) -> None:
    federation.clock = lambda: seconds


def test_the_first_round_of_a_process_scores_at_once_even_while_replies_are_awaited(pair):
    a, b = pair.a, pair.b
    b.prepare(pair.peer_of(b))
    pair.carry(b, a)  # B's keys arrive at A
    a.prepare(pair.peer_of(a))  # A's own keys leave: their replies are awaited
    assert a.store.settle_state([pair.peer_of(a).id])[pair.peer_of(a).id]["awaiting_replies"]
    assert a.scoring_due(pair.peer_of(a))


@pytest.mark.parametrize(
    ("replies_back", "seconds_later", "due"),
    [
        (False, 1, False),  # our keys' replies still awaited: the next batch changes everything
        (False, SCORING_DEFER_SECONDS, True),  # but never deferred longer than this
        (True, 1, True),  # quiet: score now
    ],
)
def test_a_round_after_a_scoring_waits_while_the_exchange_is_under_way(
    pair, replies_back, seconds_later, due
):
    a, b = pair.a, pair.b
    peer = pair.peer_of(a)
    start = int(time.time())
    at(a, start)
    b.prepare(pair.peer_of(b))
    pair.carry(b, a)
    a.rescore(peer)
    a.prepare(peer)
    pair.carry(a, b)  # B blinds A's keys and queues its reply
    if replies_back:
        pair.carry(b, a)
    assert a.store.peer_sync_state(peer.id)["needs_scoring"]
    at(a, start + seconds_later)
    assert a.scoring_due(peer) is due


def test_nothing_to_score_is_never_due(pair):
    peer = pair.peer_of(pair.a)
    pair.sync()
    assert not pair.a.store.peer_sync_state(peer.id)["needs_scoring"]
    assert not pair.a.scoring_due(peer)
