"""The checked-in test vectors in docs/protocol-vectors.json still open with this code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from protocol import envelope, vectors
from protocol.messages import validate

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "protocol-vectors.json").read_text()
)


class _Recipient:
    def __init__(self):
        self.keys = vectors.vector_keys("recipient")
        self.signing = vectors.vector_keys("sender")["signing"].public_key()

    def verify_key(self, key_id):
        assert key_id == VECTORS["sender"]["key_id"]
        return self.signing

    def decryption_key(self, key_id, suite):
        assert key_id == VECTORS["recipient"]["key_id"]
        return self.keys["hybrid" if suite == envelope.SUITE_HYBRID else "x25519"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["suite"])
def test_checked_in_vector_opens_to_its_payload(vector):
    recipient = _Recipient()
    opened = envelope.open_envelope(
        vector["envelope"].encode(), senders=recipient, own=recipient,
        seen=lambda *_: False, validate=validate, now=VECTORS["created"],
    )  # fmt: skip
    assert opened.payload == vector["payload"]
    header_bytes = opened.header.canonical()
    assert header_bytes.decode() == vector["canonical_header"]
    assert envelope._info(header_bytes).hex() == vector["hpke_info_hex"]
    parsed = envelope.parse(vector["envelope"].encode())
    signed = envelope._signed_bytes(header_bytes, parsed.ciphertext)
    assert hashlib.sha256(signed).hexdigest() == vector["signed_bytes_sha256"]


def test_vector_keys_are_reproducible_from_their_seeds():
    assert vectors.generate()["sender"] == VECTORS["sender"]
    regenerated = vectors.generate()["vectors"]
    for old, new in zip(VECTORS["vectors"], regenerated, strict=True):
        assert old["canonical_header"] == new["canonical_header"]
