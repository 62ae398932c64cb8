"""Message types and their payload schemas.

Each payload is a JSON object; ``validate(type, payload)`` refuses anything that is not exactly
the shape below (unknown fields included), so a peer cannot smuggle data past the schema and the
node never has to guess. Sizes are bounded so one message cannot exhaust a small server.

=================  ===========================================================================
type               payload
=================  ===========================================================================
node-document      ``document``: a signed node document token (key rotation, URL change)
blinded-keys       ``keyset``, ``batch``, ``records``: [{``p``: pseudonym, ``k``: [[type, key]]}],
                   ``announced_records``: how many records the sender holds, ``evaluation``: who
                   the sender's coordinator chose to compare the pair's keys, from the sender's
                   side (one of EVALUATIONS), so that the receiver sees a pair set up wrongly
blinded-reply      ``keyset``, ``batch``, ``records``: the same records with every key blinded
                   again by the replying node
match-notice       ``match_id``, ``score``, ``evidence``, ``receiver_pseudonym``,
                   ``sender_pseudonym``: a suggestion found by the node that alone evaluates the
                   pair (score 0 and no evidence: withdrawn)
match-notices      ``notices``: up to MAX_RECORDS_PER_BATCH match-notice payloads, applied
                   together or refused together (what a node sends: one message per batch)
linkage-keys       ``peer``: the key id of the node whose records these are, ``keyset``,
                   ``records``: its records with every key blinded by both nodes, ``retracted``:
                   its pseudonyms withdrawn; sent to the blind linkage node of the pair
linkage-notice     ``peer``: the key id of the other node of the pair, and a match-notice's
                   fields; sent by the blind linkage node to each node of the pair
review-decision    ``match_id``, ``decision`` (confirm | undo; reject | unsure from older nodes,
                   which the receiver ignores), ``at``
contact-handover   ``match_id``, ``contact``: {name, organisation, phone, email}; sent only after
                   both sides confirmed, refused by the receiver otherwise
retraction         ``pseudonyms``: records withdrawn or resolved; the peer deletes their keys and
                   candidates
holdings-request   ``batch``: "which of my records do you hold?" (a node repairing the past)
holdings           ``batch`` (the request's), ``pseudonyms``: the requester's records the sender
                   holds, one part of them; ``last``: true on the final part
rekey              ``since``: the sender rotated its blinding scalar for the receiver then; the
                   receiver drops its keys the sender returned and sends all its records again
directory-entry    ``entry``: an organisation's signed directory entry (protocol/directory.py),
                   passed on unchanged; ``document``: the origin's self-signed node document
stats-table        ``published``: the sender's suppressed statistics tables (protocol/tables.py)
ack                ``acked``: the message id processed, ``result``: applied | duplicate
=================  ===========================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .directory import check_entry_shape
from .errors import BadPayload
from .tables import check_published

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def canonical_base64url(nbytes: int) -> re.Pattern[str]:
    """Exactly the canonical unpadded base64url spellings of ``nbytes`` bytes: the right length,
    and a last character whose bits beyond the data are zero (``envelope.unb64``'s rule). So a
    key is checked by one regular expression and decoded once, by ``blinding.from_wire``: a
    peer's batch has ~250,000 keys, each decoded twice before (here, and again there)."""
    length = -(-nbytes * 8 // 6)
    unused = length * 6 - nbytes * 8
    last = "".join(c for i, c in enumerate(_ALPHABET) if i % (1 << unused) == 0)
    return re.compile(f"[A-Za-z0-9_-]{{{length - 1}}}[{re.escape(last)}]\\Z")


PSEUDONYM = canonical_base64url(16)  # 16 random bytes
BLINDED_KEY = canonical_base64url(32)  # 32-byte X25519 output
KEY_TYPE = re.compile(r"^[a-z0-9_]{1,40}$")
MATCH_ID = re.compile(r"^[0-9a-f]{32}$")
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")  # a node's key id (keys.identity.key_id_for)
BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_RECORDS_PER_BATCH = 5000
MAX_KEYS_PER_RECORD = 256
MAX_TEXT = 500
# Who compares a pair's keys, as each node's coordinator set it from that node's side: both
# nodes, only the sender ("ours"), only the receiver ("theirs"), or a blind linkage node.
EVALUATIONS = ("both", "ours", "theirs", "linker")

Check = Callable[[Any], bool]


def _is_int(low: int, high: int) -> Check:
    return lambda v: type(v) is int and low <= v <= high


def _matches(pattern: re.Pattern[str]) -> Check:
    return lambda v: isinstance(v, str) and bool(pattern.match(v))


def _score(v: Any) -> bool:
    """A number in [0, 1]; not a boolean (``True`` is an int in Python, 1 in JSON it is not)."""
    return type(v) in (int, float) and 0 <= v <= 1


def _text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_TEXT


# Pseudonyms and blinded keys only in their one canonical spelling (``canonical_base64url``), or
# one key would have several wire forms (and a peer could send the same key twice as two
# different strings). Built once: ``_record`` checks every key of a batch.
_pseudonym = _matches(PSEUDONYM)
_blinded_key = _matches(BLINDED_KEY)
_key_type = _matches(KEY_TYPE)


def _record(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and set(v) == {"p", "k"}
        and _pseudonym(v["p"])
        and isinstance(v["k"], list)
        and len(v["k"]) <= MAX_KEYS_PER_RECORD
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and _key_type(pair[0])
            and _blinded_key(pair[1])
            for pair in v["k"]
        )
    )


def _list_of(item: Check, most: int) -> Check:
    return lambda v: isinstance(v, list) and len(v) <= most and all(item(x) for x in v)


def _contact(v: Any) -> bool:
    fields = {"name", "organisation", "phone", "email"}
    return isinstance(v, dict) and set(v) == fields and all(_text(v[f]) for f in fields)


MATCH_NOTICE: dict[str, Check] = {
    "match_id": _matches(MATCH_ID),
    "score": _score,
    "evidence": _text,
    "receiver_pseudonym": _pseudonym,
    "sender_pseudonym": _pseudonym,
}


def _match_notice(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and set(v) == set(MATCH_NOTICE)
        and all(ok(v[name]) for name, ok in MATCH_NOTICE.items())
    )


SCHEMAS: dict[str, dict[str, Check]] = {
    "node-document": {"document": lambda v: isinstance(v, str) and len(v) <= 64_000},
    "blinded-keys": {
        "keyset": _is_int(1, 1_000),
        "batch": _matches(BATCH_ID),
        "records": _list_of(_record, MAX_RECORDS_PER_BATCH),
        "announced_records": _is_int(0, 100_000_000),
        "evaluation": lambda v: v in EVALUATIONS,
    },
    "blinded-reply": {
        "keyset": _is_int(1, 1_000),
        "batch": _matches(BATCH_ID),
        "records": _list_of(_record, MAX_RECORDS_PER_BATCH),
    },
    "match-notice": MATCH_NOTICE,
    "match-notices": {"notices": _list_of(_match_notice, MAX_RECORDS_PER_BATCH)},
    "linkage-keys": {
        "peer": _matches(KEY_ID),
        "keyset": _is_int(1, 1_000),
        "records": _list_of(_record, MAX_RECORDS_PER_BATCH),
        "retracted": _list_of(_pseudonym, MAX_RECORDS_PER_BATCH),
    },
    "linkage-notice": {
        "peer": _matches(KEY_ID),
        "match_id": _matches(MATCH_ID),
        "score": _score,
        "evidence": _text,
        "receiver_pseudonym": _pseudonym,
        "sender_pseudonym": _pseudonym,
    },
    "review-decision": {
        "match_id": _matches(MATCH_ID),
        "decision": lambda v: v in ("confirm", "reject", "unsure", "undo"),
        "at": _is_int(0, 2**40),
        "receiver_pseudonym": _pseudonym,
        "sender_pseudonym": _pseudonym,
    },
    "contact-handover": {"match_id": _matches(MATCH_ID), "contact": _contact},
    "retraction": {"pseudonyms": _list_of(_pseudonym, MAX_RECORDS_PER_BATCH)},
    "holdings-request": {"batch": _matches(BATCH_ID)},
    "holdings": {
        "batch": _matches(BATCH_ID),
        "pseudonyms": _list_of(_pseudonym, MAX_RECORDS_PER_BATCH),
        "last": lambda v: type(v) is bool,
    },
    "rekey": {"since": _is_int(0, 2**40)},
    "directory-entry": {
        "entry": check_entry_shape,
        "document": lambda v: isinstance(v, str) and len(v) <= 16 * 1024,
    },
    "stats-table": {"published": check_published},
    "ack": {
        "acked": _matches(MESSAGE_ID),
        "result": lambda v: v in ("applied", "duplicate"),
    },
}
MESSAGE_TYPES = tuple(SCHEMAS)


def validate(message_type: str, payload: Any) -> dict[str, Any]:
    """Return the payload if it has exactly its type's fields, each valid; else BadPayload."""
    schema = SCHEMAS.get(message_type)
    if schema is None:
        raise BadPayload(f"unknown message type {message_type!r}")
    if not isinstance(payload, dict) or set(payload) != set(schema):
        raise BadPayload(f"{message_type} payload must have exactly {', '.join(sorted(schema))}")
    for name, ok in schema.items():
        if not ok(payload[name]):
            raise BadPayload(f"{message_type} payload field {name!r} is not valid")
    return payload
