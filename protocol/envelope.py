"""The sealed envelope: every message between nodes is signed by the sender and encrypted to the
recipient (specified in docs/protocol.md).

Wire form (UTF-8 JSON, at most ``MAX_ENVELOPE_BYTES``)::

    {"header": {"v": 1, "type": …, "sender": …, "recipient": …, "id": …, "created": …,
                "suite": …},
     "ct": base64url(HPKE ciphertext of the payload),
     "sig": base64url(Ed25519 signature)}

The canonical header (sorted keys, no spaces, ASCII) is bound into the HPKE ``info`` so a
ciphertext cannot be moved under another header, and the signature covers header and ciphertext,
so nothing about a message can be changed without the sender's key. Checks on receipt run in a
fixed order: size → parse → sender → time window → signature → replay → decrypt → payload schema;
cheap checks first, and nothing is decrypted for an unauthenticated sender.

Keys come in as ``cryptography`` objects through small lookup interfaces, so this module holds no
state and needs no database: the node supplies who is trusted and which ids it has seen.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .errors import (
    BadPayload,
    BadSignature,
    EnvelopeTooLarge,
    MalformedEnvelope,
    ReplayedEnvelope,
    StaleEnvelope,
    UndecryptableEnvelope,
    WrongRecipient,
)

VERSION = 1
DOMAIN = b"tafuta-envelope-v1"
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
CLOCK_WINDOW_SECONDS = 300

SUITE_X25519 = "x25519"
SUITE_HYBRID = "mlkem768-x25519"
# Preference order: the hybrid post-quantum suite protects recorded traffic against a future
# quantum computer; victims' data stays sensitive for decades.
SUITES: dict[str, hpke.Suite] = {
    SUITE_HYBRID: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    SUITE_X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}

# What HPKE encrypts to and decrypts with, per suite (the same unions as keys.identity's).
HpkePublicKey = X25519PublicKey | hpke.MLKEM768X25519PublicKey
HpkePrivateKey = X25519PrivateKey | hpke.MLKEM768X25519PrivateKey

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_TYPE = re.compile(r"^[a-z][a-z-]{1,31}$")
_HEADER_FIELDS = frozenset({"v", "type", "sender", "recipient", "id", "created", "suite"})


@dataclass(frozen=True)
class Header:
    type: str
    sender: str
    recipient: str
    id: str
    created: int
    suite: str
    v: int = VERSION

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "v": self.v,
                "type": self.type,
                "sender": self.sender,
                "recipient": self.recipient,
                "id": self.id,
                "created": self.created,
                "suite": self.suite,
            }
        )


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified envelope."""

    header: Header
    ciphertext: bytes
    signature: bytes


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted message."""

    header: Header
    payload: dict[str, Any]


class SenderKeys(Protocol):
    def verify_key(self, key_id: str) -> Ed25519PublicKey:
        """The signing key of a currently trusted peer key id; raises UnknownSender otherwise."""


class OwnKeys(Protocol):
    def decryption_key(self, key_id: str, suite: str) -> HpkePrivateKey | None:
        """Our HPKE private key for that key id and suite, or None if the id is not ours."""


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_DIGIT = {c: i for i, c in enumerate(string.ascii_uppercase + string.ascii_lowercase
                                      + string.digits + "-_")}  # fmt: skip
# Characters after the last full group of four: 2 leave 4 bits unused, 3 leave 2.
_UNUSED_BITS_MASK = {2: 0b1111, 3: 0b11}


def unb64(text: str) -> bytes:
    """Decode unpadded base64url, refusing any encoding but the one b64() writes: the unused
    low bits of the last character must be zero, so one message has exactly one wire form.
    (Checked on the last character, not by encoding again: a peer's batch has ~250,000.)"""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    rest = len(text) % 4
    if rest and _DIGIT[text[-1]] & _UNUSED_BITS_MASK[rest]:
        raise ValueError("not canonical base64url")
    return data


def new_message_id() -> str:
    return secrets.token_hex(16)


def choose_suite(ours: tuple[str, ...] | list[str], theirs: tuple[str, ...] | list[str]) -> str:
    """The strongest suite both nodes support."""
    for suite in SUITES:
        if suite in ours and suite in theirs:
            return suite
    raise ValueError("no HPKE suite in common")


def _signed_bytes(header_bytes: bytes, ciphertext: bytes) -> bytes:
    return (
        DOMAIN
        + struct.pack(">I", len(header_bytes))
        + header_bytes
        + struct.pack(">Q", len(ciphertext))
        + ciphertext
    )


def _info(header_bytes: bytes) -> bytes:
    return DOMAIN + b"\x00" + header_bytes


def seal(
    *,
    message_type: str,
    payload: dict[str, Any],
    sender_key_id: str,
    signing_key: Ed25519PrivateKey,
    recipient_key_id: str,
    recipient_public_key: HpkePublicKey,
    suite: str,
    now: int,
    message_id: str | None = None,
) -> bytes:
    """Encrypt payload to the recipient and sign; returns the envelope's wire bytes."""
    header = Header(
        type=message_type,
        sender=sender_key_id,
        recipient=recipient_key_id,
        id=message_id or new_message_id(),
        created=int(now),
        suite=suite,
    )
    header_bytes = header.canonical()
    ciphertext = SUITES[suite].encrypt(
        canonical_json(payload), recipient_public_key, info=_info(header_bytes)
    )
    signature = signing_key.sign(_signed_bytes(header_bytes, ciphertext))
    return canonical_json(
        {"header": json.loads(header_bytes), "ct": b64(ciphertext), "sig": b64(signature)}
    )


def parse(data: bytes, max_size: int = MAX_ENVELOPE_BYTES) -> Envelope:
    """Size and shape checks only; nothing here is trusted yet."""
    if len(data) > max_size:
        raise EnvelopeTooLarge(f"envelope of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        outer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # deep nesting: not a crash
        raise MalformedEnvelope("envelope is not UTF-8 JSON") from err
    if not isinstance(outer, dict) or set(outer) != {"header", "ct", "sig"}:
        raise MalformedEnvelope("envelope must have exactly header, ct and sig")
    raw = outer["header"]
    if not isinstance(raw, dict) or set(raw) != _HEADER_FIELDS:
        raise MalformedEnvelope(f"header must have exactly {', '.join(sorted(_HEADER_FIELDS))}")
    checks: dict[str, Callable[[Any], bool]] = {
        "v": lambda v: type(v) is int and v == VERSION,
        "type": lambda v: isinstance(v, str) and bool(_TYPE.match(v)),
        "sender": lambda v: isinstance(v, str) and bool(_KEY_ID.match(v)),
        "recipient": lambda v: isinstance(v, str) and bool(_KEY_ID.match(v)),
        "id": lambda v: isinstance(v, str) and bool(_MESSAGE_ID.match(v)),
        "created": lambda v: type(v) is int and 0 <= v < 2**40,
        "suite": lambda v: isinstance(v, str) and v in SUITES,  # a list is unhashable
    }
    for name, ok in checks.items():
        if not ok(raw[name]):
            raise MalformedEnvelope(f"header field {name!r} is not valid")
    try:
        ciphertext, signature = unb64(outer["ct"]), unb64(outer["sig"])
    except (ValueError, binascii.Error) as err:
        raise MalformedEnvelope("ct and sig must be base64url") from err
    if len(signature) != 64:
        raise MalformedEnvelope("signature must be 64 bytes")
    return Envelope(Header(**raw), ciphertext, signature)


def authenticate(
    data: bytes,
    *,
    senders: SenderKeys,
    own: OwnKeys,
    now: int,
    window: int = CLOCK_WINDOW_SECONDS,
    max_size: int = MAX_ENVELOPE_BYTES,
) -> Envelope:
    """The checks up to and including the signature (size, parse, sender, recipient, time
    window, signature); returns the envelope, whose sender is now proven, or raises.

    Nothing is decrypted or stored. A server calls this before it charges anything to the
    sender named in the header: until the signature verifies, that name is only a claim, and
    charging it would let anyone spend a trusted peer's rate limit.
    """
    envelope = parse(data, max_size)
    header = envelope.header
    verify_key = senders.verify_key(header.sender)
    if own.decryption_key(header.recipient, header.suite) is None:
        raise WrongRecipient("envelope is addressed to a key that is not this node's")
    if abs(now - header.created) > window:
        raise StaleEnvelope(
            f"envelope created {header.created}, outside ±{window}s of this node's clock {now}"
        )
    try:
        verify_key.verify(
            envelope.signature, _signed_bytes(header.canonical(), envelope.ciphertext)
        )
    except InvalidSignature as err:
        raise BadSignature("signature does not verify under the sender's key") from err
    return envelope


def open_envelope(
    data: bytes,
    *,
    senders: SenderKeys,
    own: OwnKeys,
    seen: Callable[[str, str], bool],
    validate: Callable[[str, Any], dict[str, Any]],
    now: int,
    window: int = CLOCK_WINDOW_SECONDS,
    max_size: int = MAX_ENVELOPE_BYTES,
) -> Opened:
    """Run every check in order and return the verified payload, or raise EnvelopeRefused.

    ``seen(sender_key_id, message_id)`` tells whether that message was already processed;
    ``validate(type, payload)`` checks the payload's schema and returns it.
    """
    envelope = authenticate(
        data, senders=senders, own=own, now=now, window=window, max_size=max_size
    )
    header = envelope.header
    if seen(header.sender, header.id):
        raise ReplayedEnvelope(f"message {header.id} was already processed")
    private_key = own.decryption_key(header.recipient, header.suite)
    if private_key is None:  # authenticate found it; only a key dropped meanwhile gets here
        raise WrongRecipient("envelope is addressed to a key that is not this node's")
    try:
        plaintext = SUITES[header.suite].decrypt(
            envelope.ciphertext, private_key, info=_info(header.canonical())
        )
    except Exception as err:  # cryptography raises several types for a bad ciphertext
        raise UndecryptableEnvelope("ciphertext cannot be decrypted") from err
    try:
        payload = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadPayload("payload is not UTF-8 JSON") from err
    return Opened(header, validate(header.type, payload))


__all__ = [
    "CLOCK_WINDOW_SECONDS",
    "MAX_ENVELOPE_BYTES",
    "SUITES",
    "SUITE_HYBRID",
    "SUITE_X25519",
    "Envelope",
    "Header",
    "Opened",
    "OwnKeys",
    "SenderKeys",
    "authenticate",
    "canonical_json",
    "choose_suite",
    "new_message_id",
    "open_envelope",
    "parse",
    "seal",
]
