"""A node's identity: one generation of private keys, its key id, and its HPKE suites.

A generation is an Ed25519 signing key (the *identity key*: it signs the node document and every
message) and two HPKE key pairs, one per supported suite:

- ``mlkem768-x25519``: the hybrid post-quantum KEM (ML-KEM-768 + X25519). Victims' data stays
  sensitive for decades, so traffic recorded today must resist a future quantum computer.
- ``x25519``: classic X25519, for peers whose cryptography library lacks ML-KEM.

Each suite has its own key pair; no key is used for two purposes. A generation is named by its
*key id*, derived from the signing public key, so the id alone cannot be claimed by another key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._encoding import b64, unb64
from .errors import KeyFileError, MalformedDocument

SUITE_HYBRID = "mlkem768-x25519"
SUITE_X25519 = "x25519"
# Preference order: strongest first. The names and parameters match protocol/envelope.py.
SUPPORTED_SUITES: tuple[str, ...] = (SUITE_HYBRID, SUITE_X25519)
HPKE_SUITES: dict[str, hpke.Suite] = {
    SUITE_HYBRID: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    SUITE_X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}

_KEY_ID_DOMAIN = b"tafuta-key-id-v1\x00"
_MLKEM768_PUBLIC_BYTES = 1184
_X25519_BYTES = 32
_PUBLIC_KEY_BYTES = {
    SUITE_HYBRID: _MLKEM768_PUBLIC_BYTES + _X25519_BYTES,
    SUITE_X25519: _X25519_BYTES,
}


def key_id_for(signing_public_key: bytes) -> str:
    """The key id of a raw Ed25519 public key: 22 base64url characters of a SHA-256 hash."""
    return b64(hashlib.sha256(_KEY_ID_DOMAIN + signing_public_key).digest()[:16])


def verify_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise MalformedDocument("a signing key must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


# What HPKE encrypts to and decrypts with, per suite (x25519, mlkem768-x25519).
HpkePublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
HpkePrivateKey = X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


def hpke_public_key_from_bytes(suite: str, raw: bytes) -> HpkePublicKey:
    """The ``cryptography`` public key object HPKE encrypts to, from a document's raw bytes."""
    if suite not in _PUBLIC_KEY_BYTES:
        raise MalformedDocument(f"unknown HPKE suite {suite!r}")
    if len(raw) != _PUBLIC_KEY_BYTES[suite]:
        raise MalformedDocument(f"the {suite} public key has the wrong length")
    try:
        if suite == SUITE_X25519:
            return x25519.X25519PublicKey.from_public_bytes(raw)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_BYTES]),
            x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUBLIC_BYTES:]),
        )
    except ValueError as err:
        raise MalformedDocument(f"the {suite} public key is not valid") from err


@dataclass(frozen=True, repr=False)
class Identity:
    """One generation of a node's private keys. repr() never shows key material."""

    signing: Ed25519PrivateKey
    x25519: X25519PrivateKey
    hybrid_mlkem_seed: bytes
    hybrid_x25519: X25519PrivateKey
    created: int

    @classmethod
    def generate(cls, now: int) -> Identity:
        return cls(
            signing=Ed25519PrivateKey.generate(),
            x25519=x25519.X25519PrivateKey.generate(),
            hybrid_mlkem_seed=mlkem.MLKEM768PrivateKey.generate().private_bytes_raw(),
            hybrid_x25519=x25519.X25519PrivateKey.generate(),
            created=int(now),
        )

    def __repr__(self) -> str:
        return f"Identity(key_id={self.key_id!r}, created={self.created})"

    @property
    def signing_public_bytes(self) -> bytes:
        return self.signing.public_key().public_bytes_raw()

    @property
    def key_id(self) -> str:
        return key_id_for(self.signing_public_bytes)

    def sign(self, data: bytes) -> bytes:
        return self.signing.sign(data)

    def hpke_private_key(self, suite: str) -> HpkePrivateKey:
        """The private key HPKE decrypts with for ``suite`` (see HPKE_SUITES)."""
        if suite == SUITE_X25519:
            return self.x25519
        if suite == SUITE_HYBRID:
            return hpke.MLKEM768X25519PrivateKey(
                mlkem.MLKEM768PrivateKey.from_seed_bytes(self.hybrid_mlkem_seed),
                self.hybrid_x25519,
            )
        raise KeyError(suite)

    def hpke_public_bytes(self) -> dict[str, bytes]:
        """Each suite's public key as the raw bytes a node document carries."""
        mlkem_public = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.hybrid_mlkem_seed).public_key()
        return {
            SUITE_HYBRID: mlkem_public.public_bytes_raw()
            + self.hybrid_x25519.public_key().public_bytes_raw(),
            SUITE_X25519: self.x25519.public_key().public_bytes_raw(),
        }

    # -- private serialisation, used only inside the encrypted key file -------------------

    def private_fields(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "created": self.created,
            "signing": b64(self.signing.private_bytes_raw()),
            "x25519": b64(self.x25519.private_bytes_raw()),
            "hybrid_mlkem_seed": b64(self.hybrid_mlkem_seed),
            "hybrid_x25519": b64(self.hybrid_x25519.private_bytes_raw()),
        }

    @classmethod
    def from_private_fields(cls, fields: dict[str, Any]) -> Identity:
        try:
            identity = cls(
                signing=Ed25519PrivateKey.from_private_bytes(unb64(fields["signing"])),
                x25519=x25519.X25519PrivateKey.from_private_bytes(unb64(fields["x25519"])),
                hybrid_mlkem_seed=unb64(fields["hybrid_mlkem_seed"]),
                hybrid_x25519=x25519.X25519PrivateKey.from_private_bytes(
                    unb64(fields["hybrid_x25519"])
                ),
                created=int(fields["created"]),
            )
            identity.hpke_private_key(SUITE_HYBRID)  # checks the seed
        except (KeyError, TypeError, ValueError) as err:
            raise KeyFileError("the key file holds a damaged key") from err
        if identity.key_id != fields.get("key_id"):
            raise KeyFileError("the key file holds a damaged key (key id does not match)")
        return identity
