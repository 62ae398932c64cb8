"""A sync round where nothing changed computes no match keys (keycache.py): serve plans every
peer every round, and computing 6,000 records' keys took seconds of each round (issue 16)."""

from __future__ import annotations

from matching.synthetic import generate
from node.federation import exchange
from node.federation.keycache import KeyDigests
from node.testing.inprocess import Pair


def counting(monkeypatch) -> list[int]:
    calls = [0]
    real = exchange.match_keys

    def match_keys(record):
        calls[0] += 1
        return real(record)

    monkeypatch.setattr(exchange, "match_keys", match_keys)
    return calls


def test_a_round_with_nothing_changed_computes_no_keys(tmp_path, monkeypatch):
    registers = generate(30, 30, overlap=0.5, seed=3)
    pair = Pair(tmp_path, registers.missing, registers.found)
    try:
        peer = pair.peer_of(pair.a)
        calls = counting(monkeypatch)
        assert pair.a.prepare(peer) == 30
        first = calls[0]
        assert first >= 30
        assert pair.a.prepare(peer) == 0
        assert calls[0] == first  # nothing changed: no keys computed again
    finally:
        pair.close()


def test_a_changed_record_is_sent_again(tmp_path, monkeypatch):
    registers = generate(30, 30, overlap=0.5, seed=3)
    pair = Pair(tmp_path, registers.missing, registers.found)
    try:
        peer = pair.peer_of(pair.a)
        pair.a.prepare(peer)
        record = next(pair.a.store.iter_records())
        pair.a.store.conn.execute(
            "UPDATE records SET family_name = 'Otherwise' WHERE ref = ?", (record["ref"],)
        )
        calls = counting(monkeypatch)
        assert pair.a.prepare(peer) == 1
        assert calls[0] >= 1
    finally:
        pair.close()


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
