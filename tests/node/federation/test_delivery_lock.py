"""One process delivers to a peer at a time (``delivery_lock``): serve's sync thread and a
`tafuta sync` beside it sent the same queued messages in step, and the peer opened each of
them again only to answer it as a replay."""

from __future__ import annotations

import asyncio

import pytest

from matching.synthetic import generate
from node.federation.sync import PeerReport, deliver
from node.ops.lock import delivery_lock
from node.testing.inprocess import Mesh


class Refusing:
    """A client session that fails the test if anything is posted with it."""

    def post(self, *args, **kwargs):
        raise AssertionError("posted to a peer another process delivers to")


class Unreachable:
    """A client session whose every post fails as a peer that is down does."""

    def __init__(self):
        self.posts = 0

    def post(self, *args, **kwargs):
        self.posts += 1
        raise OSError("connection refused")


@pytest.fixture
def queued(tmp_path):
    """A (20 missing records) with its blinded keys for B queued in its outbox."""
    registers = generate(20, 20, overlap=0.5, seed=3)
    mesh = Mesh(tmp_path, {"A": registers.missing, "B": []}, [("A", "B")])
    a, peer_b = mesh.fed["A"], mesh.peer("A", "B")
    a.prepare(peer_b)
    assert a.store.outbox_count(peer_b.id) > 0
    yield a, peer_b
    mesh.close()


def test_a_peer_another_process_delivers_to_is_left_to_it(queued):
    a, peer_b = queued
    waiting = a.store.outbox_count(peer_b.id)
    report = PeerReport(peer_b.name)
    with delivery_lock(a.store, peer_b.id) as held:
        assert held
        asyncio.run(deliver(a, peer_b, Refusing(), report))
    assert report.sent == 0 and not report.error
    assert a.store.outbox_count(peer_b.id) == waiting


def test_the_holder_stops_at_the_first_failure_and_lets_go(queued):
    a, peer_b = queued
    session = Unreachable()
    report = PeerReport(peer_b.name)
    asyncio.run(deliver(a, peer_b, session, report))
    assert session.posts == 1, "a peer that is down is tried once a round, not once a message"
    assert report.error.startswith("cannot reach")
    with delivery_lock(a.store, peer_b.id) as held:
        assert held, "the lock was let go"
