"""Benchmark: what a trusted peer can learn about our records (issue 12): attacks anyone can rerun.

    .venv/bin/python benchmarks/privacy_attacks.py --json FILE                     # the default
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation ours --json FILE   # A evaluates

Two real nodes are built in a temporary folder the way ``tafuta demo`` builds them: A holds a
missing-person list, B a found register (``--records`` each, from matching/synthetic.py, 40 % of
the smaller list the same people), paired through invitation tokens and safety numbers, with
the default budget A's coordinator is offered. Every message is sealed by its sender and opened
by its receiver with every check of the network path (signature, trust, clock window, replay);
only the HTTP hop is left out, as in node/demo/network.py.

The attacks are B's, against A:

* **curious** — B runs the honest exchange and then reads everything it holds: its database
  (its own plaintext records, its blinding scalar, its own and A's doubly blinded keys, its
  suggestions and their evidence) and a copy of every envelope payload it sent or received (its
  outbox, kept by a modified client). B knows the plaintext of its own keys, so each of its own
  doubly blinded tokens it can tie to a plaintext key, by position in the reply, by key type, or
  by intersecting the keys of its records that share the token, tells it A's value wherever an
  A token is equal. Only facts B can be *certain* of count, and each is checked against A's
  plaintext (``curious_wrong_facts`` reports any wrong one).
* **malicious** — another peer M, trusted by A with A's default budget, whose whole register is
  guesses: a modified client that blinds what it likes and sends it as ``blinded-keys`` (one key
  per record, so any shuffling of a reply cannot hide which guess a token is), announcing the
  most records the schema allows. Guesses come from the public name bank (matching/data), most
  common names first: stage 1 is name pair x home district; every hit is followed at once by
  stage 2, the same name pair x every birth year 1940-2025. It reads two channels: the tokens of
  A's ``blinded-reply`` (compared with A's keys it holds) and A's match notices (suggestions and
  their evidence). When A sends no keys back (A alone evaluates), it adapts: whole guessed
  people (name pair, district, each birth year 1960-2012), most plausible first again, to be
  told of those A suggests. It stops when A refuses (HTTP 429) or its guesses run out; then it
  probes once more past the budget. A record is re-identified when M learns its two name sounds,
  exact birth year and home district, each checked.
* **tracking** — A retracts a record and adds it again under a new ref: how many tokens B sees
  for it it saw before; then A rotates its scalar and pseudonyms: and now.
* **unsolicited handover** — B sends a ``contact-handover`` for a match A merely suggested.
* **alerts** — after the malicious run, ``tafuta status`` (a real process) and the peers page of
  a real ``tafuta serve`` (logged in as A's admin) must name M in an alert (``role="alert"``).

Results: printed, and with ``--json FILE`` written as JSON with at least ``records``,
``curious_value_leak_pct``, ``curious_reid_pct``, ``malicious_reid_pct``, ``malicious_keys_used``,
``over_budget_refused``, ``alert_shown``, ``unsolicited_handover_refused`` and
``false_suggestions_per_1000``. Definitions are in docs/threat-model.md.

The attacker code calls the node's own functions with chosen inputs; nothing here reads A's
database to attack, only to score the attack against the truth.
"""

from __future__ import annotations

import argparse
import base64
import http.cookiejar
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keys import KdfParams
from matching import KEYSET_VERSION, match_keys, normalise
from matching.errors import KeySetError
from matching.fields import components
from matching.synthetic import generate, load_bank
from node.demo.network import create_demo_users, write_register
from node.federation.exchange import Federation
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.identity import (
    create_node,
    invite_token,
    unlock,
    write_new_passphrase_file,
)
from node.trust.peers import add_peer, peer_fingerprint, trust_peer
from protocol import blinding
from protocol.envelope import new_message_id
from protocol.errors import EnvelopeRefused

SEED = 2026
ANNOUNCE = 100_000_000  # the most records the blinded-keys schema lets a peer announce
GUESS_BATCH = 4_000  # keys per malicious message
YEARS = range(1940, 2026)
# Whole guessed people, when A sends no keys back: the birth years of most people on the lists.
WHOLE_YEARS = range(1960, 2013)
WHOLE_PARTS = {"names2", "name1", "district", "year", "yearx"}
RECORDS_PER_BATCH = 4_500
MAX_ROUNDS = 20
# Facts that are exact field values (a two-year window alone is not).
EXACT = ("names", "name", "year", "date", "district", "village", "phone", "mother")


# --- nodes ----------------------------------------------------------------------------------------


@dataclass
class RecordingFederation(Federation):
    """A modified client: the real node, plus a copy of every payload it opened."""

    opened: list[tuple[str, dict]] = field(default_factory=list)

    def _apply(self, peer, opened, via_bundle):
        self.opened.append((opened.header.type, opened.payload))
        if opened.header.type == "match-notice" and (
            self.store.peer_evaluation(peer.id) != "theirs"
            or opened.payload["receiver_pseudonym"] not in self.store.refs_for_pseudonyms(peer.id)
        ):
            # A notice about guesses the node never sent as records: kept, not applied.
            self.store.apply_simple(peer.id, opened.header.id, "match-notice", self.clock(), False)
            return self.ack_for(peer, opened.header.id, "applied")
        return super()._apply(peer, opened, via_bundle)


@dataclass
class Side:
    name: str
    home: Path
    passphrase_file: Path
    fed: RecordingFederation
    sent: list[tuple[str, dict]] = field(default_factory=list)  # outbox copies

    @property
    def store(self) -> Store:
        return self.fed.store

    def peer(self, other: Side):
        return self.fed.peer_named(other.name)


def make_node(root: Path, name: str, records: list[dict]) -> Side:
    slug = name.lower().replace(" ", "-")
    secret = root / f"{slug}.passphrase"
    passphrase = write_new_passphrase_file(secret)
    home = create_node(root / slug, name=name, passphrase=passphrase, kdf=KdfParams.cheap())
    store = Store.open(home.database_path)
    if records:
        apply_import(plan_import(write_register(root / f"{slug}.csv", records), store), store)
    home = open_home(home.path)
    base = federation_for(home, store, unlock(home, passphrase), node_lexicon(home))
    init = {f.name: getattr(base, f.name) for f in dataclass_fields(base) if f.init}
    return Side(name, home.path, secret, RecordingFederation(**init))


def pair(a: Side, b: Side, evaluation: str) -> None:
    """What two coordinators do: swap tokens, compare the safety number, trust with the default
    budget; A's coordinator chooses who evaluates and B's agrees."""
    homes = {s.name: open_home(s.home) for s in (a, b)}
    for x, y in ((a, b), (b, a)):
        add_peer(homes[x.name], x.store, invite_token(homes[y.name]), actor="benchmark")
    agreed = {"both": "both", "ours": "theirs", "theirs": "ours"}
    for x, y, mode in ((a, b, evaluation), (b, a, agreed[evaluation])):
        digits = peer_fingerprint(homes[x.name], x.store, y.name)
        if evaluation == "both":  # the default, and the only choice before pair-level release
            trust_peer(homes[x.name], x.store, y.name, digits, actor="benchmark")
        else:
            trust_peer(homes[x.name], x.store, y.name, digits, actor="benchmark",
                       evaluation=mode)  # fmt: skip


def carry(sender: Side, receiver: Side) -> int:
    """Deliver the sender's outbox for the receiver and hand back the acknowledgements."""
    peer = sender.peer(receiver)
    moved = 0
    for message in sender.store.pending_messages(peer.id):
        sender.sent.append((message["type"], message["payload"]))
        body = sender.fed.seal_for(peer, message["message_id"], message["type"], message["payload"])
        ack = receiver.fed.receive(body).ack
        if ack is not None:
            sender.fed.receive(ack)
        moved += 1
    return moved


def exchange(a: Side, b: Side) -> None:
    for x, y in ((a, b), (b, a)):
        x.fed.prepare(x.peer(y))
    for _ in range(MAX_ROUNDS):
        if not carry(a, b) + carry(b, a):
            break
    else:
        raise RuntimeError("the exchange did not settle")
    for x, y in ((a, b), (b, a)):
        x.fed.rescore(x.peer(y), force=True)
    for _ in range(MAX_ROUNDS):  # match notices, when only one side evaluates
        if not carry(a, b) + carry(b, a):
            break


# --- what a key says -----------------------------------------------------------------------------


def key_facts(key_type: str, value: str) -> set[tuple[str, str]]:
    """The field facts a plaintext match key states, e.g. {("names", "KMR+MKS"), ("district",
    "kilifi")}; ("yw", window) for a two-year window."""
    try:
        parts = components(key_type)
    except KeySetError:
        return set()
    values = value.split("|") if len(parts) > 1 else [value]
    if len(values) != len(parts):
        return set()
    facts = set()
    for part, v in zip(parts, values, strict=True):
        base = part.split(":")[0]
        if base == "names2":
            facts.add(("names", v))
        elif base == "name1":
            facts.add(("name", v))
        elif base == "year":
            facts.add(("yw", v))
        elif base == "yearx":
            facts.add(("year", v))
        elif base == "date":
            facts |= {("date", v), ("year", v[:4])}
        elif base in ("district", "village", "phone", "mother"):
            facts.add((base, v))
    return facts


def window_years(window: str) -> set[int]:
    k = int(window[1:])
    return {2 * k, 2 * k + 1} if window[0] == "e" else {2 * k - 1, 2 * k}


def with_years(facts: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Add the exact year that two learned windows pin down."""
    windows = [window_years(v) for f, v in facts if f == "yw"]
    out = set(facts)
    for i, w in enumerate(windows):
        for other in windows[i + 1 :]:
            both = w & other
            if len(both) == 1:
                out.add(("year", str(both.pop())))
    return out


def reidentified(facts: set[tuple[str, str]]) -> bool:
    kinds = {f for f, _ in facts}
    return {"names", "year", "district"} <= kinds


def exact(facts: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(f, v) for f, v in facts if f in EXACT}


# --- the curious peer ----------------------------------------------------------------------------


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def curious_attack(a: Side, b: Side, truth_facts: dict[str, set], matched_a: set[str]) -> dict:
    """B's view, B's inferences, scored against A's truth."""
    start = time.perf_counter()
    peer_a = b.peer(a)
    lexicon = b.fed.lexicon
    plain = {r["ref"]: match_keys(normalise(r, lexicon)) for r in b.store.iter_records()}
    refs = b.store.refs_for_pseudonyms(peer_a.id)  # B's pseudonym -> B's ref
    scalar = b.fed._scalar(peer_a)
    # B can blind its own plaintext keys with its own scalar: single token -> plaintext key.
    all_keys = sorted({k for keys in plain.values() for k in keys})
    singles = blinding._blind_hashed(scalar, KEYSET_VERSION, all_keys, workers=None, progress=None)
    single_to_key = dict(zip(singles, all_keys, strict=True))
    # Positional: what B sent and what came back for the same pseudonym, if the order holds.
    known: dict[bytes, set] = {}  # doubly blinded token of B -> facts certain
    sent_by_p = {}
    for kind, payload in b.sent:
        if kind == "blinded-keys":
            for record in payload["records"]:
                sent_by_p[record["p"]] = record["k"]
    replies = [p for kind, p in b.fed.opened if kind == "blinded-reply"]
    positional = 0
    for payload in replies:
        for record in payload["records"]:
            sent = sent_by_p.get(record["p"])
            got = record.get("k", [])
            if not sent or len(sent) != len(got):
                continue
            if not all(
                isinstance(g, list) and len(g) == 2 and g[0] == s[0]
                for g, s in zip(got, sent, strict=True)
            ):
                continue  # no types to check the order by: the order cannot be trusted
            for s, g in zip(sent, got, strict=True):
                key = single_to_key.get(_b64(s[1]))
                if key is not None:
                    known[_b64(g[1])] = key_facts(*key)
                    positional += 1
    # By type and by intersection over B's records that hold the same token.
    own = b.store.blinded_keys("own_blinded", peer_a.id)
    candidates: dict[bytes, set | None] = {}
    for pseudonym, keys in own.items():
        ref = refs.get(pseudonym)
        if ref is None:
            continue
        for key_type, token in keys:
            token = bytes(token)
            mine = {k for k in plain[ref] if k[0] == key_type} or set(plain[ref])
            before = candidates.get(token)
            candidates[token] = mine if before is None else before & mine
    inferred = 0
    by_inference: dict[bytes, set] = {}  # what is left if replies kept no order
    for token, options in candidates.items():
        if not options:
            continue
        common = set.intersection(*(key_facts(*k) for k in options))
        if common:
            by_inference[token] = common
            if token not in known:
                known[token] = common
                inferred += 1
    # A's records as B holds them, and B's suggestions with their evidence.
    theirs = b.store.blinded_keys("peer_blinded", peer_a.id)
    learned: dict[str, set] = defaultdict(set)
    unordered: dict[str, set] = defaultdict(set)
    for pseudonym, keys in theirs.items():
        for _, token in keys:
            learned[pseudonym] |= known.get(bytes(token), set())
            unordered[pseudonym] |= by_inference.get(bytes(token), set())
    shown = set()
    for match in b.store.list_matches():
        if match["peer"] != a.name:
            continue
        shown.add(match["peer_pseudonym"])
        learned[match["peer_pseudonym"]] |= evidence_facts(
            match["evidence"], plain[match["local_ref"]]
        )
    # Score against A's truth (A's pseudonyms for B map to A's refs).
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(b).id).items()}
    wrong = 0
    correct: dict[str, set] = {}
    for pseudonym, facts in learned.items():
        ref = a_refs.get(pseudonym)
        if ref is None:
            continue
        facts = with_years(facts)
        right = {f for f in facts if f in truth_facts[ref] or f[0] == "yw"}
        wrong += len(exact(facts - right))
        correct[ref] = right
    not_shown = [ref for p, ref in a_refs.items() if p not in shown]
    unmatched = [ref for ref in a_refs.values() if ref not in matched_a]
    leak = [ref for ref in not_shown if exact(correct.get(ref, set()))]
    leak_unordered = [
        ref
        for p, ref in a_refs.items()
        if p not in shown and exact(with_years(unordered.get(p, set())) & truth_facts[ref])
    ]
    reid = [ref for ref in unmatched if reidentified(correct.get(ref, set()))]
    by_field = {
        f: round(100 * sum(any(x == f for x, _ in correct.get(r, ())) for r in not_shown)
                 / max(1, len(not_shown)), 1)
        for f in EXACT
    }  # fmt: skip
    return {
        "curious_value_leak_pct": round(100 * len(leak) / max(1, len(not_shown)), 1),
        "curious_reid_pct": round(100 * len(reid) / max(1, len(unmatched)), 1),
        "curious_value_leak_by_field_pct": by_field,
        # The same attack without the reply's order: by key type and by intersecting B's records
        # that hold the same token (what shuffled, untyped replies would leave).
        "curious_value_leak_without_reply_order_pct": round(
            100 * len(leak_unordered) / max(1, len(not_shown)), 1
        ),
        "curious_records_not_shown": len(not_shown),
        "curious_records_without_true_match": len(unmatched),
        "curious_tokens_tied_by_position": positional,
        "curious_tokens_tied_by_type_or_intersection": inferred,
        "curious_wrong_facts": wrong,
        "curious_seconds": round(time.perf_counter() - start, 1),
    }


EVIDENCE = (
    ("same home district", ("district",)),
    ("same home village", ("village",)),
    ("same birth date", ("date", "year")),
    ("same birth year", ("year",)),
    ("same phone number", ("phone",)),
    ("mother's name sounds the same", ("mother",)),
    ("two names sound the same", ("names",)),
    ("three or more names sound the same", ("names",)),
)


def evidence_facts(evidence: str, own_keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """What a suggestion's evidence tells B about A's record: B's own value of each field the
    evidence calls the same, when B's record has exactly one value for it."""
    mine: dict[str, set[str]] = defaultdict(set)
    for facts in (with_years(key_facts(*k)) for k in own_keys):
        for f, v in facts:
            mine[f].add(v)
    out = set()
    for phrase, fields in EVIDENCE:
        if phrase in evidence:
            for f in fields:
                if len(mine.get(f, ())) == 1:
                    out.add((f, next(iter(mine[f]))))
    return out


# --- the malicious peer --------------------------------------------------------------------------


def stage1_guesses(lexicon) -> Iterator[dict]:
    """(name, name, district) guesses, most plausible first (Zipf ranks, tradition weights)."""
    bank = load_bank()
    scored = []
    for t in bank.traditions:
        religious = [n for faith in ("muslim", "christian") for sex in ("female", "male")
                     for n in bank.religious[f"{faith}.{sex}"]]  # fmt: skip
        given = list(dict.fromkeys([*t.female, *t.male, *religious]))
        family = list(t.family or t.male)
        names = list(dict.fromkeys(given + family))
        rank = {n: min(r for r, m in enumerate(seq) if m == n) for seq in (t.female, t.male,
                family, religious) for n in seq}  # fmt: skip
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                weight = t.weight / ((rank[first] + 1) * (rank[second] + 1)) ** 0.9
                for district, _ in t.districts:
                    scored.append((-weight / len(t.districts), first, second, district))
    scored.sort()
    for _, first, second, district in scored:
        yield {"given_names": first, "family_name": second, "origin_district": district}


def guess_keys(lexicon, guess: dict, allowed: set[str]) -> list[tuple[str, str]]:
    record = {"ref": "guess", "kind": "missing", **guess}
    out = []
    for key in match_keys(normalise(record, lexicon)):
        try:
            parts = {p.split(":")[0] for p in components(key[0])}
        except KeySetError:
            continue
        if parts <= allowed:
            out.append(key)
    return out


class Refused(Exception):
    pass


def send_guesses(
    m: Side, a: Side, records: list[list[tuple[str, str]]]
) -> tuple[dict[tuple, bytes], list[tuple[int, str, str]], bool]:
    """Blind guess records, send them to A, let A score as its sync loop does, and read what
    comes back: each guess key's doubly blinded token (from a blinded-reply, if A sends one) and
    each suggestion A notifies (record index, A's pseudonym, evidence)."""
    peer = m.peer(a)
    scalar = m.fed._scalar(peer)
    flat = [k for record in records for k in record]
    singles = iter(
        blinding._blind_hashed(scalar, KEYSET_VERSION, flat, workers=None, progress=None)
    )
    index_of, wire = {}, []
    for i, record in enumerate(records):
        pseudonym = blinding.new_pseudonym()
        index_of[pseudonym] = i
        wire.append(blinding.BlindedRecord(pseudonym, tuple((k[0], next(singles)) for k in record)))
    payload = {
        "keyset": KEYSET_VERSION,
        "batch": new_message_id()[:16],
        "records": blinding.to_wire(wire),
        "announced_records": ANNOUNCE,
    }
    body = m.fed.seal_for(peer, new_message_id(), "blinded-keys", payload)
    try:
        ack = a.fed.receive(body).ack
    except EnvelopeRefused as refused:
        raise Refused(f"{refused.status} {refused}") from refused
    if ack is not None:
        m.fed.receive(ack)
    before = len(m.fed.opened)
    carry(a, m)
    a.fed.rescore(a.peer(m), force=True)  # what A's sync loop does after new keys
    carry(a, m)
    tokens, notices = {}, []
    replied = False
    for kind, got in m.fed.opened[before:]:
        if kind == "blinded-reply":
            replied = True
            for record in got["records"]:
                i = index_of.get(record["p"])
                if i is None or len(record["k"]) != len(records[i]):
                    continue
                for key, (key_type, token) in zip(records[i], record["k"], strict=True):
                    if key_type == key[0]:  # order and types kept: the token is this guess's
                        tokens[key] = _b64(token)
        elif kind == "match-notice" and got["evidence"]:
            i = index_of.get(got["receiver_pseudonym"])
            if i is not None:
                notices.append((i, got["sender_pseudonym"], got["evidence"]))
    return tokens, notices, replied


def malicious_attack(a: Side, m: Side, truth_facts: dict[str, set], max_keys: int) -> dict:
    start = time.perf_counter()
    exchange(a, m)  # A sends its keys to M like to any trusted peer; M's register is empty
    peer_a = m.peer(a)
    lexicon = m.fed.lexicon
    theirs = m.store.blinded_keys("peer_blinded", peer_a.id)
    index: dict[bytes, list[str]] = defaultdict(list)
    for pseudonym, keys in theirs.items():
        for _, token in keys:
            index[bytes(token)].append(pseudonym)
    learned: dict[str, set] = defaultdict(set)
    sent: set[tuple[str, str]] = set()
    queue: list[list[tuple[str, str]]] = []
    suggested = 0
    followed: set[str] = set()
    used = 0
    refused = ""
    names_of: dict[str, tuple[str, str]] = {}
    stage1 = stage1_guesses(lexicon)
    exhausted = False
    whole = False

    def follow(facts: set) -> None:
        for f, v in facts:
            if f == "names" and v not in followed:
                followed.add(v)
                queue.extend(stage2_records(lexicon, names_of.get(v)))

    def flush(batch: list[list[tuple[str, str]]]) -> None:
        nonlocal used, suggested, whole, stage1
        tokens, notices, replied = send_guesses(m, a, batch)
        used = len(sent)  # distinct keys, as A's budget counts them
        if not replied and not tokens and not whole:
            # A sends no keys back (it alone evaluates): adapt, and send whole guessed people
            # (names, district, birth year), most plausible first again, to be told of those A
            # suggests.
            whole = True
            stage1 = stage1_guesses(lexicon)
        for key, token in tokens.items():
            for pseudonym in index.get(token, ()):
                facts = key_facts(*key)
                learned[pseudonym] |= facts
                follow(facts)
        for i, pseudonym, evidence in notices:  # suggestions: the pair-level channel
            suggested += 1
            facts = evidence_facts(evidence, batch[i])
            learned[pseudonym] |= facts
            follow(facts)

    try:
        while used < max_keys and not exhausted:
            batch: list[list[tuple[str, str]]] = []
            size = 0
            while queue and size < GUESS_BATCH:  # stage 2 first: it is cheaper per hit
                record = queue.pop(0)  # whole: a key sent again costs nothing at A
                sent.update(record)
                batch.append(record)
                size += len(record)
            while size < GUESS_BATCH and len(batch) < RECORDS_PER_BATCH:
                guess = next(stage1, None)
                if guess is None:
                    exhausted = True
                    break
                if whole:
                    records = [
                        guess_keys(lexicon, {**guess, "birth_date": str(year)}, WHOLE_PARTS)
                        for year in WHOLE_YEARS
                    ]
                else:
                    records = [
                        [
                            k
                            for k in guess_keys(lexicon, guess, {"names2", "name1", "district"})
                            if k not in sent
                        ]
                    ]
                for record in records:
                    if not record:
                        continue
                    size += len(set(record) - sent)
                    sent.update(record)
                    batch.append(record)
                    for key in record:
                        for f, v in key_facts(*key):
                            if f == "names":
                                names_of.setdefault(v, (guess["given_names"], guess["family_name"]))
            if not batch:
                break
            flush(batch)
        while queue and used < max_keys:  # the last hits' years
            batch, size = [], 0
            while queue and size < GUESS_BATCH:
                record = queue.pop(0)
                sent.update(record)
                batch.append(record)
                size += len(record)
            if batch:
                flush(batch)
    except Refused as err:
        refused = str(err)
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(m).id).items()}
    reid = 0
    wrong = 0
    for pseudonym, facts in learned.items():
        ref = a_refs.get(pseudonym)
        if ref is None:
            continue
        facts = with_years(facts)
        right = {f for f in facts if f in truth_facts[ref] or f[0] == "yw"}
        wrong += len(exact(facts - right))
        reid += reidentified(right)
    return {
        "malicious_reid_pct": round(100 * reid / max(1, len(a_refs)), 1),
        "malicious_keys_used": used,
        "malicious_leak_pct": round(
            100 * sum(bool(exact(f)) for f in learned.values()) / max(1, len(a_refs)), 1
        ),
        "malicious_refused": refused,
        "malicious_suggestions_received": suggested,
        "malicious_sent_whole_people": whole,
        "malicious_guesses_exhausted": exhausted,
        "malicious_wrong_facts": wrong,
        "malicious_seconds": round(time.perf_counter() - start, 1),
    }


def stage2_records(lexicon, names: tuple[str, str] | None) -> list[list[tuple[str, str]]]:
    """One guess record per birth year for a name pair that hit: its name x year keys."""
    if names is None:
        return []
    out = []
    for year in YEARS:
        guess = {"given_names": names[0], "family_name": names[1], "birth_date": str(year)}
        out.append(guess_keys(lexicon, guess, {"names2", "name1", "year", "yearx"}))
    return out


def budget_of(a: Side, m: Side) -> int:
    """What A's coordinator granted M: the configured budget, or today's daily cap."""
    fed, peer = a.fed, a.peer(m)
    for name in ("key_budget", "blinding_cap"):
        method = getattr(fed, name, None)
        if method is not None:
            return int(method(peer))
    raise RuntimeError("no budget API")


def probe_over_budget(a: Side, m: Side, used: int, budget: int) -> tuple[bool, str]:
    """Ask A to blind random points until past ``budget`` keys in all; True if refused."""
    total = used
    while total <= budget:
        n = min(GUESS_BATCH, budget + 1 - total)
        keys = [[("phone", f"+000{secrets.randbelow(10**12):012d}")] for _ in range(n)]
        try:
            send_guesses(m, a, keys)
        except Refused as err:
            return True, str(err)
        total += n
    return False, f"accepted {total} keys with a budget of {budget}"


# --- tracking a record across retract and re-add, and across a rotation --------------------------


def seen_by(b: Side, a: Side, pseudonym: str) -> set[bytes]:
    """Every token of one of A's pseudonyms that B held or saw: its database and the payloads
    of A's blinded-keys it logged (singly blinded by A)."""
    seen = {bytes(t) for _, t in b.store.blinded_keys("peer_blinded", b.peer(a).id).get(
        pseudonym, [])}  # fmt: skip
    for kind, payload in b.fed.opened:
        if kind == "blinded-keys":
            for record in payload["records"]:
                if record["p"] == pseudonym:
                    seen |= {_b64(k) for _, k in record["k"]}
    return seen


def tracking(a: Side, b: Side, regs) -> dict:
    """A retracts a record and adds it again under a new ref; how many of the tokens B sees
    for the new record did it see for the old one? Then A rotates: and now?"""
    record = dict(regs.missing[0])
    ref = record["ref"]
    old = a.store.pseudonyms(a.peer(b).id)[ref][0]
    before = seen_by(b, a, old)
    a.store.retract_record(ref, actor="benchmark", reason="tracking test", now=a.fed.clock())
    record["ref"] = ref + "-R"
    register = write_register(a.home.parent / "readd.csv", [record])
    apply_import(plan_import(register, a.store), a.store)
    exchange(a, b)
    new = a.store.pseudonyms(a.peer(b).id)[record["ref"]][0]
    readded = seen_by(b, a, new)
    # Rotation comes by itself every 90 days, so after the budget's 30-day window: the full
    # re-exchange it causes fits the peer's budget again.
    later = a.fed.clock() + 91 * 24 * 3600
    for side in (a, b):
        side.fed.clock = lambda: later
    a.fed.rotate(a.peer(b), actor="benchmark")
    for _ in range(3):
        exchange(a, b)
    rotated = a.store.pseudonyms(a.peer(b).id)[record["ref"]][0]
    after = seen_by(b, a, rotated)
    return {
        "tracking_tokens_equal_after_readd": f"{len(before & readded)} of {len(readded)}",
        "tracking_tokens_equal_after_rotation": f"{len(readded & after)} of {len(after)}",
        "tracking_same_pseudonym_after_rotation": rotated == new,
    }


# --- the handover and the alerts -----------------------------------------------------------------


def unsolicited_handover(a: Side, b: Side) -> dict:
    suggested = [m for m in a.store.list_matches("suggested") if m["peer"] == b.name]
    if not suggested:
        return {"unsolicited_handover_refused": None, "handover_detail": "no suggestion to try"}
    match_id = suggested[0]["match_id"]
    phone = "+254 799 000 666"
    contact = {"name": "Stranger", "organisation": "B", "phone": phone, "email": "x@b.example"}
    payload = {"match_id": match_id, "contact": contact}
    peer = b.peer(a)
    body = b.fed.seal_for(peer, new_message_id(), "contact-handover", payload)
    status = 200
    try:
        ack = a.fed.receive(body).ack
        if ack is not None:
            b.fed.receive(ack)
    except EnvelopeRefused as refused:
        status = refused.status
    row = a.store.match(match_id)
    stored = bool(row and row.get("peer_contact"))
    return {
        "unsolicited_handover_refused": 400 <= status < 500 and not stored,
        "handover_status": status,
        "handover_stored": stored,
        "handover_match_id": match_id,
        "handover_phone": phone,
    }


def tafuta_command() -> list[str]:
    found = Path(sys.executable).parent / "tafuta"
    return [str(found)] if found.exists() else [sys.executable, "-m", "node.cli"]


def status_alert(a: Side, who: str) -> tuple[bool, str]:
    env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(a.passphrase_file)}
    out = subprocess.run([*tafuta_command(), "--home", str(a.home), "status"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    lines = [ln for ln in out.stdout.splitlines() if who in ln and ("alert" in ln.lower()
             or "peer event" in ln.lower())]  # fmt: skip
    return bool(lines), "\n".join(lines[:5])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def web_checks(a: Side, who: str, handover: dict) -> dict:
    """Start A's real server, log in as its admin, read the peers page and the tried match."""
    creds = [c for c in create_demo_users(a.home, a.name) if c.role == "admin"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TAFUTA_PASSPHRASE_FILE": str(a.passphrase_file)}
    log = (a.home.parent / "serve.log").open("ab")
    process = subprocess.Popen(
        [*tafuta_command(), "--home", str(a.home), "serve", "--port", str(port),
         "--sync-interval", "3600"], stdout=log, stderr=log, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())

    def get(path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(base + path, data=body, headers={"Origin": base})
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get("/v1/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        _, page = get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        login, _ = get("/login", {"csrf": csrf, "name": creds[0].username,
                                  "password": creds[0].password, "next": "/queue"})  # fmt: skip
        page_status, peers = get("/peers")
        alerts = re.findall(r'<(\w+)[^>]*role="alert"[^>]*>(.*?)</\1>', peers, re.S)
        shown = any(who in block for _, block in alerts)
        match_shown = None
        if handover.get("handover_match_id"):
            status, page = get(f"/matches/{handover['handover_match_id']}")
            match_shown = status == 200 and handover["handover_phone"] in page
        return {"peers_page_alert": shown, "handover_shown_on_page": match_shown,
                "web_login_status": login, "peers_page_status": page_status}  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


# --- the run -------------------------------------------------------------------------------------


def truth_of(side: Side) -> dict[str, set]:
    lexicon = side.fed.lexicon
    return {
        r["ref"]: with_years(
            set().union(*[key_facts(*k) for k in match_keys(normalise(r, lexicon))])
        )
        for r in side.store.iter_records()
    }


def keys_of(record: dict, lexicon) -> list[tuple[str, str]]:
    return match_keys(normalise(record, lexicon))


def false_suggestions(a: Side, b: Side, truth: set) -> tuple[int, int]:
    b_refs = {p: ref for ref, (p, _) in b.store.pseudonyms(b.peer(a).id).items()}
    matches = [m for m in a.store.list_matches() if m["peer"] == b.name]
    false = sum((m["local_ref"], b_refs.get(m["peer_pseudonym"])) not in truth for m in matches)
    return len(matches), false


def run(records: int, seed: int, max_keys: int, web: bool, root: Path, evaluation: str) -> dict:
    t0 = time.perf_counter()
    regs = generate(records, records, 0.4, seed)
    a = make_node(root, "Rural A", regs.missing)
    b = make_node(root, "Urban B", regs.found)
    m = make_node(root, "Mallory M", [])
    pair(a, b, evaluation)
    pair(a, m, evaluation)
    exchange(a, b)
    truth_a = truth_of(a)
    matched_a = {x for x, _ in regs.true_pairs}
    suggestions, false = false_suggestions(a, b, set(regs.true_pairs))
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(b).id).items()}
    shown_b = [m for m in b.store.list_matches() if m["peer"] == a.name]
    false_b = sum((a_refs.get(m["peer_pseudonym"]), m["local_ref"]) not in regs.true_pairs
                  for m in shown_b)  # fmt: skip
    result: dict = {
        "records": records,
        "found_records": records,
        "evaluation": evaluation,
        "true_pairs": len(regs.true_pairs),
        "suggestions": suggestions,
        "false_suggestions": false,
        "false_suggestions_per_1000": round(1000 * false / records, 1),
        "suggestions_shown_to_b": len(shown_b),
        "false_suggestions_shown_to_b_per_1000": round(1000 * false_b / records, 1),
    }
    result.update(curious_attack(a, b, truth_a, matched_a))
    budget = budget_of(a, m)
    result["default_budget"] = budget
    result.update(malicious_attack(a, m, truth_a, max_keys))
    refused, detail = (
        (True, result["malicious_refused"])
        if result["malicious_refused"]
        else (probe_over_budget(a, m, result["malicious_keys_used"], budget))
    )
    result["over_budget_refused"] = refused
    result["over_budget_detail"] = detail
    handover = unsolicited_handover(a, b)
    result.update(handover)
    result.update(tracking(a, b, regs))
    status_shown, status_lines = status_alert(a, m.name)
    result["status_alert"] = status_shown
    result["status_alert_lines"] = status_lines
    if web:
        result.update(web_checks(a, m.name, handover))
        result["alert_shown"] = bool(status_shown and result["peers_page_alert"])
        if result.get("handover_shown_on_page"):
            result["unsolicited_handover_refused"] = False
    else:
        result["alert_shown"] = status_shown
    for side in (a, b, m):
        side.store.close()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000, help="records per side")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-keys", type=int, default=3_000_000,
                        help="the malicious peer stops here even if never refused")  # fmt: skip
    parser.add_argument("--no-web", action="store_true", help="skip the real server's pages")
    parser.add_argument("--evaluation", choices=("both", "ours"), default="both",
                        help="who compares keys, as A's coordinator chose")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", type=Path, help="build the nodes here and keep them")
    args = parser.parse_args()
    random.seed(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="tafuta-privacy-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.records, args.seed, args.max_keys, not args.no_web, root, args.evaluation)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    result["run"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/privacy_attacks.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "keyset_version": KEYSET_VERSION,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
