"""Key budgets set by people, not by the peer (issue 12, item 3): two real nodes in one process,
real stores and sealed envelopes; the peer's batches are crafted with the node's own functions,
as a modified client would send them."""

from __future__ import annotations

import sqlite3

import pytest

from keys import KdfParams
from matching import KEYSET_VERSION
from matching.synthetic import generate
from node.federation.exchange import Federation
from node.federation.inbox import OverBudget
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.testing.processes import HOME_PASSPHRASE as PASSPHRASE
from node.testing.processes import write_register
from node.trust.budgets import DEFAULT_KEY_BUDGET, Profile, jumps, offered_budget
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, budget_status, peer_fingerprint, trust_peer
from protocol import blinding
from protocol.envelope import new_message_id

COUNTED = ("processed", "peer_blinded", "outbox", "budget_keys", "peer_profiles")


def counts(federation: Federation) -> dict[str, int]:
    conn = federation.store.conn
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


class Nodes:
    """Ours (a missing list) and theirs (a found register), trusting each other."""

    def __init__(self, tmp_path, ours_budget: int = DEFAULT_KEY_BUDGET):
        regs = generate(60, 50, overlap=0.5, seed=12)
        made = []
        for name, records in (("Kwale Rescue", regs.missing), ("Mombasa Shelter", regs.found)):
            path = tmp_path / name.split()[0].lower()
            home = create_node(path, name=name, passphrase=PASSPHRASE, kdf=KdfParams.cheap())
            store = Store.open(home.database_path)
            register = write_register(tmp_path / f"{path.name}.csv", records)
            apply_import(plan_import(register, store), store)
            made.append((home, store))
        (home_a, store_a), (home_b, store_b) = made
        add_peer(home_a, store_a, invite_token(home_b), actor="test")
        add_peer(home_b, store_b, invite_token(home_a), actor="test")
        digits = peer_fingerprint(home_a, store_a, home_b.name)
        trust_peer(home_a, store_a, home_b.name, digits, actor="coordinator", budget=ours_budget)
        trust_peer(home_b, store_b, home_a.name, digits, actor="test")
        self.ours, self.theirs = (
            federation_for(open_home(h.path), s, unlock(h, PASSPHRASE), node_lexicon(h))
            for h, s in made
        )
        self.home = home_a.path

    def peer(self, federation: Federation):
        return federation.trusted_peers()[0]

    def send(self, records: list[list[tuple[str, str]]], announced: int = 50) -> bytes | None:
        """Their modified client: blind these plaintext keys, one record each, and send them."""
        peer = self.peer(self.theirs)
        scalar = self.theirs._scalar(peer)
        wire = []
        for keys in records:
            blinded = blinding._blind_hashed(scalar, KEYSET_VERSION, keys, workers=1, progress=None)
            typed = tuple(zip([t for t, _ in keys], blinded, strict=True))
            wire.append(blinding.BlindedRecord(blinding.new_pseudonym(), typed))
        payload = {"keyset": KEYSET_VERSION, "batch": new_message_id()[:16],
                   "records": blinding.to_wire(wire), "announced_records": announced,
                   "evaluation": self.theirs.store.peer_evaluation(peer.id)}  # fmt: skip
        body = self.theirs.seal_for(peer, new_message_id(), "blinded-keys", payload)
        return self.ours.receive(body).ack


def guesses(n: int, start: int = 0) -> list[list[tuple[str, str]]]:
    return [[("phone", f"+254700{start + i:06d}")] for i in range(n)]


@pytest.fixture
def nodes(tmp_path):
    made = Nodes(tmp_path, ours_budget=30)
    yield made
    made.ours.store.close()
    made.theirs.store.close()


def test_a_batch_past_the_budget_is_refused_with_429_alerted_audited_and_changes_nothing(
    nodes, run
):
    nodes.send(guesses(25))
    before = counts(nodes.ours)
    with pytest.raises(OverBudget) as refused:
        nodes.send(guesses(10, start=100))
    assert refused.value.status == 429
    assert counts(nodes.ours) == before
    events = nodes.ours.store.peer_events(nodes.peer(nodes.ours).id)
    assert "over-budget" in [e["kind"] for e in events]
    actions = [row["action"] for row in nodes.ours.store.iter_audit()]
    assert "peer-alert-over-budget" in actions
    out = run("--home", nodes.home, "status").output
    assert "ALERT:" in out and "Mombasa Shelter: over-budget" in out


def test_announcing_more_records_never_raises_the_budget(nodes):
    nodes.send(guesses(25), announced=100_000_000)
    with pytest.raises(OverBudget):
        nodes.send(guesses(10, start=100), announced=100_000_000)
    info = budget_status(nodes.ours.store, "Mombasa Shelter")
    assert (info["budget"], info["used"]) == (30, 25)


def test_keys_sent_again_and_records_without_keys_cost_nothing(nodes):
    nodes.send(guesses(25))
    nodes.send(guesses(25))  # the same keys again, in new records
    nodes.send([[] for _ in range(1000)])  # rows without keys
    assert budget_status(nodes.ours.store, "Mombasa Shelter")["used"] == 25
    nodes.send(guesses(5, start=25))
    assert budget_status(nodes.ours.store, "Mombasa Shelter")["used"] == 30


def test_the_budget_window_rolls_after_thirty_days(nodes):
    nodes.send(guesses(30))
    with pytest.raises(OverBudget):
        nodes.send(guesses(1, start=500))
    start = nodes.ours.clock()
    nodes.ours.clock = lambda: start + 31 * 24 * 3600
    nodes.theirs.clock = nodes.ours.clock
    nodes.send(guesses(1, start=500))
    assert budget_status(nodes.ours.store, "Mombasa Shelter", now=nodes.ours.clock())["used"] == 1


def test_a_jump_in_announced_records_raises_an_alert_but_the_batch_is_processed(tmp_path):
    made = Nodes(tmp_path)
    made.send(guesses(5), announced=50)
    made.send(guesses(5, start=10), announced=50_000)
    kinds = [e["kind"] for e in made.ours.store.peer_events(made.peer(made.ours).id)]
    assert kinds == ["announced-jump"]
    assert budget_status(made.ours.store, "Mombasa Shelter")["used"] == 10


PROFILE = Profile(2000, 2000, 26_000, {"pair_mph_yw": 0.3, "dob_dist": 0.1, "phone": 0.6})


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (PROFILE, Profile(2000, 100, 1300, PROFILE.type_shares), []),
        (PROFILE, Profile(9000, 100, 1300, PROFILE.type_shares), ["announced-jump"]),
        (PROFILE, Profile(2000, 5000, 65_000, PROFILE.type_shares), ["volume-jump"]),
        (PROFILE, Profile(2000, 1000, 1000, {"pair_mph_dist": 1.0}), ["profile-jump"]),
        (None, Profile(100_000_000, 10, 10, {"phone": 1.0}), ["announced-jump"]),
        (None, Profile(2000, 2000, 26_000, PROFILE.type_shares), []),
    ],
)
def test_jumps_are_told_from_the_peers_history_and_our_own_profile(before, now, expected):
    assert [kind for kind, _ in jumps(before, now, PROFILE, DEFAULT_KEY_BUDGET)] == expected


def test_trust_offers_the_default_budget_and_peers_budget_changes_it(tmp_path, run):
    made = Nodes(tmp_path)
    home = made.home
    out = run("--home", home, "peers", "budget", "Mombasa Shelter").output
    assert f"0 of {DEFAULT_KEY_BUDGET:,} keys used in the last 30 days" in out
    out = run("--home", home, "peers", "budget", "Mombasa Shelter", "80000").output
    assert "0 of 80,000 keys" in out
    assert made.ours.key_budget(made.peer(made.ours)) == 80_000
    actions = [row["action"] for row in made.ours.store.iter_audit()]
    assert actions.count("peer-budget-set") == 2


@pytest.mark.parametrize("bad", ["-1", "abc", "1e9", "100000001", "", "3.5"])
def test_a_bad_budget_is_refused_with_a_clear_message_and_changes_nothing(tmp_path, run, bad):
    made = Nodes(tmp_path)
    result = run("--home", made.home, "peers", "budget", "--", "Mombasa Shelter", bad)
    assert result.exit_code != 0
    assert "a key budget is a whole number" in result.output
    assert made.ours.key_budget(made.peer(made.ours)) == DEFAULT_KEY_BUDGET


def test_a_budget_for_an_unknown_peer_is_refused(tmp_path, run):
    made = Nodes(tmp_path)
    result = run("--home", made.home, "peers", "budget", "Nobody", "10")
    assert result.exit_code != 0 and "Nobody" in result.output


def test_the_database_refuses_a_negative_budget(nodes):
    with pytest.raises(sqlite3.IntegrityError):
        nodes.ours.store.conn.execute(
            "INSERT INTO peer_budgets (peer_id, keys, set_by, set_at) VALUES (99, -1, 'x', 0)"
        )


@pytest.mark.parametrize(
    ("configured", "own_records", "offered"),
    [
        (None, 0, DEFAULT_KEY_BUDGET),  # a new node: the floor
        (None, 1_000, DEFAULT_KEY_BUDGET),  # 80,000 is under the floor
        (None, 6_008, 480_640),  # 80 keys for each of our records
        (50_000, 6_008, 50_000),  # the admin's [federation] default_key_budget wins
        (0, 6_008, 0),  # even when it blinds nothing
    ],
)
def test_the_offered_budget_follows_our_register_unless_the_admin_set_one(
    configured, own_records, offered
):
    assert offered_budget(configured, own_records) == offered
