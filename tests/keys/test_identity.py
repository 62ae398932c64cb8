"""Identity keys: key ids, and HPKE with both suites from a peer's document to our private keys."""

from __future__ import annotations

import re

import pytest

from keys import HPKE_SUITES, SUITE_HYBRID, SUITE_X25519, SUPPORTED_SUITES, common_suite, key_id_for


def test_key_id_fits_the_envelope_header_and_names_the_signing_key(alice):
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", alice.key_id)
    assert alice.key_id == key_id_for(alice.document.document.signing_key)


def test_every_node_supports_the_hybrid_post_quantum_suite_first(alice):
    assert alice.document.document.suites == SUPPORTED_SUITES == (SUITE_HYBRID, SUITE_X25519)


@pytest.mark.parametrize("suite", SUPPORTED_SUITES)
def test_a_peer_encrypts_to_our_document_and_we_decrypt(alice, suite):
    document = alice.document.document
    sealed = HPKE_SUITES[suite].encrypt(b"hello", document.hpke_public_key(suite), info=b"t")
    opened = HPKE_SUITES[suite].decrypt(
        sealed, alice.decryption_key(alice.key_id, suite), info=b"t"
    )
    assert opened == b"hello"


def test_the_strongest_common_suite_is_chosen():
    assert common_suite(SUPPORTED_SUITES, (SUITE_X25519, SUITE_HYBRID)) == SUITE_HYBRID
    assert common_suite(SUPPORTED_SUITES, (SUITE_X25519,)) == SUITE_X25519
    assert common_suite(SUPPORTED_SUITES, ("future-suite",)) is None
