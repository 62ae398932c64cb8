"""Counts the inbox reads for every batch, kept by triggers (migration 14), always equal to
counting the rows again: whatever inserts and deletes reach the tables, through the store or
not, and for a database that already held rows when it was migrated."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.store.budgets import _budget_count
from node.store.db import Store
from node.store.migrations import MIGRATIONS

KEY_TYPES = ("name_sound", "birth_year", "district", "phone")
PEERS = (1, 2)


def add_peers(store: Store) -> None:
    for peer_id in PEERS:
        store.conn.execute(
            "INSERT INTO peers (id, name, url, key_id, document, version, valid_until, state, "
            "state_since, added_at) VALUES (?, ?, '', ?, '{}', 1, 0, 'trusted', '', '')",
            (peer_id, f"peer {peer_id}", f"key-{peer_id}"),
        )


def recounted_profile(store: Store, peer_id: int) -> tuple[int, dict[str, int]]:
    rows = store.conn.execute(
        "SELECT pseudonym, key_type FROM own_blinded WHERE peer_id = ?", (peer_id,)
    ).fetchall()
    return len({p for p, _ in rows}), dict(sorted(Counter(t for _, t in rows).items()))


def recounted_budget(store: Store, peer_id: int, since: int | None) -> int:
    return store.conn.execute(
        "SELECT count(*) FROM budget_keys WHERE peer_id = ? AND at >= ?", (peer_id, since or 0)
    ).fetchone()[0]


def put_keys(store: Store, peer_id: int, pseudonym: str, types: list[str]) -> None:
    store.conn.executemany(
        "INSERT INTO own_blinded (peer_id, pseudonym, key_type, token) VALUES (?, ?, ?, ?)",
        [(peer_id, pseudonym, t, bytes(32)) for t in types],
    )


pseudonyms = st.sampled_from(["p1", "p2", "p3", "p4"])
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("keys"),
            st.sampled_from(PEERS),
            pseudonyms,
            st.lists(st.sampled_from(KEY_TYPES), max_size=4),
        ),
        st.tuples(st.just("drop record"), st.sampled_from(PEERS), pseudonyms),
        st.tuples(st.just("drop one key"), st.sampled_from(PEERS), pseudonyms),
        st.tuples(st.just("drop peer"), st.sampled_from(PEERS)),
        st.tuples(
            st.just("budget"),
            st.sampled_from(PEERS),
            st.lists(st.binary(min_size=1, max_size=1), max_size=5),
            st.integers(0, 5),
        ),
        st.tuples(st.just("budget window"), st.sampled_from(PEERS), st.integers(0, 6)),
    ),
    max_size=25,
)


def apply(store: Store, operation: tuple) -> None:
    kind, peer_id = operation[0], operation[1]
    conn = store.conn
    if kind == "keys":
        put_keys(store, peer_id, operation[2], operation[3])
    elif kind == "drop record":
        conn.execute(
            "DELETE FROM own_blinded WHERE peer_id = ? AND pseudonym = ?", (peer_id, operation[2])
        )
    elif kind == "drop one key":
        conn.execute(
            "DELETE FROM own_blinded WHERE rowid = (SELECT min(rowid) FROM own_blinded "
            "WHERE peer_id = ? AND pseudonym = ?)",
            (peer_id, operation[2]),
        )
    elif kind == "drop peer":
        conn.execute("DELETE FROM own_blinded WHERE peer_id = ?", (peer_id,))
    elif kind == "budget":
        conn.executemany(
            "INSERT INTO budget_keys (peer_id, digest, at) VALUES (?, ?, ?) "
            "ON CONFLICT (peer_id, digest) DO NOTHING",
            [(peer_id, digest, operation[3]) for digest in operation[2]],
        )
    else:
        window = (peer_id, operation[2])
        conn.execute("DELETE FROM budget_keys WHERE peer_id = ? AND at < ?", window)


@settings(max_examples=60, deadline=None)
@given(operations=operations, since=st.integers(0, 6))
def test_kept_counts_equal_counting_again_after_any_writes(tmp_path_factory, operations, since):
    with Store.open(tmp_path_factory.mktemp("counts") / "t.db") as store:
        add_peers(store)
        for operation in operations:
            apply(store, operation)
        for peer_id in PEERS:
            assert store.own_key_profile(peer_id) == recounted_profile(store, peer_id)
            assert _budget_count(store.conn, peer_id) == recounted_budget(store, peer_id, None)
            assert _budget_count(store.conn, peer_id, since) == recounted_budget(
                store, peer_id, since
            )


def test_a_database_holding_keys_when_migrated_counts_them(tmp_path):
    path = tmp_path / "old.db"
    with Store.open(path, migrations=MIGRATIONS[:13]) as old:
        add_peers(old)
        put_keys(old, 1, "p1", ["name_sound", "birth_year"])
        put_keys(old, 1, "p2", ["name_sound"])
        old.conn.execute("INSERT INTO budget_keys (peer_id, digest, at) VALUES (2, x'01', 5)")
    with Store.open(path) as store:
        assert store.own_key_profile(1) == (2, {"birth_year": 1, "name_sound": 2})
        assert store.own_key_profile(2) == (0, {})
        assert _budget_count(store.conn, 2) == 1
        put_keys(store, 1, "p3", ["phone"])
        assert store.own_key_profile(1) == (3, {"birth_year": 1, "name_sound": 2, "phone": 1})


def test_a_doubly_blinded_key_cannot_be_changed_in_place(tmp_path):
    """The counts follow inserts and deletes; an update would escape them, so it is refused."""
    with Store.open(tmp_path / "t.db") as store:
        add_peers(store)
        put_keys(store, 1, "p1", ["phone"])
        with pytest.raises(sqlite3.IntegrityError, match="replaced, not updated"):
            store.conn.execute("UPDATE own_blinded SET key_type = 'district'")
        assert store.own_key_profile(1) == (1, {"phone": 1})
