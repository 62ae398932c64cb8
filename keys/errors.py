"""Errors of the keys package. Each message says what was wrong and what to do, never a secret.

    KeysError                    base: anything about keys or trust a user can act on
    ├── KeyFileError               the key file is missing, damaged, or readable by others
    ├── WrongPassphrase            the passphrase does not open the key file
    ├── WeakPassphrase             a new passphrase is too short or empty
    ├── BadToken                   not a Tafuta token, or truncated, or altered on the way
    ├── DocumentRefused            a node document was refused
    │   ├── MalformedDocument        fields missing, extra, or of the wrong type
    │   ├── BadSignature             a signature does not verify (or is missing)
    │   ├── ExpiredDocument          outside its validity period
    │   ├── RollbackRefused          its version is not newer than the one already held
    │   ├── RotationRefused          a key change not signed by both the trusted key and the new key
    │   └── RevokedKey               signed by (or replacing) a key that was revoked
    └── TrustRefused               a change to the trust store is not allowed
        ├── UnknownPeer              no peer of that name
        ├── PeerExists               the peer (or its key, or its name) is already in the store
        ├── OwnDocument              the token is this node's own
        ├── PeerRevoked              the peer was revoked; revocation is final
        ├── BadStateChange           e.g. trusting a peer that is already trusted
        └── FingerprintMismatch      the digits read over the phone do not match

Every KeysError carries ``exit_code`` so the CLI edge does not need to know the subclasses.
"""

from __future__ import annotations


class KeysError(Exception):
    """A problem with keys or trust; str(err) is the message shown to the user."""

    exit_code = 1


class KeyFileError(KeysError):
    """The key file is missing, damaged, or has unsafe permissions."""


class WrongPassphrase(KeysError):
    """The passphrase does not decrypt the key file."""


class WeakPassphrase(KeysError):
    """A new passphrase is too short."""


class BadToken(KeysError):
    """The text is not a whole, unaltered Tafuta token."""


class DocumentRefused(KeysError):
    """A node document was refused; nothing was changed."""

    exit_code = 2


class MalformedDocument(DocumentRefused):
    """The document's fields are missing, extra, or of the wrong type."""


class BadSignature(DocumentRefused):
    """A required signature is missing or does not verify."""


class ExpiredDocument(DocumentRefused):
    """The document is outside its validity period."""


class RollbackRefused(DocumentRefused):
    """The document's version is not newer than the one already held."""


class RotationRefused(DocumentRefused):
    """A key change that is not signed by both the trusted old key and the new key."""


class RevokedKey(DocumentRefused):
    """The document is signed by, or replaces, a revoked key."""


class TrustRefused(KeysError):
    """A change to the trust store is not allowed; nothing was changed."""

    exit_code = 2


class UnknownPeer(TrustRefused):
    """No peer with that name."""


class PeerExists(TrustRefused):
    """The peer, its key or its name is already in the trust store."""


class OwnDocument(TrustRefused):
    """The token holds this node's own document."""


class PeerRevoked(TrustRefused):
    """The peer was revoked; a revoked peer cannot be trusted or updated again."""


class BadStateChange(TrustRefused):
    """Not one of the allowed changes: pending→trusted, pending→revoked, trusted→revoked."""


class FingerprintMismatch(TrustRefused):
    """The digits given do not match the safety number of the two nodes."""


__all__ = [
    "BadSignature",
    "BadStateChange",
    "BadToken",
    "DocumentRefused",
    "ExpiredDocument",
    "FingerprintMismatch",
    "KeyFileError",
    "KeysError",
    "MalformedDocument",
    "OwnDocument",
    "PeerExists",
    "PeerRevoked",
    "RevokedKey",
    "RollbackRefused",
    "RotationRefused",
    "TrustRefused",
    "UnknownPeer",
    "WeakPassphrase",
    "WrongPassphrase",
]
