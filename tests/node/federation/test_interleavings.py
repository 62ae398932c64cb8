"""Two nodes agree whatever order their steps run in: hypothesis draws interleavings of the
in-process steps a deployment runs at the same time (two preparers for the same peer, message
delivery one envelope at a time, rescoring, imports, retractions, review decisions), then lets
the pair settle and checks that both sides hold the same matches with the same scores and
evidence, and that each holds exactly the other's live records."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.records.importer import apply_import, plan_import
from node.review import rules as review
from node.testing.inprocess import Mesh
from node.testing.processes import comparable_matches, write_register

SIDES = ("A", "B")
OTHER = {"A": "B", "B": "A"}

step = st.one_of(
    st.tuples(st.just("plan"), st.sampled_from(SIDES)),
    st.tuples(st.just("commit"), st.sampled_from(SIDES)),
    st.tuples(st.just("deliver"), st.sampled_from(SIDES)),
    st.tuples(st.just("rescore"), st.sampled_from(SIDES)),
    st.tuples(st.just("score"), st.sampled_from(SIDES)),
    st.tuples(st.just("store_scores"), st.sampled_from(SIDES)),
    st.tuples(st.just("edit"), st.sampled_from(SIDES), st.integers(0, 50)),
    st.tuples(st.just("retract"), st.sampled_from(SIDES), st.integers(0, 50)),
    st.tuples(st.just("decide"), st.sampled_from(SIDES), st.integers(0, 50)),
)


class Interleaving:
    """A pair of in-process nodes and the steps hypothesis may run on them, in any order."""

    def __init__(self, root: Path):
        registers = generate(24, 20, overlap=0.6, seed=7)
        self.records = {"A": [dict(r) for r in registers.missing],
                        "B": [dict(r) for r in registers.found]}  # fmt: skip
        self.mesh = Mesh(root, {s: self.records[s] for s in SIDES}, [("A", "B")])
        self.root = root
        self.plans: dict[str, list] = {"A": [], "B": []}
        self.scorings: dict[str, list] = {"A": [], "B": []}
        self.users = {}
        for side in SIDES:
            store = self.mesh.stores[side]
            add_user(store, "case", "caseworker", "a long enough password",
                     Profile("Case Worker", "Org", "+254700000000", "c@example.org"),
                     actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
            self.users[side] = store.user_by_name("case")

    def fed(self, side):
        return self.mesh.fed[side]

    def peer(self, side):
        return self.mesh.peer(side, OTHER[side])

    def run(self, action: str, side: str, n: int = 0) -> None:
        getattr(self, action)(side, n)

    def plan(self, side, _n):
        plan = self.fed(side).plan(self.peer(side))
        if plan is not None:
            self.plans[side].append(plan)

    def commit(self, side, _n):
        if self.plans[side]:
            self.fed(side).commit(self.peer(side), self.plans[side].pop(0))

    def deliver(self, side, _n) -> int:
        """Carry the first message waiting in ``side``'s outbox, and its ack back."""
        sender, receiver = self.fed(side), self.fed(OTHER[side])
        peer = self.peer(side)
        pending = sender.store.pending_messages(peer.id)
        if not pending:
            return 0
        message = pending[0]
        body = sender.seal_for(peer, message["message_id"], message["type"], message["payload"])
        received = receiver.receive(body)
        if received.ack is not None:
            sender.receive(received.ack)
        return 1

    def rescore(self, side, _n):
        self.fed(side).rescore(self.peer(side))

    def score(self, side, _n):
        """The slow half of a scoring pass (the sync thread), other steps may follow first."""
        self.scorings[side].append(self.fed(side).score(self.peer(side)))

    def store_scores(self, side, _n):
        if self.scorings[side]:
            self.fed(side).store_scores(self.peer(side), self.scorings[side].pop(0))

    def edit(self, side, n):
        records = self.records[side]
        record = records[n % len(records)]
        record["given_names"] = (record.get("given_names") or "X") + "a"
        path = write_register(self.root / f"edit-{side}.csv", records)
        store = self.mesh.stores[side]
        apply_import(plan_import(path, store), store)

    def retract(self, side, n):
        store = self.mesh.stores[side]
        live = [r["ref"] for r in store.iter_records()]
        if live:
            store.retract_record(live[n % len(live)], actor="test", reason="test", now=2)

    def decide(self, side, n):
        store = self.mesh.stores[side]
        open_matches = store.list_matches("suggested")
        if open_matches:
            match = open_matches[n % len(open_matches)]
            decision = ("confirm", "reject", "unsure")[n % 3]
            review.decide(store, match["match_id"], decision, "checked the file",
                          self.users[side], now=3)  # fmt: skip

    def settle(self) -> None:
        """What a deployment does once nobody acts: prepare, deliver, score, until quiet."""
        for _ in range(30):
            moved = 0
            for side in SIDES:
                self.plans[side].clear()
                self.scorings[side].clear()
                moved += self.fed(side).prepare(self.peer(side))
            for side in SIDES:
                while self.deliver(side, 0):
                    moved += 1
            for side in SIDES:
                if self.fed(side).rescore(self.peer(side)) >= 0:
                    moved += 1
            if not moved:
                return
        raise AssertionError("the pair did not settle")

    def matches(self, side) -> dict[str, tuple[float, str]]:
        return comparable_matches(self.mesh.stores[side].conn, f"Node {OTHER[side]}")

    def live_pseudonyms(self, side) -> set[str]:
        known = self.fed(side).store.pseudonyms(self.peer(side).id)
        return {pseudonym for pseudonym, digest in known.values() if digest is not None}

    def held_by(self, side) -> set[str]:
        fed = self.fed(side)
        return set(fed.store.peer_record_pseudonyms(self.peer(side).id))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=4, max_size=30))
# Two processes preparing for the same peer at once: the race that sent records twice.
@example(steps=[("plan", "A"), ("plan", "A"), ("commit", "A"), ("commit", "A")])
# A decision made while the pair's scoring was in flight, then a record withdrawn.
@example(
    steps=[
        ("plan", "A"),
        ("commit", "A"),
        ("plan", "B"),
        ("commit", "B"),
        ("deliver", "A"),
        ("deliver", "B"),
        ("deliver", "A"),
        ("deliver", "B"),
        ("rescore", "A"),
        ("decide", "A", 0),
        ("edit", "B", 3),
        ("retract", "A", 1),
    ]
)
def test_both_nodes_agree_after_any_interleaving_of_their_steps(steps):
    with tempfile.TemporaryDirectory() as tmp:
        pair = Interleaving(Path(tmp))
        try:
            for action, side, *rest in steps:
                pair.run(action, side, *rest)
            pair.settle()
            assert pair.matches("A") == pair.matches("B")
            assert pair.held_by("B") == pair.live_pseudonyms("A")
            assert pair.held_by("A") == pair.live_pseudonyms("B")
        finally:
            pair.mesh.close()


def test_a_pair_that_settled_finds_candidates_at_all():
    """The property above is not vacuous: the same pair, settled, suggests matches."""
    with tempfile.TemporaryDirectory() as tmp:
        pair = Interleaving(Path(tmp))
        try:
            pair.settle()
            assert pair.matches("A")
            assert pair.matches("A") == pair.matches("B")
        finally:
            pair.mesh.close()
