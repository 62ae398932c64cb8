"""Fixtures for protocol tests: two nodes' key material as plain cryptography objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.envelope import SUITE_HYBRID, SUITE_X25519
from protocol.errors import UnknownSender


@dataclass
class Party:
    """One node's keys, and the lookups open_envelope needs, without a database."""

    key_id: str
    signing: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    x25519: x25519.X25519PrivateKey = field(default_factory=x25519.X25519PrivateKey.generate)
    hybrid: hpke.MLKEM768X25519PrivateKey = field(
        default_factory=lambda: hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()
        )
    )
    trusted: dict = field(default_factory=dict)
    processed: set = field(default_factory=set)

    def public(self, suite: str):
        return (self.hybrid if suite == SUITE_HYBRID else self.x25519).public_key()

    def verify_key(self, key_id: str):
        try:
            return self.trusted[key_id]
        except KeyError:
            raise UnknownSender(f"no trusted peer has key {key_id}") from None

    def decryption_key(self, key_id: str, suite: str):
        if key_id != self.key_id:
            return None
        return {SUITE_HYBRID: self.hybrid, SUITE_X25519: self.x25519}[suite]

    def seen(self, sender: str, message_id: str) -> bool:
        return (sender, message_id) in self.processed


@pytest.fixture
def alice() -> Party:
    return Party("alice-key-0001")


@pytest.fixture
def bob(alice) -> Party:
    bob = Party("bob-key-00000001")
    bob.trusted[alice.key_id] = alice.signing.public_key()
    alice.trusted[bob.key_id] = bob.signing.public_key()
    return bob


@pytest.fixture
def stranger() -> Party:
    """A node nobody trusts."""
    return Party("stranger-key-01")


@pytest.fixture
def forger(alice) -> Party:
    """Claims alice's key id but signs with a key of its own."""
    return Party(alice.key_id)
