"""Rotation of per-peer scalars and pseudonyms (issue 12, item 4): after a rotation nothing the
peer held before links to what it holds after, a reviewed match keeps its id, and the re-exchange
gives the same suggestions. Two real nodes in one process, real stores and sealed envelopes."""

from __future__ import annotations

import pytest

from keys import KdfParams
from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.federation import loopback
from node.federation.exchange import Federation
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.review import rules as review
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.testing.processes import HOME_PASSPHRASE as PASSPHRASE
from node.testing.processes import write_register
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer

REGS = generate(50, 40, overlap=0.5, seed=14)
DAY = 24 * 3600


def peer(federation: Federation):
    return federation.trusted_peers()[0]


def carry(sender: Federation, receiver: Federation) -> int:
    return len(loopback.carry(sender, peer(sender), receiver))


def exchange(a: Federation, b: Federation) -> None:
    for _ in range(3):
        for x in (a, b):
            x.prepare(peer(x))
        while carry(a, b) + carry(b, a):
            pass
    for x in (a, b):
        x.rescore(peer(x), force=True)
    while carry(a, b) + carry(b, a):  # the evaluating node's notices
        pass


# Who evaluates, as A's and B's nodes hold it: both, or one of the two as the default ("auto")
# picks it by key order — both outcomes, whatever the keys of a run.
ROLES = [("both", "both"), ("ours", "theirs"), ("theirs", "ours")]


@pytest.fixture(params=ROLES, ids=["both", "A evaluates", "B evaluates"])
def nodes(tmp_path, request):
    evaluation_a, evaluation_b = request.param
    made = []
    for name, records in (("Kwale Rescue", REGS.missing), ("Mombasa Shelter", REGS.found)):
        path = tmp_path / name.split()[0].lower()
        home = create_node(path, name=name, passphrase=PASSPHRASE, kdf=KdfParams.cheap())
        store = Store.open(home.database_path)
        apply_import(plan_import(write_register(tmp_path / f"{path.name}.csv", records), store),
                     store)  # fmt: skip
        made.append((home, store))
    (home_a, store_a), (home_b, store_b) = made
    add_peer(home_a, store_a, invite_token(home_b), actor="test")
    add_peer(home_b, store_b, invite_token(home_a), actor="test")
    digits = peer_fingerprint(home_a, store_a, home_b.name)
    trust_peer(home_a, store_a, home_b.name, digits, actor="test")
    trust_peer(home_b, store_b, home_a.name, digits, actor="test")
    for store, evaluation in ((store_a, evaluation_a), (store_b, evaluation_b)):
        peer_id = store.iter_peers()[0]["id"]
        store.set_peer_evaluation(peer_id, evaluation, actor="test", now=1,
                                  auto=evaluation != "both")  # fmt: skip
    a, b = (
        federation_for(open_home(h.path), s, unlock(h, PASSPHRASE), node_lexicon(h))
        for h, s in made
    )
    exchange(a, b)
    yield a, b
    a.store.close()
    b.store.close()


def held_by(b: Federation) -> tuple[set[bytes], set[str]]:
    """A's tokens and pseudonyms as B holds them (only pseudonyms when B does not compare)."""
    keys = b.store.blinded_keys("peer_blinded", peer(b).id)
    rows = b.store.conn.execute(
        "SELECT pseudonym FROM peer_records WHERE peer_id = ?", (peer(b).id,)
    )
    return {bytes(t) for ks in keys.values() for _, t in ks}, {r[0] for r in rows}


def scores_by_refs(a: Federation, b: Federation) -> dict[tuple[str, str], float]:
    b_refs = b.store.refs_for_pseudonyms(peer(b).id)
    return {(m["local_ref"], b_refs[m["peer_pseudonym"]]): m["score"]
            for m in a.store.list_matches() if m["status"] == "suggested"}  # fmt: skip


def test_after_a_rotation_nothing_the_peer_held_links_to_what_it_holds(nodes):
    a, b = nodes
    tokens_before, pseudonyms_before = held_by(b)
    scores_before = scores_by_refs(a, b)
    renewed = a.rotate(peer(a), actor="test")
    assert renewed == len(REGS.missing)
    exchange(a, b)
    tokens_after, pseudonyms_after = held_by(b)
    assert bool(tokens_after) == (b.store.peer_evaluation(peer(b).id) != "theirs")
    assert not tokens_before & tokens_after
    assert pseudonyms_after and not pseudonyms_before & pseudonyms_after
    assert scores_by_refs(a, b) == scores_before
    assert "peer-secrets-rotated" in [r["action"] for r in a.store.iter_audit()]


def test_a_reviewed_match_keeps_its_id_across_a_rotation(nodes):
    a, b = nodes
    user_id = add_user(a.store, "amina", "caseworker", "a long password here", Profile(),
                       actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
    match = a.store.list_matches()[0]
    review.decide(a.store, match["match_id"], "unsure", "", a.store.user_by_id(user_id), 10)
    a.rotate(peer(a), actor="test")
    exchange(a, b)
    assert a.store.match(match["match_id"])["local_pseudonym"] == match["local_pseudonym"]
    ids = [m["match_id"] for m in a.store.list_matches()]
    assert ids.count(match["match_id"]) == 1


def test_rotation_is_due_after_rotate_days_and_sync_does_it(nodes):
    a, _ = nodes
    start = a.clock()
    assert not a.rotation_due(peer(a))
    a.clock = lambda: start + 91 * DAY
    assert a.rotation_due(peer(a))
    a.rotate_days = 0
    assert not a.rotation_due(peer(a))


def test_peers_rotate_refuses_an_unknown_peer_and_changes_nothing(nodes, run, tmp_path):
    a, _ = nodes
    before = a.store.pseudonyms(peer(a).id)
    result = run("--home", tmp_path / "kwale", "peers", "rotate", "Nobody")
    assert result.exit_code != 0 and "only for a trusted peer" in result.output
    assert a.store.pseudonyms(peer(a).id) == before
    result = run("--home", tmp_path / "kwale", "peers", "rotate", "Mombasa Shelter")
    assert result.exit_code == 0 and "new blinding scalar" in result.output
    assert not set(a.store.pseudonyms(peer(a).id).values()) & set(before.values())
