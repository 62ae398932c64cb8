"""A sync round where nothing changed computes no match keys (keycache.py): serve plans every
peer every round, and computing 6,000 records' keys took seconds of each round (issue 16). The
digests are kept in the store, so a node opened again (a `tafuta sync` beside `serve`, a
restart) does not compute them all again either, unless what makes the keys changed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from matching import Lexicon
from matching.synthetic import generate
from node.federation import exchange
from node.federation.exchange import Federation
from node.federation.keycache import KeyDigests, keys_salt
from node.store.db import Store
from node.testing.inprocess import Pair


def counting(monkeypatch) -> list[int]:
    calls = [0]
    real = exchange.match_keys

    def match_keys(record):
        calls[0] += 1
        return real(record)

    monkeypatch.setattr(exchange, "match_keys", match_keys)
    return calls


def edit_one_record(store: Store, ref: str | None = None) -> str:
    """Change one record's family name behind the store's methods, as an admin editing the
    database by hand (or another process) would; the record's ref."""
    ref = ref or next(store.iter_records())["ref"]
    store.conn.execute("UPDATE records SET family_name = 'Otherwise' WHERE ref = ?", (ref,))
    return ref


@pytest.fixture
def pair(tmp_path):
    registers = generate(30, 30, overlap=0.5, seed=3)
    made = Pair(tmp_path, registers.missing, registers.found)
    yield made
    made.close()


@pytest.fixture
def reopen():
    """Open a federation again as a new process would (opened_again); closed at the end."""
    opened: list[Federation] = []

    def again(federation: Federation, **changes) -> Federation:
        opened.append(opened_again(federation, **changes))
        return opened[-1]

    yield again
    for federation in opened:
        federation.store.close()


def test_a_round_with_nothing_changed_computes_no_keys(pair, monkeypatch):
    peer = pair.peer_of(pair.a)
    calls = counting(monkeypatch)
    assert pair.a.prepare(peer) == 30
    first = calls[0]
    assert first >= 30
    assert pair.a.prepare(peer) == 0
    assert calls[0] == first  # nothing changed: no keys computed again


def test_a_changed_record_is_sent_again(pair, monkeypatch):
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    edit_one_record(pair.a.store)
    calls = counting(monkeypatch)
    assert pair.a.prepare(peer) == 1
    assert calls[0] >= 1


def test_keys_are_computed_again_only_when_the_content_changes():
    digests = KeyDigests()
    computed = []

    def compute(record):
        computed.append(record["ref"])
        return [("name", record["name"])], record["name"]

    assert digests.digest({"ref": "r1", "name": "Amina"}, compute) == ([("name", "Amina")], "Amina")
    assert digests.digest({"ref": "r1", "name": "Amina"}, compute) == (None, "Amina")
    assert digests.digest({"ref": "r1", "name": "Asha"}, compute) == ([("name", "Asha")], "Asha")
    assert computed == ["r1", "r1"]


def opened_again(federation: Federation, **changes) -> Federation:
    """The same node as a new process opens it: its own connection, no digests in memory."""
    store = Store.open(federation.store.database_file())
    return replace(federation, store=store, _key_digests=KeyDigests(), **changes)


def test_a_node_opened_again_computes_no_keys_for_records_it_already_sent(
    pair, reopen, monkeypatch
):
    peer = pair.peer_of(pair.a)
    assert pair.a.prepare(peer) == 30
    again = reopen(pair.a)
    calls = counting(monkeypatch)
    assert again.prepare(peer) == 0
    assert calls[0] == 0  # the digests came from the store


def test_a_changed_lexicon_computes_every_records_keys_again(pair, reopen, monkeypatch):
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    lexicon = pair.a.lexicon
    variants = {**lexicon.name_variants, "zzyzx": "zzyzx"}  # changes no record's keys
    changed = Lexicon(**{**lexicon.__dict__, "name_variants": variants})
    assert keys_salt(changed) != keys_salt(lexicon)
    again = reopen(pair.a, lexicon=changed)
    calls = counting(monkeypatch)
    assert again.prepare(peer) == 0  # the same keys: nothing to send
    assert calls[0] == 30  # but each record's keys were computed to know it


def test_a_record_changed_by_another_process_is_sent_again(pair, reopen):
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    edit_one_record(pair.a.store)
    again = reopen(pair.a)
    assert again.prepare(peer) == 1


def test_a_purged_record_leaves_no_digest_behind(pair):
    pair.a.prepare(pair.peer_of(pair.a))
    store = pair.a.store
    ref = next(store.iter_records())["ref"]
    assert ref in {row[0] for row in store.record_key_digests()}
    store.conn.execute("DELETE FROM records WHERE ref = ?", (ref,))
    assert ref not in {row[0] for row in store.record_key_digests()}
    assert len(store.record_key_digests()) == 29


def test_a_quiet_round_reads_no_records_until_one_changes(pair, monkeypatch):
    peer, store = pair.peer_of(pair.a), pair.a.store
    pair.a.prepare(peer)
    assert pair.a.prepare(peer) == 0  # found nothing to send: quiet from now on
    reads = []
    real = store.iter_records
    monkeypatch.setattr(store, "iter_records", lambda **kw: reads.append(1) or real(**kw))
    assert pair.a.prepare(peer) == 0
    assert reads == []
    # Changed outside the store's methods, as by hand: the triggers count it all the same.
    edit_one_record(store, next(real())["ref"])
    assert pair.a.prepare(peer) == 1
    assert reads == [1]


def test_a_rotation_after_a_quiet_round_sends_every_record_again(pair):
    peer = pair.peer_of(pair.a)
    pair.a.prepare(peer)
    assert pair.a.prepare(peer) == 0
    pair.a.rotate(peer, actor="test")
    assert pair.a.prepare(peer) == 30
