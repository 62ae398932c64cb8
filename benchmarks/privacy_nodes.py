"""The privacy harness's nodes (benchmarks/privacy_attacks.py): two or three real nodes in one
process with real sealed envelopes, and what each key type says about a record (its facts)."""

from __future__ import annotations

import base64
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keys import KdfParams
from matching.errors import KeySetError
from matching.fields import FIELDS, components
from node.demo.network import write_register
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
from node.trust.linkage import add_pair
from node.trust.peers import add_peer, peer_fingerprint, set_evaluation, trust_peer

MAX_ROUNDS = 20
# Facts that are exact field values (a two-year window alone is not).
EXACT = ("names", "name", "year", "date", "district", "village", "phone", "mother", "sex")


# --- nodes ----------------------------------------------------------------------------------------


@dataclass
class RecordingFederation(Federation):
    """A modified client: the real node, plus a copy of every payload it opened."""

    opened: list[tuple[str, dict]] = field(default_factory=list)

    def _apply(self, peer, opened, via_bundle):
        kind, payload = opened.header.type, opened.payload
        self.opened.append((kind, payload))
        about = peer
        if kind == "linkage-notice":  # from the linkage node, about the pair's other node
            row = self.store.peer_for_key_id(payload["peer"])
            about = None if row is None else self._peer_from_row(row)
        named = (
            [n["receiver_pseudonym"] for n in payload["notices"]]
            if kind == "match-notices"
            else [payload.get("receiver_pseudonym")]
        )
        if kind in ("match-notice", "match-notices", "linkage-notice") and (
            about is None
            or (kind != "linkage-notice" and self.store.peer_evaluation(peer.id) != "theirs")
            or not set(named) <= set(self.store.refs_for_pseudonyms(about.id))
        ):
            # A notice about guesses the node never sent as records: kept, not applied.
            self.store.apply_simple(peer.id, opened.header.id, kind, self.clock(), False)
            return self.ack_for(peer, opened.header.id, "applied")
        return super()._apply(peer, opened, via_bundle)


@dataclass
class Side:
    name: str
    home: Path
    passphrase_file: Path
    fed: RecordingFederation
    sent: list[tuple[str, dict]] = field(default_factory=list)  # outbox copies
    # The blind linkage node of this node's pairs, when they are linked through one.
    linker: Side | None = None

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


def pair(a: Side, b: Side, evaluation: str, linker: Side | None = None) -> None:
    """What two coordinators do: swap tokens, compare the safety number, trust with the default
    budget; A's coordinator chooses who evaluates and B's agrees. "linker": both choose
    ``linker`` (paired with both already), whose coordinator agrees to link them, A first."""
    if evaluation == "linker":
        assert linker is not None
        pair(a, b, "both")
        for x, y in ((a, b), (b, a)):
            set_evaluation(x.store, y.name, "linker", actor="benchmark", via=linker.name)
            x.linker = linker
        add_pair(linker.store, a.name, b.name, actor="benchmark")
        return
    homes = {s.name: open_home(s.home) for s in (a, b)}
    for x, y in ((a, b), (b, a)):
        add_peer(homes[x.name], x.store, invite_token(homes[y.name]), actor="benchmark")
    if evaluation.startswith("auto"):
        pair_by_default(a, b, evaluation, homes)
        return
    agreed = {"both": "both", "ours": "theirs", "theirs": "ours"}
    for x, y, mode in ((a, b, evaluation), (b, a, agreed[evaluation])):
        digits = peer_fingerprint(homes[x.name], x.store, y.name)
        if evaluation == "both":  # the default, and the only choice before pair-level release
            trust_peer(homes[x.name], x.store, y.name, digits, actor="benchmark")
        else:
            trust_peer(homes[x.name], x.store, y.name, digits, actor="benchmark",
                       evaluation=mode)  # fmt: skip


def pair_by_default(a: Side, b: Side, evaluation: str, homes: dict) -> None:
    """Both coordinators leave who evaluates to the default ("auto": the node whose key id sorts
    first). "auto-a" / "auto-b": the outcome where A / B evaluates, whatever this run's random
    keys say: the state the default leaves when the key ids fall that way (the roles, marked
    as the default's), so that both outcomes can be measured."""
    for x, y in ((a, b), (b, a)):
        digits = peer_fingerprint(homes[x.name], x.store, y.name)
        trust_peer(homes[x.name], x.store, y.name, digits, actor="benchmark")
    if evaluation == "auto":
        return
    roles = {a.name: "ours", b.name: "theirs"}
    if evaluation == "auto-b":
        roles = {a.name: "theirs", b.name: "ours"}
    for x, y in ((a, b), (b, a)):
        x.store.set_peer_evaluation(x.peer(y).id, roles[x.name], actor="benchmark",
                                    now=x.fed.clock(), auto=True)  # fmt: skip


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


def deliver(a: Side, b: Side) -> int:
    """Carry both ways between A and B, and to and from the linkage node if they have one."""
    moved = carry(a, b) + carry(b, a)
    linker = a.linker if a.linker is not None and a.linker is b.linker else None
    if linker is not None:
        for x in (a, b):
            moved += carry(x, linker) + carry(linker, x)
    return moved


def exchange(a: Side, b: Side) -> None:
    for x, y in ((a, b), (b, a)):
        x.fed.prepare(x.peer(y))
    for _ in range(MAX_ROUNDS):
        if not deliver(a, b):
            break
    else:
        raise RuntimeError("the exchange did not settle")
    score(a, b)


def score(a: Side, b: Side) -> None:
    """What the sync loops do once keys are in: score (each node, or the linkage node), and
    deliver the notices."""
    for x, y in ((a, b), (b, a)):
        x.fed.rescore(x.peer(y), force=True)
    if a.linker is not None and a.linker is b.linker:
        a.linker.fed.score_linkages(force=True)
    for _ in range(MAX_ROUNDS):  # match notices, when only one side (or a linker) evaluates
        if not deliver(a, b):
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
        elif base in ("district", "village", "phone", "mother", "sex"):
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


def reidentified_within_a_year(facts: set[tuple[str, str]]) -> bool:
    """Names, district and the birth year to within one: what a guess learns when the evidence
    says "birth year within a year" of the year it chose. Not the issue's measure (which needs
    the exact year), but as good as one to anyone who knows the person."""
    kinds = {f for f, _ in facts}
    return {"names", "district"} <= kinds and bool(kinds & {"year", "near_year"})


def right_facts(facts: set[tuple[str, str]], truth: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The facts true of a record (windows are never wrong; a year "within a year" is right when
    the record's year, or one of its windows' years, is at most one away)."""
    years = {int(v) for f, v in truth if f == "year"}
    for f, v in truth:
        if f == "yw":
            years |= window_years(v)
    return {
        (f, v)
        for f, v in facts
        if (f, v) in truth
        or f == "yw"
        or (f == "near_year" and any(abs(int(v) - y) <= 1 for y in years))
    }


def exact(facts: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(f, v) for f, v in facts if f in EXACT}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# What each evidence phrase tells the reader of its own record's value, by the scorer's own words
# (matching.fields), so that a change of wording cannot silently blind the harness. A level that
# says only "alike" (one letter off, spelled alike) tells no exact value and is left out.
_TELLS = {
    ("names", "two names sound the same, more names differ"): ("names",),
    ("names", "two names sound alike, spelled differently"): ("names",),
    ("names", "two names sound the same, in any order"): ("names",),
    ("names", "all names sound the same, in any order"): ("names",),
    ("names", "three or more names sound the same, in any order"): ("names",),
    ("names", "the same two names, in any order"): ("names",),
    ("names", "the same three or more names, in any order"): ("names",),
    ("birth", "birth year within a year"): ("near_year",),
    ("birth", "same birth year, birth date differs"): ("year",),
    ("birth", "same birth year"): ("year",),
    ("birth", "same birth date"): ("date", "year"),
    ("district", "same home district"): ("district",),
    ("village", "same home village"): ("village",),
    ("phone", "same phone number"): ("phone",),
    ("mother", "mother's name sounds the same"): ("mother",),
    ("sex", "same sex"): ("sex",),
}
for _field, _words in _TELLS:  # every phrase above is one the scorer says
    if _words not in FIELDS[_field].words:
        raise RuntimeError(f"matching.fields no longer says {_words!r}: update the harness")
EVIDENCE = {words: facts for (_, words), facts in _TELLS.items()}


def evidence_facts(evidence: str, own_keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """What a suggestion's evidence tells B about A's record: B's own value of each field the
    evidence calls the same, when B's record has exactly one value for it."""
    mine: dict[str, set[str]] = defaultdict(set)
    # The windows of all its keys together pin its year down (two windows one apart: one year).
    for f, v in with_years(set().union(*(key_facts(*k) for k in own_keys))):
        mine[f].add(v)
    out = set()
    for phrase in (part.strip() for part in evidence.split(";")):
        for f in EVIDENCE.get(phrase, ()):
            own = mine.get("year" if f == "near_year" else f, set())
            if len(own) == 1:
                out.add((f, next(iter(own))))
    return out
