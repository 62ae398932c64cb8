"""Tokens: a signed node document as one line of text to paste into an e-mail or a chat.

    tafuta1-<base64url(canonical signed document ‖ first 4 bytes of its SHA-256)>

The checksum is not security (the document's signature is): it tells a coordinator plainly that a
token was cut short or mangled on the way, instead of a puzzling signature error. Whitespace is
ignored when reading, because mail programs wrap long lines, and text before the token (such as
the first lines 'tafuta peers invite' prints) is skipped: a token is the last thing in the text.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from ._encoding import b64, unb64
from .document import MAX_DOCUMENT_BYTES, SignedDocument, parse_signed_document
from .errors import BadToken, MalformedDocument

TOKEN_PREFIX = "tafuta1-"  # noqa: S105 -- a format marker, not a secret
_CHECKSUM_BYTES = 4
_WHITESPACE = re.compile(r"\s+")


def encode_token(signed: SignedDocument) -> str:
    payload = signed.to_json()
    return TOKEN_PREFIX + b64(payload + hashlib.sha256(payload).digest()[:_CHECKSUM_BYTES])


def _extract(text: str) -> str:
    """The token in ``text``, whitespace removed: all of it, or from the last line that starts
    a token to the end (so the whole output of 'tafuta peers invite' can be passed on)."""
    token = _WHITESPACE.sub("", text)
    if token.startswith(TOKEN_PREFIX):
        return token
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(TOKEN_PREFIX)]
    return _WHITESPACE.sub("", "".join(lines[starts[-1] :])) if starts else token


def decode_token(text: str) -> SignedDocument:
    """The signed document in a token; BadToken if it is not a whole, unaltered token.

    The document's signatures are NOT checked here (see document.verify_self_signed).
    """
    token = _extract(text or "")
    if not token:
        raise BadToken("the token is empty; paste the whole token")
    if not token.startswith(TOKEN_PREFIX):
        raise BadToken(f"this is not a Tafuta token (a token starts with {TOKEN_PREFIX!r})")
    body = token[len(TOKEN_PREFIX) :]
    if len(body) > (MAX_DOCUMENT_BYTES + _CHECKSUM_BYTES) * 4 // 3 + 4:
        raise BadToken("the token is too long to be a Tafuta token")
    try:
        raw = unb64(body)
    except ValueError as err:
        raise BadToken(
            "the token is incomplete or damaged (it was cut short, or holds characters a token "
            "never has); ask for it again and copy all of it"
        ) from err
    payload, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
    expected = hashlib.sha256(payload).digest()[:_CHECKSUM_BYTES]
    if not payload or not hmac.compare_digest(checksum, expected):
        raise BadToken(
            "the token is incomplete or was altered on the way; ask for it again and copy all of it"
        )
    try:
        return parse_signed_document(payload)
    except MalformedDocument as err:
        raise BadToken(f"the token does not hold a valid node document: {err}") from err
