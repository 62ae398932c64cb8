"""Linking with peers: sending our blinded keys, processing what peers send, scoring candidates.

The flow for one pair of nodes A and B (design.md, "How records are compared"):

1. A computes each record's match keys, blinds them with its scalar for B and queues them under
   per-peer pseudonyms (``prepare``), only for records that are new, changed or retracted.
2. B blinds A's keys again with its scalar for A, stores them, and queues the doubly blinded keys
   back to A (``blinded-reply``). B does the same with its own records.
3. Each node now holds both sides' doubly blinded keys; equal keys make candidate pairs, which
   ``matching`` scores from the agreeing key types alone. Both nodes see the same candidates and
   fit the same weights, so they store the same suggestions with the same scores.

Every effect of a message and the message's id are written in one transaction, so processing the
same message twice has one effect; a message leaves our outbox only when the peer acknowledged it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from keys import Keyring, NodeDocument, UnknownPeer, common_suite, parse_signed_document
from matching import (
    DEFAULT_THRESHOLD,
    KEYSET_VERSION,
    Lexicon,
    match_keys,
    normalise,
    score_key_candidates,
)
from protocol import blinding
from protocol.envelope import (
    CLOCK_WINDOW_SECONDS,
    Opened,
    new_message_id,
    open_envelope,
    parse,
    seal,
)
from protocol.errors import (
    BadPayload,
    BlindingError,
    EnvelopeRefused,
    ReplayedEnvelope,
    UnknownSender,
)
from protocol.messages import validate

from . import directory, stats
from .districts import Gazetteer
from .identity import now_seconds
from .peers import trusted_peer_for_key
from .store import Store

log = logging.getLogger("tafuta.federation")

BATCH_RECORDS = 2000
# A peer may ask us to blind this many keys per day per record it announced (several key types
# per record, re-sent when records change), and never fewer than MIN_DAILY_CAP. Key set 3 has
# ~58 keys per record on East-African registers (docs/matching.md), up to ~150 for a person with
# four long names; three times the mean, as key set 2 had (60 for ~20).
CAP_KEYS_PER_RECORD = 180
MIN_DAILY_CAP = 50_000
MATCH_DOMAIN = b"tafuta-match-v1\x00"


class OverCap(EnvelopeRefused):
    """The peer asked us to blind more keys today than its cap allows."""

    status = 429
    reason = "over-cap"


@dataclass(frozen=True)
class Received:
    """A processed message: whose it was, and the acknowledgement to return (None for acks)."""

    peer_id: int
    ack: bytes | None


@dataclass(frozen=True)
class Peer:
    """A trusted peer as the federation code needs it."""

    id: int
    name: str
    document: NodeDocument

    @property
    def url(self) -> str:
        return self.document.url


def match_id_for(pseudonym_a: str, pseudonym_b: str) -> str:
    """The same id on both nodes: derived from both pseudonyms in sorted order."""
    first, second = sorted((pseudonym_a, pseudonym_b))
    return hashlib.sha256(MATCH_DOMAIN + f"{first}\x00{second}".encode()).hexdigest()[:32]


def keys_digest(keys: list[tuple[str, str]]) -> str:
    text = json.dumps([KEYSET_VERSION, sorted(set(keys))], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Federation:
    """One node's side of linking: needs its store, unlocked keys and matching lexicon."""

    store: Store
    keyring: Keyring
    lexicon: Lexicon
    threshold: float = DEFAULT_THRESHOLD
    clock: Callable[[], int] = field(default=now_seconds)
    workers: int | None = None
    grace_days: int = 30
    daily_cap: int | None = None  # keys blinded per peer per day; None: from announced records
    gazetteer: Gazetteer | None = None  # districts, for statistics shared with peers
    stats_k: int = stats.DEFAULT_K  # smallest count published ([stats] k)
    share_stats: bool = True  # send our published tables to peers ([stats] share)

    # -- peers ------------------------------------------------------------------------------

    def trusted_peers(self) -> list[Peer]:
        peers = []
        for row in self.store.iter_peers():
            if row["state"] == "trusted":
                peers.append(self._peer_from_row(row))
        return peers

    def peer_named(self, name: str) -> Peer:
        row = self.store.peer_by_name(name)
        if row is None or row["state"] != "trusted":
            state = "no peer" if row is None else f"the peer is {row['state']}"
            raise UnknownPeer(f"cannot exchange with {name!r}: {state}; only trusted peers")
        return self._peer_from_row(row)

    @staticmethod
    def _peer_from_row(row: dict) -> Peer:
        document = parse_signed_document(row["document"].encode("utf-8")).document
        return Peer(id=row["id"], name=row["name"], document=document)

    def _scalar(self, peer: Peer) -> bytes:
        return self.store.blinding_scalar(peer.id, blinding.new_scalar(), self.clock())

    # -- outgoing ---------------------------------------------------------------------------

    def prepare(self, peer: Peer) -> int:
        """Queue blinded keys for new or changed records and retractions; returns records sent."""
        known = self.store.pseudonyms(peer.id)
        changed: dict[str, list[tuple[str, str]]] = {}
        digests: dict[str, str] = {}
        retracted: list[tuple[str, str, None]] = []
        live = 0
        for record in self.store.iter_records(include_retracted=True):
            ref = record["ref"]
            if record["retracted"]:
                if ref in known and known[ref][1] is not None:
                    retracted.append((ref, known[ref][0], None))
                continue
            live += 1
            keys = match_keys(normalise(record, self.lexicon))
            digest = keys_digest(keys)
            if ref not in known or known[ref][1] != digest:
                changed[ref] = keys
                digests[ref] = digest
        if not changed and not retracted:
            return 0
        fresh, fresh_refs = blinding.blind_own_keys(
            self._scalar(peer), KEYSET_VERSION, changed, workers=self.workers
        )
        # A record keeps its pseudonym for this peer across changes, so the peer replaces its
        # keys instead of seeing a new person; only new records use the fresh pseudonym.
        stable = {p: known[ref][0] if ref in known else p for p, ref in fresh_refs.items()}
        records = [blinding.BlindedRecord(stable[r.pseudonym], r.keys) for r in fresh]
        sent = [(fresh_refs[p], stable[p], digests[fresh_refs[p]]) for p in fresh_refs]
        messages: list[tuple[str, str, dict]] = []
        for start in range(0, len(records), BATCH_RECORDS):
            chunk = records[start : start + BATCH_RECORDS]
            payload = {
                "keyset": KEYSET_VERSION,
                "batch": new_message_id()[:16],
                "records": blinding.to_wire(chunk),
                "announced_records": live,
            }
            messages.append((new_message_id(), "blinded-keys", payload))
        for start in range(0, len(retracted), BATCH_RECORDS):
            chunk = [p for _, p, _ in retracted[start : start + BATCH_RECORDS]]
            messages.append((new_message_id(), "retraction", {"pseudonyms": chunk}))
        self.store.enqueue_outgoing(peer.id, messages, sent + retracted, self.clock())
        return len(sent) + len(retracted)

    def prepare_shared(self, peer: Peer) -> int:
        """Queue directory entries the peer lacks and our statistics if they changed."""
        messages = directory.queue_entries(self, peer)
        held = [(m[2]["entry"]["origin"], m[2]["entry"]["version"]) for m in messages]
        digest = None
        if self.share_stats and self.gazetteer is not None:
            tables, digest = stats.queue_published(self, peer, self.gazetteer)
            messages += tables
        if messages:
            self.store.enqueue_shared(peer.id, messages, held, digest, self.clock())
        return len(messages)

    def seal_for(self, peer: Peer, message_id: str, kind: str, payload: dict) -> bytes:
        """Seal a queued message for sending now (re-sealed per attempt; the id stays)."""
        suite = common_suite(self.keyring.document.document.suites, peer.document.suites)
        return seal(
            message_type=kind,
            payload=payload,
            sender_key_id=self.keyring.key_id,
            signing_key=self.keyring.current.signing,
            recipient_key_id=peer.document.key_id,
            recipient_public_key=peer.document.hpke_public_key(suite),
            suite=suite,
            now=self.clock(),
            message_id=message_id,
        )

    def ack_for(self, peer: Peer, message_id: str, result: str) -> bytes:
        return self.seal_for(peer, new_message_id(), "ack", {"acked": message_id, "result": result})

    # -- incoming ---------------------------------------------------------------------------

    def receive(
        self, body: bytes, *, window: int = CLOCK_WINDOW_SECONDS, via_bundle: bool = False
    ) -> bytes | None:
        """Check and apply one envelope; return the sealed acknowledgement for its sender.

        Raises EnvelopeRefused (with the HTTP status to answer) and changes nothing when a check
        fails. A message processed before is refused as replayed; the refusal carries the
        sender's peer id, the message id and a fresh acknowledgement, so a sender whose first
        acknowledgement was lost can still clear it. Acknowledgements get none (ack None).
        """
        senders = _Senders(self.store, self.clock(), self.grace_days)
        try:
            opened = open_envelope(
                body,
                senders=senders,
                own=self.keyring,
                seen=lambda key_id, mid: self.store.was_processed(senders.peer_id(key_id), mid),
                validate=validate,
                now=self.clock(),
                window=window,
            )
        except ReplayedEnvelope as replay:
            header = parse(body).header
            peer = senders.peer(header.sender)
            replay.peer_id, replay.message_id = peer.id, header.id
            replay.ack = self.ack_for(peer, header.id, "duplicate")
            raise
        peer = senders.peer(opened.header.sender)
        return Received(peer.id, self._apply(peer, opened, via_bundle))

    def _apply(self, peer: Peer, opened: Opened, via_bundle: bool) -> bytes | None:
        header, payload, now = opened.header, opened.payload, self.clock()
        kind = header.type
        if kind == "ack":
            self.store.acknowledge(peer.id, payload["acked"], now)
            return None
        if kind == "blinded-keys":
            self._apply_blinded_keys(peer, header.id, payload, via_bundle)
        elif kind == "blinded-reply":
            own = self.store.refs_for_pseudonyms(peer.id)
            records = [
                (r.pseudonym, r.keys)
                for r in blinding.from_wire(payload["records"])
                if r.pseudonym in own
            ]
            self.store.apply_own_keys(peer.id, header.id, records, now, via_bundle)
        elif kind == "retraction":
            self.store.apply_retraction(peer.id, header.id, payload["pseudonyms"], now, via_bundle)
        elif kind in ("review-decision", "contact-handover"):
            self.store.apply_peer_review(peer.id, header.id, kind, payload, now, via_bundle)
        elif kind == "directory-entry":
            directory.apply_entry(self, peer, header.id, payload, via_bundle)
        elif kind == "stats-table":
            stats.apply_published(self, peer, header.id, payload, via_bundle)
        else:  # node-document and match-notice: recorded; their handling is the node's
            self.store.apply_simple(peer.id, header.id, kind, now, via_bundle)
        return self.ack_for(peer, header.id, "applied")

    def _apply_blinded_keys(
        self, peer: Peer, message_id: str, payload: dict, via_bundle: bool
    ) -> None:
        records = blinding.from_wire(payload["records"])
        keys = sum(len(r.keys) for r in records)
        now = self.clock()
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        announced = payload["announced_records"]
        cap = self.blinding_cap(peer)
        used = self.store.blinded_today(peer.id, day)
        if used + keys > cap:
            detail = (
                f"asked to blind {keys} keys with {used} already blinded today; the cap is {cap} "
                f"(from {max(announced, self.store.peer_sync_state(peer.id)['announced_records'])}"
                " announced records)"
            )
            self.store.record_peer_event(peer.id, "over-cap", detail, now)
            log.warning("refused blinded keys from %s: over the daily cap", peer.name)
            raise OverCap(f"over the daily blinding cap: {detail}")
        try:
            twice = blinding.blind_peer_keys(self._scalar(peer), records, workers=self.workers)
        except BlindingError as err:
            raise BadPayload(str(err)) from err
        reply = {
            "keyset": payload["keyset"],
            "batch": payload["batch"],
            "records": blinding.to_wire(twice),
        }
        self.store.apply_peer_keys(
            peer.id,
            message_id,
            [(r.pseudonym, r.keys) for r in twice],
            (new_message_id(), "blinded-reply", reply),
            announced,
            day,
            now,
            via_bundle,
        )

    def blinding_cap(self, peer: Peer) -> int:
        """Keys we blind for a peer per day: configured, else from its announced records."""
        if self.daily_cap is not None:
            return self.daily_cap
        announced = self.store.peer_sync_state(peer.id)["announced_records"]
        return max(MIN_DAILY_CAP, announced * CAP_KEYS_PER_RECORD)

    # -- scoring ----------------------------------------------------------------------------

    def rescore(self, peer: Peer, force: bool = False) -> int:
        """Score every candidate pair with this peer; store those at or above the threshold.

        The inbox thread may store new keys while we score; storing the suggestions marks the
        peer as scored, which would hide those keys until the next change. So the keys are read
        again after storing, and if they changed the pairs are scored again.
        """
        if not force and not self.store.peer_sync_state(peer.id)["needs_scoring"]:
            return -1
        generation, own, theirs, refs = self.store.scoring_input(peer.id)
        suggestions = self._suggestions(own, theirs, refs)
        self.store.replace_suggestions(peer.id, suggestions, self.clock(), generation)
        return len(suggestions)

    def _suggestions(self, own: dict, theirs: dict, refs: dict[str, str]) -> list[dict]:
        if not (own and theirs):
            return []
        return [
            {
                "match_id": match_id_for(scored.ref_a, scored.ref_b),
                "local_ref": refs[scored.ref_a],
                "local_pseudonym": scored.ref_a,
                "peer_pseudonym": scored.ref_b,
                "score": scored.score,
                "evidence": scored.evidence,
            }
            for scored in score_key_candidates(own, theirs, min_score=self.threshold)
        ]


class _Senders:
    """protocol.envelope.SenderKeys over the trust store: only trusted peers are accepted."""

    def __init__(self, store: Store, now: int, grace_days: int):
        self.store, self.now, self.grace_days = store, now, grace_days
        self._found: dict[str, tuple[int, Peer]] = {}

    def _lookup(self, key_id: str) -> tuple[int, Peer, object]:
        found = trusted_peer_for_key(self.store, key_id, now=self.now, grace_days=self.grace_days)
        if found is None:
            raise UnknownSender("the sender is not a trusted peer of this node")
        row = self.store.peer_by_name(found.name)
        peer = Peer(id=row["id"], name=found.name, document=found.document)
        self._found[key_id] = (row["id"], peer)
        return row["id"], peer, found.verify_key

    def verify_key(self, key_id: str):
        return self._lookup(key_id)[2]

    def peer_id(self, key_id: str) -> int:
        return self._found[key_id][0] if key_id in self._found else self._lookup(key_id)[0]

    def peer(self, key_id: str) -> Peer:
        return self._found[key_id][1] if key_id in self._found else self._lookup(key_id)[1]
