"""Nodes in one process, with real stores and keys, and a courier that moves each outbox to its
peer by hand (federation/loopback.py): ``Mesh`` for nodes trusting each other along given links
(directory gossip, shared statistics), ``Pair`` the two-node Mesh most exchange tests use.
Nothing crosses a network; every message still goes through seal, receive (the inbox's handler
table) and the acknowledgement."""

from __future__ import annotations

from pathlib import Path

from keys import KdfParams
from node.federation.exchange import Federation
from node.federation.loopback import carry
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer

from .processes import PASSPHRASE, write_register


class Mesh:
    """``Mesh(tmp_path, {"A": records, "B": [], …}, [("A", "B"), ("B", "C")])``: node "A" is
    called "Node A" unless ``names`` says otherwise."""

    def __init__(
        self,
        root: Path,
        nodes: dict[str, list[dict]],
        links: list[tuple[str, str]],
        names: dict[str, str] | None = None,
        evaluations: dict[tuple[str, str], str] | None = None,
    ):
        """``evaluations[(x, y)]``: who evaluates, as x's coordinator sets it for peer y
        (trust_peer's default, "auto", where it says nothing: one node, by key order)."""
        self.root = root
        self.names = {key: (names or {}).get(key, f"Node {key}") for key in nodes}
        self.homes = {}
        self.stores = {}
        for name, records in nodes.items():
            home = create_node(
                root / name, name=self.names[name], passphrase=PASSPHRASE, kdf=KdfParams.cheap()
            )
            store = Store.open(home.database_path)
            if records:
                register = write_register(root / f"{name}.csv", records)
                apply_import(plan_import(register, store), store)
            self.homes[name], self.stores[name] = home, store
        for a, b in links:
            for x, y in ((a, b), (b, a)):
                add_peer(self.homes[x], self.stores[x], invite_token(self.homes[y]), actor="test")
            for x, y in ((a, b), (b, a)):
                digits = peer_fingerprint(self.homes[x], self.stores[x], self.names[y])
                evaluation = (evaluations or {}).get((x, y), "auto")
                trust_peer(self.homes[x], self.stores[x], self.names[y], digits, actor="test",
                           evaluation=evaluation)  # fmt: skip
        self.links = links
        self.fed: dict[str, Federation] = {}
        for name, home in self.homes.items():
            home = open_home(home.path)
            self.fed[name] = federation_for(
                home, self.stores[name], unlock(home, PASSPHRASE), node_lexicon(home)
            )

    def peer(self, at: str, name: str):
        return self.fed[at].peer_named(self.names[name])

    def carry(self, sender: str, receiver: str, queue: bool = True) -> int:
        """Queue what ``sender`` shares with ``receiver``, deliver it, hand the acks back."""
        fed_s, fed_r = self.fed[sender], self.fed[receiver]
        peer = self.peer(sender, receiver)
        if queue:
            fed_s.prepare_shared(peer)
        return len(carry(fed_s, peer, fed_r))

    def gossip(self, rounds: int = 4) -> int:
        """Carry along every link both ways, ``rounds`` times; returns messages delivered."""
        total = 0
        for _ in range(rounds):
            for a, b in self.links:
                total += self.carry(a, b) + self.carry(b, a)
        return total

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


class Pair:
    """Two nodes that trust each other — Kwale Rescue (a missing list) and Mombasa Shelter (a
    found register) — as a two-node Mesh, spoken to through their Federations."""

    def __init__(self, tmp_path, records_a, records_b, evaluation: tuple[str, str] | None = None):
        """``evaluation``: who evaluates as A's and as B's coordinator set it, e.g. ("ours",
        "theirs"); by default "auto" on both (one node, by key order)."""
        self.mesh = Mesh(
            tmp_path,
            {"kwale": records_a, "mombasa": records_b},
            [("kwale", "mombasa")],
            names={"kwale": "Kwale Rescue", "mombasa": "Mombasa Shelter"},
            evaluations=None
            if evaluation is None
            else {("kwale", "mombasa"): evaluation[0], ("mombasa", "kwale"): evaluation[1]},
        )
        self.a, self.b = self.mesh.fed["kwale"], self.mesh.fed["mombasa"]
        self.sides = [self.a, self.b]

    def peer_of(self, federation: Federation):
        return federation.trusted_peers()[0]

    def carry(self, sender: Federation, receiver: Federation) -> list[bytes]:
        """Seal the sender's outbox, deliver each envelope, hand the acks back."""
        return carry(sender, self.peer_of(sender), receiver)

    def sync(self) -> None:
        for _ in range(2):
            for sender, receiver in ((self.a, self.b), (self.b, self.a)):
                sender.prepare(self.peer_of(sender))
                self.carry(sender, receiver)
        for side in self.sides:
            side.rescore(self.peer_of(side))
        # The evaluating side's notices (by default one node evaluates: trust_peer's "auto").
        for sender, receiver in ((self.a, self.b), (self.b, self.a)):
            self.carry(sender, receiver)

    def close(self) -> None:
        self.mesh.close()
