"""Node documents: canonical bytes, self-signatures, validity, and which updates a peer accepts.

Tables of situations, python-tuf style: each row one situation and its one expected outcome.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from keys import (
    BadSignature,
    ExpiredDocument,
    Identity,
    MalformedDocument,
    RevokedKey,
    RollbackRefused,
    RotationRefused,
    parse_signed_document,
    verify_self_signed,
    verify_update,
)

DAY = 24 * 3600


class TestCanonicalForm:
    def test_document_survives_a_round_trip_byte_for_byte(self, alice):
        wire = alice.document.to_json()
        assert parse_signed_document(wire).to_json() == wire

    def test_signature_verifies_after_another_node_reformats_the_json(self, alice, now):
        """Any JSON library may reorder keys or add spaces; the signature covers canonical bytes."""
        reformatted = json.dumps(json.loads(alice.document.to_json()), indent=4)
        signed = parse_signed_document(reformatted.encode("utf-8"))
        assert verify_self_signed(signed, now).key_id == alice.key_id

    def test_canonical_bytes_are_sorted_compact_escaped_json(self, make_document, now):
        """The same canonical JSON as the envelope's (docs/protocol.md)."""
        identity = Identity.generate(now)
        doc = make_document(identity, version=1, name="Ushirika wa Wanawake – Kilifi").document
        domain, body = doc.signed_bytes().split(b"\x00", 1)
        assert domain == b"tafuta-node-document-v1"
        expected = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        assert body == expected.encode("ascii")
        assert json.loads(body)["name"] == "Ushirika wa Wanawake – Kilifi"


class TestSelfSignedDocuments:
    @pytest.mark.parametrize(
        ("situation", "error", "message"),
        [
            ("name changed after signing", BadSignature, "does not verify"),
            ("signed by another key under this key id", BadSignature, "does not verify"),
            ("signed only by the previous key", BadSignature, "not signed by its own key"),
            ("expired a day ago", ExpiredDocument, "expired"),
            ("valid only from next week", ExpiredDocument, "not valid before"),
        ],
    )
    def test_is_refused(self, situation, error, message, alice, make_document, now):
        identity, other = alice.current, Identity.generate(now)
        good = alice.document
        signed = {
            "name changed after signing": lambda: type(good)(
                dataclasses.replace(good.document, name="Trafficker"), good.signatures
            ),
            "signed by another key under this key id": lambda: type(good)(
                good.document, {identity.key_id: other.sign(good.document.signed_bytes())}
            ),
            "signed only by the previous key": lambda: make_document(
                identity, version=2, previous=other.key_id, signers=(other,)
            ),
            "expired a day ago": lambda: make_document(identity, version=1, now=now - 366 * DAY),
            "valid only from next week": lambda: make_document(
                identity, version=1, now=now + 7 * DAY
            ),
        }[situation]()
        with pytest.raises(error, match=message):
            verify_self_signed(signed, now)

    def test_a_clock_a_little_behind_is_tolerated(self, alice, make_document, now):
        signed = make_document(alice.current, version=1, now=now + 60)
        assert verify_self_signed(signed, now).version == 1

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda d: {**d, "extra": 1},
            lambda d: {k: v for k, v in d.items() if k != "url"},
            lambda d: {**d, "version": "2"},
            lambda d: {**d, "version": 0},
            lambda d: {**d, "key_id": "A" * 22},
            lambda d: {**d, "name": "two\nlines"},
            lambda d: {**d, "name": "Mombasa \u202eretlehS"},
            lambda d: {**d, "url": "https://kwale.example/\u202e"},
            lambda d: {**d, "url": "ftp://x"},
            lambda d: {**d, "suites": ["x25519"]},
            lambda d: {**d, "valid_until": d["valid_from"]},
            lambda d: {**d, "type": "something-else"},
        ],
        ids=[
            "extra field",
            "missing field",
            "version as text",
            "version zero",
            "key id of another key",
            "name of two lines",
            "name with a right-to-left override",
            "url with a right-to-left override",
            "url not http",
            "suite list not matching keys",
            "empty validity period",
            "wrong type",
        ],
    )
    def test_malformed_document_is_refused(self, alice, mangle):
        outer = json.loads(alice.document.to_json())
        outer["document"] = mangle(outer["document"])
        with pytest.raises(MalformedDocument):
            parse_signed_document(json.dumps(outer).encode())


# Each row: (situation, how the update is made, expected error or None for accepted).
# ``old`` is the identity the peer trusts (its document at version 1); ``new`` a fresh one.
UPDATE_CASES = [
    ("rotation signed by old and new key", "rotate", {}, None),
    ("rotation signed only by the new key", "rotate", {"signers": "new"}, RotationRefused),
    ("rotation signed only by the old key", "rotate", {"signers": "old"}, RotationRefused),
    (
        "rotation not following on from the trusted key",
        "rotate",
        {"previous": "other"},
        RotationRefused,
    ),
    (
        "rotation signed by an impostor as the old key",
        "rotate",
        {"signers": "forged-old"},
        BadSignature,
    ),
    ("rollback to an older version", "renew", {"version": 0}, RollbackRefused),
    ("replay of the same version", "renew", {"version": 1}, RollbackRefused),
    ("rotation with an older version", "rotate", {"version": 1}, RollbackRefused),
    ("renewal signed by the same key", "renew", {}, None),
    ("renewal with a bad signature", "renew", {"tamper": True}, BadSignature),
    ("expired update", "rotate", {"now_offset": -400 * DAY}, ExpiredDocument),
    ("rotation from a revoked key", "rotate", {"revoked": "old"}, RevokedKey),
    ("renewal signed only by a revoked key", "renew", {"revoked": "old"}, RevokedKey),
    ("rotation to a revoked key", "rotate", {"revoked": "new"}, RevokedKey),
]


@pytest.mark.parametrize(
    ("situation", "kind", "options", "error"),
    UPDATE_CASES,
    ids=[row[0] for row in UPDATE_CASES],
)
def test_update_of_a_trusted_document(situation, kind, options, error, alice, make_document, now):
    old = alice.current
    current = make_document(old, version=2).document  # what the peer holds
    new = Identity.generate(now) if kind == "rotate" else old
    stranger = Identity.generate(now)
    previous = {"other": stranger.key_id}.get(options.get("previous"), old.key_id)
    signers = {
        "new": (new,),
        "old": (old,),
        "forged-old": (new, _Impostor(old.key_id, stranger)),
    }.get(options.get("signers"), (new, old) if kind == "rotate" else (old,))
    version = current.version + 1 if "version" not in options else options["version"] + 1
    when = now + options.get("now_offset", 0)
    signed = make_document(
        new,
        version=version,
        now=when,
        previous=previous if kind == "rotate" else None,
        signers=signers,
    )
    if options.get("tamper"):
        signed = type(signed)(signed.document, {old.key_id: bytes(64)})
    revoked = {"old": {old.key_id}, "new": {new.key_id}}.get(options.get("revoked"), set())
    if error is None:
        accepted = verify_update(current, signed, now, revoked)
        assert accepted.key_id == new.key_id
    else:
        with pytest.raises(error) as refused:
            verify_update(current, signed, now, revoked)
        assert "Kwale Rescue" in str(refused.value)


class _Impostor:
    """Signs under someone else's key id with its own key."""

    def __init__(self, key_id: str, identity: Identity):
        self.key_id, self._identity = key_id, identity

    def sign(self, data: bytes) -> bytes:
        return self._identity.sign(data)


def test_rotation_document_made_by_the_keyring_is_accepted(alice, now):
    rotated = alice.rotate(name="Kwale Rescue", url="", now=now + DAY)
    accepted = verify_update(alice.document.document, rotated.document, now + DAY)
    assert accepted.previous_key_id == alice.key_id
    assert set(rotated.document.signatures) == {alice.key_id, rotated.key_id}


def test_a_rotation_is_also_a_valid_invitation_for_a_new_peer(alice, now):
    rotated = alice.rotate(name="Kwale Rescue", url="", now=now)
    assert verify_self_signed(rotated.document, now).key_id == rotated.key_id
