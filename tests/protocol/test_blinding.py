"""Blinding: commutative, so two nodes derive equal doubly blinded keys without either being
able to compute them alone; pseudonyms are random; bad points are refused."""

from __future__ import annotations

import re

import pytest

from protocol import blinding
from protocol.errors import BlindingError
from protocol.messages import validate

KEYS = {
    "KW-1": [("pair_mph_yw", "MWNX+SWT|e1004"), ("phone", "+254712345678")],
    "KW-2": [("pair_mph_yw", "ML+MHMT|e1003"), ("pair_mph_yw", "ML+MHMT|e1003")],
}


def test_blinding_commutes():
    a, b = blinding.new_scalar(), blinding.new_scalar()
    point = blinding.hash_to_point(1, "phone", "+254712345678")
    (once_a,) = blinding.blind_points(a, [point])
    (once_b,) = blinding.blind_points(b, [point])
    assert blinding.blind_points(b, [once_a]) == blinding.blind_points(a, [once_b])


def test_two_nodes_derive_equal_doubly_blinded_keys():
    """A's key blinded by A then B equals the same key of B's blinded by B then A."""
    a, b = blinding.new_scalar(), blinding.new_scalar()
    sent_a, refs_a = blinding.blind_own_keys(a, 1, {"KW-1": [("phone", "+254712345678")]})
    sent_b, refs_b = blinding.blind_own_keys(b, 1, {"NB-9": [("phone", "+254712345678")]})
    assert sent_a[0].keys != sent_b[0].keys  # once blinded, the same key looks different
    twice_a = blinding.blind_peer_keys(b, sent_a)
    twice_b = blinding.blind_peer_keys(a, sent_b)
    assert twice_a[0].keys == twice_b[0].keys
    assert refs_a[twice_a[0].pseudonym] == "KW-1"
    assert refs_b[twice_b[0].pseudonym] == "NB-9"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ((1, "phone", "+254712345678"), (2, "phone", "+254712345678")),  # key-set version
        ((1, "phone", "x"), (1, "pair_mph_yw", "x")),  # key type
        ((1, "ab", "c"), (1, "a", "bc")),  # where one part ends and the next begins
    ],
)
def test_points_are_domain_separated(one, other):
    assert blinding.hash_to_point(*one) != blinding.hash_to_point(*other)


def test_hashing_is_deterministic_and_canonical():
    point = blinding.hash_to_point(1, "phone", "+254712345678")
    assert point == blinding.hash_to_point(1, "phone", "+254712345678")
    assert len(point) == 32 and point[31] < 0x80


def test_each_record_gets_a_fresh_random_pseudonym():
    scalar = blinding.new_scalar()
    _, refs_first = blinding.blind_own_keys(scalar, 1, KEYS)
    _, refs_second = blinding.blind_own_keys(scalar, 1, KEYS)
    assert set(refs_first.values()) == set(KEYS)
    assert not set(refs_first) & set(refs_second)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", p) for p in refs_first)


def test_duplicate_keys_are_sent_once():
    sent, refs = blinding.blind_own_keys(blinding.new_scalar(), 1, KEYS)
    by_ref = {refs[r.pseudonym]: r for r in sent}
    assert len(by_ref["KW-2"].keys) == 1


def test_blinded_records_fit_the_wire_schema_and_come_back_unchanged():
    sent, _ = blinding.blind_own_keys(blinding.new_scalar(), 1, KEYS)
    payload = {"keyset": 1, "batch": "b1", "records": blinding.to_wire(sent),
               "announced_records": 2, "evaluation": "both"}  # fmt: skip
    validate("blinded-keys", payload)
    assert blinding.from_wire(payload["records"]) == sent


class TestRefusals:
    def test_a_low_order_point_from_a_peer_is_refused(self):
        record = blinding.BlindedRecord("A" * 22, (("phone", bytes(32)),))
        with pytest.raises(BlindingError, match="low-order"):
            blinding.blind_peer_keys(blinding.new_scalar(), [record])

    def test_a_key_of_the_wrong_length_is_refused(self):
        record = blinding.BlindedRecord("A" * 22, (("phone", b"short"),))
        with pytest.raises(BlindingError, match="32 bytes"):
            blinding.blind_peer_keys(blinding.new_scalar(), [record])

    def test_an_own_key_hashing_to_a_low_order_point_is_hashed_again(self, monkeypatch):
        """Both nodes retry with the same counter, so they still agree."""
        real = blinding.hash_to_point

        def unlucky(keyset, key_type, value, counter=0):
            return bytes(32) if counter == 0 else real(keyset, key_type, value, counter)

        monkeypatch.setattr(blinding, "hash_to_point", unlucky)
        a, b = blinding.new_scalar(), blinding.new_scalar()
        sent_a, _ = blinding.blind_own_keys(a, 1, {"A": [("phone", "1")]})
        sent_b, _ = blinding.blind_own_keys(b, 1, {"B": [("phone", "1")]})
        assert bytes(32) not in {k for r in sent_a + sent_b for _, k in r.keys}
        twice_a = blinding.blind_peer_keys(b, sent_a)
        twice_b = blinding.blind_peer_keys(a, sent_b)
        assert twice_a[0].keys == twice_b[0].keys

    def test_a_scalar_of_the_wrong_length_is_refused(self):
        with pytest.raises(BlindingError, match="32 bytes"):
            blinding.blind_points(b"short", [blinding.hash_to_point(1, "phone", "1")])


def test_a_large_batch_on_several_processes_gives_the_same_result(monkeypatch):
    monkeypatch.setattr(blinding, "PARALLEL_MIN", 10)
    monkeypatch.setattr(blinding, "CHUNK", 16)
    scalar = blinding.new_scalar()
    points = [blinding.hash_to_point(1, "phone", str(i)) for i in range(100)]
    done = []
    parallel = blinding.blind_points(scalar, points, workers=2, progress=done.append)
    assert parallel == blinding.blind_points(scalar, points, workers=1)
    assert sum(done) == 100


def test_protocol_does_not_import_matching_or_node():
    import ast
    from pathlib import Path

    source = Path(blinding.__file__).read_text("utf-8")
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not imported & {"matching", "node"}


class TestShuffling:
    """What leaves a node is in an order that says nothing about the input order."""

    def test_every_item_is_kept_once_and_the_order_is_not_the_input_order(self):
        items = [f"record-{i}" for i in range(50)] + ["twice", "twice"]
        out = blinding.shuffled(items)
        assert sorted(out) == sorted(items)
        assert out != items  # 1 in 52!/2 for a uniform shuffle

    def test_every_position_receives_every_item_about_equally_often(self):
        # 2,000 shuffles of 10 items: each item lands at each position 200 times on average
        # (standard deviation 13.4); the bounds are over 7 deviations away, so a uniform
        # shuffle fails this test with probability below 10^-10.
        counts = [[0] * 10 for _ in range(10)]
        for _ in range(2000):
            for position, item in enumerate(blinding.shuffled(range(10))):
                counts[position][item] += 1
        for row in counts:
            assert all(100 <= n <= 300 for n in row), row

    def test_an_empty_or_single_list_comes_back_as_it_was(self):
        assert blinding.shuffled([]) == []
        assert blinding.shuffled(["only"]) == ["only"]


@pytest.mark.parametrize("workers", [1, 2])
def test_keys_hashed_in_the_workers_blind_as_points_hashed_here(workers):
    """Large batches hash their keys to points inside the blinding workers: the tokens are the
    ones hashing first and blinding the points gives, in order, on one core or several."""
    scalar = blinding.new_scalar()
    keys = [("pair_mph_yw", f"NAME{i}+OTHER|e{i % 50}") for i in range(blinding.PARALLEL_MIN + 5)]
    points = [blinding.hash_to_point(4, t, v) for t, v in keys]
    done: list[int] = []
    hashed = blinding._blind_hashed(scalar, 4, keys, workers=workers, progress=done.append)
    assert hashed == blinding.blind_points(scalar, points, workers=1)
    assert sum(done) == len(keys)
