"""Several nodes in one process, with real stores and keys, trusting each other along given
links, and a courier that moves each outbox to its peer by hand (as tests/node/test_exchange.py
does for two nodes). For directory gossip and shared statistics."""

from __future__ import annotations

from pathlib import Path

from keys import KdfParams
from node.federation.exchange import Federation
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, peer_fingerprint, trust_peer
from tests.node.conftest import PASSPHRASE, write_register


class Mesh:
    """``Mesh(tmp_path, {"A": records, "B": [], …}, [("A", "B"), ("B", "C")])``."""

    def __init__(self, root: Path, nodes: dict[str, list[dict]], links: list[tuple[str, str]]):
        self.root = root
        self.homes = {}
        self.stores = {}
        for name, records in nodes.items():
            home = create_node(
                root / name, name=f"Node {name}", passphrase=PASSPHRASE, kdf=KdfParams.cheap()
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
                digits = peer_fingerprint(self.homes[x], self.stores[x], f"Node {y}")
                trust_peer(self.homes[x], self.stores[x], f"Node {y}", digits, actor="test")
        self.links = links
        self.fed: dict[str, Federation] = {}
        for name, home in self.homes.items():
            home = open_home(home.path)
            self.fed[name] = federation_for(
                home, self.stores[name], unlock(home, PASSPHRASE), node_lexicon(home)
            )

    def peer(self, at: str, name: str):
        return self.fed[at].peer_named(f"Node {name}")

    def carry(self, sender: str, receiver: str, queue: bool = True) -> int:
        """Queue what ``sender`` shares with ``receiver``, deliver it, hand the acks back."""
        fed_s, fed_r = self.fed[sender], self.fed[receiver]
        peer = self.peer(sender, receiver)
        if queue:
            fed_s.prepare_shared(peer)
        delivered = 0
        for message in fed_s.store.pending_messages(peer.id):
            body = fed_s.seal_for(peer, message["message_id"], message["type"], message["payload"])
            received = fed_r.receive(body)
            if received.ack is not None:
                fed_s.receive(received.ack)
            delivered += 1
        return delivered

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
