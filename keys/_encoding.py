"""Byte-exact encodings shared by the keys modules: canonical JSON and unpadded base64url.

A signature only verifies on another node if both nodes serialise a document to the same bytes,
so there is exactly one way to turn a value into bytes here: keys sorted, no whitespace, every
non-ASCII character escaped (so the bytes are ASCII, hence also UTF-8), no NaN or infinity
(documents hold only strings, integers, lists, objects and null). This is the same canonical JSON
as docs/protocol.md defines for envelopes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, compact separators, non-ASCII escaped."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def b64(data: bytes) -> str:
    """Unpadded base64url: safe in JSON, URLs and file names."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: object) -> bytes:
    """Decode unpadded base64url; ValueError for anything else (including padding, and unused
    low bits of the last character that are not zero: one value has exactly one encoding, so
    signed text cannot be altered without changing its bytes)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError("not unpadded base64url") from err
    if b64(data) != text:
        raise ValueError("not canonical base64url")
    return data
