"""Fixtures for keys tests: a fixed clock and two nodes' keyrings with cheap key derivation."""

from __future__ import annotations

import pytest

from keys import Identity, KdfParams, Keyring, SignedDocument, build_document

NOW = 1_800_000_000  # a fixed clock: every test sees the same "now"
DAY = 24 * 3600


@pytest.fixture
def alice() -> Keyring:
    return Keyring.create(
        name="Kwale Rescue", url="https://kwale.example", now=NOW, kdf=KdfParams.cheap()
    )


@pytest.fixture
def bob() -> Keyring:
    return Keyring.create(name="Mombasa Shelter", url="", now=NOW, kdf=KdfParams.cheap())


def _document_for(
    identity: Identity,
    *,
    version: int,
    now: int = NOW,
    previous=None,
    signers=None,
    name: str = "Kwale Rescue",
    validity: int = 365 * DAY,
) -> SignedDocument:
    document = build_document(
        identity,
        name=name,
        url="",
        version=version,
        now=now,
        validity_seconds=validity,
        previous_key_id=previous,
    )
    data = document.signed_bytes()
    signers = signers or (identity,)
    return SignedDocument(document, {s.key_id: s.sign(data) for s in signers})


@pytest.fixture
def make_document():
    """make_document(identity, version=…, now=…, previous=…, signers=…, validity=…)."""
    return _document_for


@pytest.fixture
def now() -> int:
    """The fixed clock of the keys tests."""
    return NOW
