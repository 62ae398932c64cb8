"""The node document: what a node says about itself, signed with its identity key.

A peer holds our document to know our name, where to reach us, which keys to verify our messages
with and encrypt to, and which HPKE suites we support. The document is signed over its canonical
bytes (sorted-key compact JSON, non-ASCII escaped, see _encoding.py) with a domain prefix, so it
verifies on any node and a signature over a document can never be mistaken for a signature over
anything else.

Wire form::

    {"document": {"format": 1, "type": "tafuta-node", "name": …, "url": …, "version": 3,
                  "valid_from": …, "valid_until": …, "key_id": …, "signing_key": …,
                  "encryption_keys": {"mlkem768-x25519": …, "x25519": …},
                  "suites": ["mlkem768-x25519", "x25519"], "previous_key_id": null},
     "signatures": [{"key_id": …, "sig": …}, …]}

A first document is signed by its own key. A rotation document (``previous_key_id`` set) is
signed by the new key *and* by the previous one; a peer that trusts the previous key accepts it
(see verify_update). Times are Unix seconds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._encoding import b64, canonical_json, unb64
from .errors import (
    BadSignature,
    ExpiredDocument,
    MalformedDocument,
    RevokedKey,
    RollbackRefused,
    RotationRefused,
)
from .identity import (
    HPKE_SUITES,
    SUPPORTED_SUITES,
    HpkePublicKey,
    Identity,
    hpke_public_key_from_bytes,
    key_id_for,
    verify_key_from_bytes,
)

FORMAT = 1
DOCUMENT_TYPE = "tafuta-node"
SIGNING_DOMAIN = b"tafuta-node-document-v1\x00"
DEFAULT_VALIDITY_SECONDS = 365 * 24 * 3600
CLOCK_SKEW_SECONDS = 300  # a peer's clock may run this far ahead of ours
MAX_DOCUMENT_BYTES = 16 * 1024
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2000

# Unicode bidirectional controls: they can make "Mombasa Shelter" display as another name.
_DIRECTION_CONTROLS = frozenset(
    "\u061c\u200e\u200f"  # Arabic letter mark, left-to-right and right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_FIELDS = frozenset(
    {
        "format",
        "type",
        "name",
        "url",
        "version",
        "valid_from",
        "valid_until",
        "key_id",
        "signing_key",
        "encryption_keys",
        "suites",
        "previous_key_id",
    }
)


@dataclass(frozen=True)
class NodeDocument:
    """The fields of a node document, checked for shape (not yet for signatures)."""

    name: str
    url: str
    version: int
    valid_from: int
    valid_until: int
    key_id: str
    signing_key: bytes
    encryption_keys: dict[str, bytes] = field(hash=False)
    suites: tuple[str, ...]
    previous_key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "type": DOCUMENT_TYPE,
            "name": self.name,
            "url": self.url,
            "version": self.version,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "key_id": self.key_id,
            "signing_key": b64(self.signing_key),
            "encryption_keys": {s: b64(k) for s, k in sorted(self.encryption_keys.items())},
            "suites": list(self.suites),
            "previous_key_id": self.previous_key_id,
        }

    def signed_bytes(self) -> bytes:
        """What every signature over this document covers."""
        return SIGNING_DOMAIN + canonical_json(self.to_dict())

    def verify_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key that verifies this node's signatures."""
        return verify_key_from_bytes(self.signing_key)

    def hpke_public_key(self, suite: str) -> HpkePublicKey:
        """The public key to HPKE-encrypt to with ``suite`` (a ``cryptography`` object)."""
        if suite not in self.encryption_keys:
            raise MalformedDocument(f"{self.name!r} has no key for the HPKE suite {suite!r}")
        return hpke_public_key_from_bytes(suite, self.encryption_keys[suite])


@dataclass(frozen=True)
class SignedDocument:
    """A node document with its signatures, keyed by the signer's key id."""

    document: NodeDocument
    signatures: dict[str, bytes] = field(hash=False)

    def to_json(self) -> bytes:
        """The canonical wire bytes."""
        return canonical_json(
            {
                "document": self.document.to_dict(),
                "signatures": [
                    {"key_id": kid, "sig": b64(sig)} for kid, sig in sorted(self.signatures.items())
                ],
            }
        )


def build_document(
    identity: Identity,
    *,
    name: str,
    url: str,
    version: int,
    now: int,
    validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
    previous_key_id: str | None = None,
) -> NodeDocument:
    """A document for ``identity``, valid from now for ``validity_seconds``."""
    document = NodeDocument(
        name=name,
        url=url,
        version=version,
        valid_from=int(now),
        valid_until=int(now) + int(validity_seconds),
        key_id=identity.key_id,
        signing_key=identity.signing_public_bytes,
        encryption_keys=identity.hpke_public_bytes(),
        suites=SUPPORTED_SUITES,
        previous_key_id=previous_key_id,
    )
    _check_fields(document)
    return document


def sign_document(document: NodeDocument, *signers: Identity) -> SignedDocument:
    """Sign with each identity; the document's own key must be among the signers."""
    if document.key_id not in {s.key_id for s in signers}:
        raise ValueError("a node document must be signed by its own key")
    data = document.signed_bytes()
    return SignedDocument(document, {s.key_id: s.sign(data) for s in signers})


def parse_signed_document(data: bytes) -> SignedDocument:
    """Shape checks only: nothing in the result is trusted until verified."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MalformedDocument(f"a node document must be at most {MAX_DOCUMENT_BYTES} bytes")
    try:
        outer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # deep nesting: not a crash
        raise MalformedDocument("the node document is not UTF-8 JSON") from err
    if not isinstance(outer, dict) or set(outer) != {"document", "signatures"}:
        raise MalformedDocument("a signed node document has exactly 'document' and 'signatures'")
    document = _document_from_dict(outer["document"])
    raw_sigs = outer["signatures"]
    if not isinstance(raw_sigs, list) or not 1 <= len(raw_sigs) <= 2:
        raise MalformedDocument("a node document carries one or two signatures")
    signatures: dict[str, bytes] = {}
    for entry in raw_sigs:
        if not isinstance(entry, dict) or set(entry) != {"key_id", "sig"}:
            raise MalformedDocument("each signature has exactly 'key_id' and 'sig'")
        kid = entry["key_id"]
        if not isinstance(kid, str) or not _KEY_ID.match(kid) or kid in signatures:
            raise MalformedDocument("a signature names an invalid or repeated key id")
        try:
            sig = unb64(entry["sig"])
        except ValueError as err:
            raise MalformedDocument("a signature is not base64url") from err
        if len(sig) != 64:
            raise MalformedDocument("an Ed25519 signature is 64 bytes")
        signatures[kid] = sig
    allowed = {document.key_id, document.previous_key_id}
    if not set(signatures) <= allowed:
        raise MalformedDocument("a signature is by a key that is neither this key nor the previous")
    return SignedDocument(document, signatures)


def verify_self_signed(signed: SignedDocument, now: int) -> NodeDocument:
    """Check the document's signature by its own key, then its validity period.

    This proves only that whoever made the document holds its key; whether that is the
    organisation it claims to be is what the fingerprint check by phone establishes.
    """
    document = verify_own_signature(signed)
    _check_validity(document, now)
    return document


def verify_own_signature(signed: SignedDocument) -> NodeDocument:
    """Check only the signature by the document's own key, not its validity period.

    For this node's own document read back from its key file (an expired one must still be
    readable, to renew it); a peer's document is checked with verify_self_signed.
    """
    document = signed.document
    _check_signature(signed, document.key_id, document.signing_key, "its own key")
    return document


def verify_update(
    current: NodeDocument,
    new: SignedDocument,
    now: int,
    revoked_key_ids: frozenset[str] | set[str] = frozenset(),
) -> NodeDocument:
    """Accept ``new`` as the successor of the trusted ``current`` document, or raise.

    - keys revoked by the coordinator are never accepted, as signer or as new key;
    - the version must be higher than the current one (no rollback, no replay; checked before
      signatures so an old document is named as such);
    - same signing key (renewal, new URL): signed by that key;
    - new signing key (rotation): ``previous_key_id`` is the current key id, and the document is
      signed both by the current key (the one the peer trusts) and by the new key (proof that the
      new key's holder made this document).
    """
    document = new.document
    if current.key_id in revoked_key_ids or document.key_id in revoked_key_ids:
        raise RevokedKey(f"the key of {current.name!r} was revoked; its documents are refused")
    if document.version <= current.version:
        raise RollbackRefused(
            f"the document of {document.name!r} has version {document.version}, not newer than "
            f"the version {current.version} you hold; refused (rollback or replay)"
        )
    rotation = document.key_id != current.key_id
    if rotation:
        if document.previous_key_id != current.key_id:
            raise RotationRefused(
                f"the new keys of {document.name!r} do not follow on from the key you trust "
                f"({current.key_id}); ask the peer for the update made when it rotated from it"
            )
        if document.key_id not in new.signatures:
            raise RotationRefused(
                f"the rotation of {document.name!r} is not signed by its new key; refused"
            )
        if current.key_id not in new.signatures:
            raise RotationRefused(
                f"the rotation of {document.name!r} is signed only by its new key, not by the "
                "key you trust; refused"
            )
    _check_signature(new, document.key_id, document.signing_key, "its own key")
    if rotation:
        _check_signature(new, current.key_id, current.signing_key, "the key you trust")
    _check_validity(document, now)
    return document


def _check_signature(signed: SignedDocument, key_id: str, public_key: bytes, whose: str) -> None:
    signature = signed.signatures.get(key_id)
    name = signed.document.name
    if signature is None:
        raise BadSignature(f"the document of {name!r} is not signed by {whose}; refused")
    try:
        verify_key_from_bytes(public_key).verify(signature, signed.document.signed_bytes())
    except InvalidSignature as err:
        raise BadSignature(
            f"the signature by {whose} on the document of {name!r} does not verify; it was "
            "altered or forged"
        ) from err


def _check_validity(document: NodeDocument, now: int) -> None:
    if now > document.valid_until:
        raise ExpiredDocument(
            f"the document of {document.name!r} expired ({_when(document.valid_until)}); ask the "
            "peer for a current one"
        )
    if now < document.valid_from - CLOCK_SKEW_SECONDS:
        raise ExpiredDocument(
            f"the document of {document.name!r} is not valid before {_when(document.valid_from)}; "
            "check both computers' clocks"
        )


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _document_from_dict(raw: Any) -> NodeDocument:
    if not isinstance(raw, dict) or set(raw) != _FIELDS:
        fields = ", ".join(sorted(_FIELDS))
        raise MalformedDocument(f"a node document has exactly the fields {fields}")
    if raw["format"] != FORMAT or type(raw["format"]) is not int:
        raise MalformedDocument(f"unsupported node document format {raw['format']!r}")
    if raw["type"] != DOCUMENT_TYPE:
        raise MalformedDocument("this is not a Tafuta node document")
    for name in ("version", "valid_from", "valid_until"):
        if type(raw[name]) is not int or not 0 <= raw[name] < 2**53:
            raise MalformedDocument(f"the field {name!r} must be a non-negative integer")
    for name in ("name", "url", "key_id", "signing_key"):
        if not isinstance(raw[name], str):
            raise MalformedDocument(f"the field {name!r} must be text")
    previous = raw["previous_key_id"]
    if previous is not None and (not isinstance(previous, str) or not _KEY_ID.match(previous)):
        raise MalformedDocument("the field 'previous_key_id' must be a key id or null")
    suites = raw["suites"]
    if not isinstance(suites, list) or not all(isinstance(s, str) for s in suites):
        raise MalformedDocument("the field 'suites' must be a list of suite names")
    keys = raw["encryption_keys"]
    if not isinstance(keys, dict):
        raise MalformedDocument("the field 'encryption_keys' must map suite names to keys")
    try:
        encryption_keys = {suite: unb64(value) for suite, value in keys.items()}
        signing_key = unb64(raw["signing_key"])
    except ValueError as err:
        raise MalformedDocument("a public key is not base64url") from err
    document = NodeDocument(
        name=raw["name"],
        url=raw["url"],
        version=raw["version"],
        valid_from=raw["valid_from"],
        valid_until=raw["valid_until"],
        key_id=raw["key_id"],
        signing_key=signing_key,
        encryption_keys=encryption_keys,
        suites=tuple(suites),
        previous_key_id=previous,
    )
    _check_fields(document)
    return document


def _check_fields(document: NodeDocument) -> None:
    """Semantic checks shared by building and parsing, so we never sign what we would refuse."""
    name = document.name
    if not name.strip() or len(name) > MAX_NAME_CHARS or any(_hidden(c) for c in name):
        raise MalformedDocument(
            f"a node name is one line of 1 to {MAX_NAME_CHARS} characters, without control or "
            "text-direction characters"
        )
    url = document.url
    if len(url) > MAX_URL_CHARS or (url and not url.startswith(("https://", "http://"))):
        raise MalformedDocument("a node URL is empty or starts with https:// or http://")
    if any(ord(c) <= 32 or _hidden(c) for c in url):
        raise MalformedDocument("a node URL has no spaces or control characters")
    if document.version < 1:
        raise MalformedDocument("a node document's version starts at 1")
    if document.valid_until <= document.valid_from:
        raise MalformedDocument("a node document's validity period ends after it starts")
    if len(document.signing_key) != 32 or document.key_id != key_id_for(document.signing_key):
        raise MalformedDocument("the key id does not belong to the signing key")
    if document.previous_key_id == document.key_id:
        raise MalformedDocument("a key cannot follow on from itself")
    if not document.suites or len(set(document.suites)) != len(document.suites):
        raise MalformedDocument("a node document lists each supported suite once")
    if set(document.suites) != set(document.encryption_keys):
        raise MalformedDocument("a node document has one encryption key per supported suite")
    for suite in document.suites:
        if suite in HPKE_SUITES:
            hpke_public_key_from_bytes(suite, document.encryption_keys[suite])


def _hidden(char: str) -> bool:
    """Characters that would let a name look different on screen from what it is."""
    return unicodedata.category(char) == "Cc" or char in _DIRECTION_CONTROLS


def common_suite(ours: tuple[str, ...], theirs: tuple[str, ...]) -> str | None:
    """The strongest suite both nodes support, or None."""
    for suite in SUPPORTED_SUITES:
        if suite in ours and suite in theirs:
            return suite
    return None
