"""The sealed envelope: what a node accepts, and every way it refuses, in the specified order."""

from __future__ import annotations

import json

import pytest

from protocol import envelope as env
from protocol.errors import (
    BadPayload,
    BadSignature,
    EnvelopeTooLarge,
    MalformedEnvelope,
    ReplayedEnvelope,
    StaleEnvelope,
    UndecryptableEnvelope,
    UnknownSender,
    WrongRecipient,
)
from protocol.messages import validate

NOW = 1_800_000_000
PAYLOAD = {"pseudonyms": ["A" * 22]}


def seal(sender, recipient, *, suite=env.SUITE_HYBRID, now=NOW, message_id=None,
         message_type="retraction", payload=PAYLOAD, recipient_key_id=None) -> bytes:  # fmt: skip
    return env.seal(
        message_type=message_type,
        payload=payload,
        sender_key_id=sender.key_id,
        signing_key=sender.signing,
        recipient_key_id=recipient_key_id or recipient.key_id,
        recipient_public_key=recipient.public(suite),
        suite=suite,
        now=now,
        message_id=message_id,
    )


def open_as(recipient, data: bytes, now=NOW, max_size=env.MAX_ENVELOPE_BYTES):
    return env.open_envelope(
        data, senders=recipient, own=recipient, seen=recipient.seen, validate=validate,
        now=now, max_size=max_size,
    )  # fmt: skip


@pytest.mark.parametrize("suite", [env.SUITE_HYBRID, env.SUITE_X25519])
def test_sealed_envelope_opens_for_its_recipient(alice, bob, suite):
    opened = open_as(bob, seal(alice, bob, suite=suite))
    assert opened.payload == PAYLOAD
    assert opened.header.sender == alice.key_id
    assert opened.header.suite == suite


def test_hybrid_suite_is_chosen_when_both_support_it():
    assert env.choose_suite([env.SUITE_X25519, env.SUITE_HYBRID], [env.SUITE_HYBRID,
                            env.SUITE_X25519]) == env.SUITE_HYBRID  # fmt: skip
    assert env.choose_suite([env.SUITE_X25519], [env.SUITE_HYBRID, env.SUITE_X25519]) == (
        env.SUITE_X25519
    )


def _flip(data: bytes, field: str) -> bytes:
    outer = json.loads(data)
    raw = env.unb64(outer[field])
    outer[field] = env.b64(bytes([raw[0] ^ 1]) + raw[1:])
    return json.dumps(outer).encode()


def _edit_header(data: bytes, **changes) -> bytes:
    outer = json.loads(data)
    outer["header"].update(changes)
    return json.dumps(outer).encode()


def _replay(alice, bob):
    data = seal(alice, bob)
    opened = open_as(bob, data)
    bob.processed.add((opened.header.sender, opened.header.id))
    return data


def _encrypted_to_someone_else(alice, bob, stranger):
    """Correctly signed by alice, but the ciphertext was encrypted to the stranger's key."""
    header = env.Header(
        type="retraction",
        sender=alice.key_id,
        recipient=bob.key_id,
        id=env.new_message_id(),
        created=NOW,
        suite=env.SUITE_X25519,
    )
    header_bytes = header.canonical()
    ciphertext = env.SUITES[env.SUITE_X25519].encrypt(
        env.canonical_json(PAYLOAD), stranger.public(env.SUITE_X25519), info=env._info(header_bytes)
    )
    signature = alice.signing.sign(env._signed_bytes(header_bytes, ciphertext))
    outer = {
        "header": json.loads(header_bytes),
        "ct": env.b64(ciphertext),
        "sig": env.b64(signature),
    }
    return env.canonical_json(outer)


BAD_ENVELOPES = {
    # name: (builder(alice, bob, stranger) -> bytes, expected error, HTTP status)
    "truncated": (lambda a, b, s: seal(a, b)[:-20], MalformedEnvelope, 400),
    "bit-flipped ciphertext": (lambda a, b, s: _flip(seal(a, b), "ct"), BadSignature, 403),
    "bit-flipped signature": (lambda a, b, s: _flip(seal(a, b), "sig"), BadSignature, 403),
    "changed header": (lambda a, b, s: _edit_header(seal(a, b), type="ack"), BadSignature, 403),
    "wrong recipient": (
        lambda a, b, s: seal(a, b, recipient_key_id="someone-else-01"),
        WrongRecipient,
        403,
    ),
    "unknown sender": (lambda a, b, s: seal(s, b), UnknownSender, 403),
    "stale": (lambda a, b, s: seal(a, b, now=NOW - 301), StaleEnvelope, 400),
    "from the future": (lambda a, b, s: seal(a, b, now=NOW + 301), StaleEnvelope, 400),
    "replayed": (lambda a, b, s: _replay(a, b), ReplayedEnvelope, 409),
    "oversized": (
        lambda a, b, s: b"{" + b" " * env.MAX_ENVELOPE_BYTES + b"}",
        EnvelopeTooLarge,
        413,
    ),
    "malformed JSON": (lambda a, b, s: b'{"header": [', MalformedEnvelope, 400),
    "not UTF-8": (lambda a, b, s: b"\xff\xfe\x00", MalformedEnvelope, 400),
    "extra field": (
        lambda a, b, s: json.dumps({**json.loads(seal(a, b)), "x": 1}).encode(),
        MalformedEnvelope,
        400,
    ),
    "bad payload": (lambda a, b, s: seal(a, b, payload={"pseudonyms": ["short"]}), BadPayload, 422),
    "unknown type": (lambda a, b, s: seal(a, b, message_type="gossip"), BadPayload, 422),
    "encrypted to another key": (_encrypted_to_someone_else, UndecryptableEnvelope, 400),
}


@pytest.mark.parametrize("case", list(BAD_ENVELOPES))
def test_bad_envelope_is_refused_with_its_reason(alice, bob, stranger, case):
    build, error, status = BAD_ENVELOPES[case]
    data = build(alice, bob, stranger)
    with pytest.raises(error) as refused:
        open_as(bob, data)
    assert refused.value.status == status


def test_signature_is_checked_before_anything_is_decrypted(bob, forger):
    """A forged envelope under a trusted sender's key id never reaches HPKE decryption."""
    with pytest.raises(BadSignature):
        open_as(bob, seal(forger, bob))


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_malformed_not_a_crash(depth):
    """Regression (reliability campaign): 1000+ nested brackets made json.loads raise
    RecursionError, which escaped parse() and became an HTTP 500 on POST /v1/inbox."""
    with pytest.raises(MalformedEnvelope):
        env.parse(b"[" * depth)


@pytest.mark.parametrize("value", [[], {}, ["x25519"]])
def test_an_unhashable_suite_is_malformed_not_a_crash(value):
    """Regression (campaign fuzzing, hypothesis): a header whose suite was a list or an object
    made ``v in SUITES`` raise TypeError, which escaped parse() as an HTTP 500."""
    outer = {
        "header": {"v": 1, "type": "ack", "sender": "A" * 16, "recipient": "B" * 16,
                   "id": "0" * 32, "created": 1, "suite": value},
        "ct": "", "sig": "A" * 86,
    }  # fmt: skip
    with pytest.raises(MalformedEnvelope):
        env.parse(json.dumps(outer).encode())


def test_a_second_encoding_of_the_same_signature_is_malformed():
    """Regression (campaign, 10,000 bad requests): flipping an unused low bit of the last base64
    character of 'sig' or 'ct' left the decoded bytes unchanged, so a bit-flipped envelope was
    accepted (HTTP 200) as a second wire form of a signed message. Only canonical base64url is
    accepted now."""
    sig = env.b64(bytes(range(64)))
    other = sig[:-1] + chr(ord(sig[-1]) ^ 0x40)  # 'w' -> '7': the same 64 bytes
    assert env.base64.urlsafe_b64decode(other + "==") == bytes(range(64))
    with pytest.raises(ValueError, match="canonical"):
        env.unb64(other)
    assert env.unb64(sig) == bytes(range(64))
