"""Safety numbers: 60 digits two coordinators read to each other over the phone.

Each node's half is 30 digits derived from its identity (Ed25519 signing) public key, Signal-style:

    h = SHA-512(version ‖ public key ‖ "tafuta-node")
    repeat 5200 times: h = SHA-512(h ‖ public key)
    the first 30 bytes of h, as six 5-byte big-endian numbers, each modulo 100000 → 6 × 5 digits

The two halves are sorted (as digit strings) and concatenated, so both nodes compute the same 60
digits whatever side they are on. The iterations make it costly to search for another key whose
digits look alike. The HPKE keys need no digits of their own: the document carrying them is signed
by the identity key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .errors import FingerprintMismatch

FINGERPRINT_VERSION = b"\x00\x00"
ITERATIONS = 5200
DIGITS = 60
_DOMAIN = b"tafuta-node"
_NOT_DIGITS = re.compile(r"\s+")


def half_fingerprint(signing_public_key: bytes) -> str:
    """One node's 30 digits."""
    digest = hashlib.sha512(FINGERPRINT_VERSION + signing_public_key + _DOMAIN).digest()
    for _ in range(ITERATIONS):
        digest = hashlib.sha512(digest + signing_public_key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def safety_number(key_a: bytes, key_b: bytes) -> str:
    """The 60 digits of two nodes' identity keys, the same whichever node computes them."""
    return "".join(sorted((half_fingerprint(key_a), half_fingerprint(key_b))))


def format_safety_number(digits: str) -> str:
    """Groups of five, to read aloud: '12345 67890 …'."""
    return " ".join(digits[i : i + 5] for i in range(0, len(digits), 5))


def normalise_digits(text: str) -> str:
    """The digits a coordinator typed, with spaces and line breaks removed."""
    return _NOT_DIGITS.sub("", text or "")


def check_safety_number(expected: str, given: str) -> None:
    """Raise FingerprintMismatch unless ``given`` is the expected 60 digits (spaces ignored)."""
    digits = normalise_digits(given)
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        raise FingerprintMismatch(
            f"a fingerprint is {DIGITS} digits (spaces are ignored); got {len(digits)} characters "
            "— nothing was changed"
        )
    if not hmac.compare_digest(digits.encode("ascii"), expected.encode("ascii")):
        raise FingerprintMismatch(
            "the fingerprint does NOT match: do not trust this peer. Read the digits again over "
            "the phone with someone you know at that organisation; if they still differ, the "
            "token may not be theirs — nothing was changed"
        )
