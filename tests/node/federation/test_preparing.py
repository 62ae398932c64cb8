"""A sync round prepares its peers one after the other on a worker thread with a store
connection of its own, and delivers to each as soon as it is prepared (preparing.py). Preparing
stays one preparer per peer, across threads as across processes, and each record's keys are
computed once for all the round's peers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace

import pytest

from matching.synthetic import generate
from node.federation import exchange
from node.federation.exchange import Federation
from node.federation.keycache import KeyDigests
from node.federation.sync import sync_round
from node.ops.lock import exchange_lock
from node.store.db import Store
from node.testing.inprocess import Mesh


@pytest.fixture
def mesh(tmp_path):
    """A (30 missing records) trusting B and C; no URLs, so a round queues and sends nothing."""
    registers = generate(30, 30, overlap=0.5, seed=3)
    mesh = Mesh(tmp_path, {"A": registers.missing, "B": [], "C": []}, [("A", "B"), ("A", "C")])
    yield mesh
    mesh.close()


class RoundOnThread(threading.Thread):
    """A sync round of the node on a thread of its own, as another process would run it (its
    own connection, opened there, and no digests in memory); ``error`` holds what it raised."""

    def __init__(self, federation: Federation):
        super().__init__()
        self.federation, self.error = federation, None
        self.database = federation.store.database_file()

    def run(self) -> None:
        store = Store.open(self.database)
        node = replace(self.federation, store=store, _key_digests=KeyDigests())
        try:
            asyncio.run(sync_round(node))
        except BaseException as err:  # re-raised by the test through ``error``
            self.error = err
        finally:
            store.close()


def queued_records(store: Store, peer_id: int) -> list[str]:
    """Every pseudonym carried by a blinded-keys message in the outbox for the peer."""
    rows = store.conn.execute(
        "SELECT payload FROM outbox WHERE peer_id = ? AND type = 'blinded-keys'", (peer_id,)
    )
    return [record["p"] for (payload,) in rows for record in json.loads(payload)["records"]]


def test_a_round_prepares_every_peer_computing_each_records_keys_once(mesh, monkeypatch):
    computed = []
    real = exchange.match_keys
    monkeypatch.setattr(exchange, "match_keys", lambda person: computed.append(1) or real(person))
    a = mesh.fed["A"]
    asyncio.run(sync_round(a))
    for name in ("B", "C"):
        sent = queued_records(a.store, mesh.peer("A", name).id)
        assert len(sent) == len(set(sent)) == 30
    assert len(computed) == 30  # once for both peers


def test_two_rounds_at_once_queue_each_record_once_for_each_peer(mesh):
    a = mesh.fed["A"]
    rounds = [RoundOnThread(a), RoundOnThread(a)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join(timeout=120)
        assert thread.error is None
    for name in ("B", "C"):
        sent = queued_records(a.store, mesh.peer("A", name).id)
        assert len(sent) == len(set(sent)) == 30


def test_the_preparing_thread_waits_while_another_process_prepares_the_peer(mesh):
    a = mesh.fed["A"]
    peer_b, peer_c = mesh.peer("A", "B"), mesh.peer("A", "C")
    with exchange_lock(a.store, peer_b.id):  # as another process preparing B holds it
        round_ = RoundOnThread(a)
        round_.start()
        time.sleep(1.5)
        assert round_.is_alive(), "the round went on while B was being prepared elsewhere"
        assert queued_records(a.store, peer_b.id) == []
    round_.join(timeout=120)
    assert not round_.is_alive() and round_.error is None
    for peer in (peer_b, peer_c):
        sent = queued_records(a.store, peer.id)
        assert len(sent) == len(set(sent)) == 30
