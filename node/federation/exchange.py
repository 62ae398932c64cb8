"""Linking with peers: sending our blinded keys and scoring candidates; what peers send is
processed by the Inbox half (inbox.py).

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

from keys import Keyring, UnknownPeer, common_suite, parse_signed_document
from matching import (
    DEFAULT_THRESHOLD,
    KEYSET_VERSION,
    Lexicon,
    match_keys,
    normalise,
    score_key_candidates,
)
from node.canonical import may_match
from node.directory import profile as directory
from node.directory import stats
from node.directory.districts import Gazetteer
from node.errors import FederationBusy
from node.ops.lock import exchange_lock, scoring_lock
from node.review.notices import notice_for
from node.store.db import Store
from node.trust import budgets
from node.trust.identity import now_seconds
from node.trust.peers import Peer
from protocol import blinding
from protocol.blinding import match_id_for
from protocol.envelope import (
    new_message_id,
    seal,
)

from . import linkage, telling
from .inbox import BATCH_RECORDS, Inbox
from .keycache import KeyDigests, RoundKeys, keys_salt

log = logging.getLogger("tafuta.federation")

# Keys per blinded-keys message: ~80 bytes a key sealed, so about 3 MB, well inside the
# envelope's 8 MiB (key set 3 has ~57 keys a record: 2,000 records were 9 MB and refused).
BATCH_KEYS = 40_000
PREPARE_ATTEMPTS = 5
# A full rescoring fits the model on every candidate with the peer, and every batch of keys that
# arrives makes the last one stale: a peer is scored once its exchange is quiet, or once it has
# said nothing for this long in the middle of one (it stopped halfway, or announced records
# without keys). A 6k x 5k exchange rescored after each of its dozen batches on both sides,
# then once a minute; every `tafuta sync` started meanwhile scored too.
SCORING_DEFER_SECONDS = 60


@dataclass(frozen=True)
class Plan:
    """Blinded keys ready to queue for one peer, and the pseudonym rows they were read from."""

    messages: list[tuple[str, str, dict]]
    sent: list[tuple[str, str, str | None]]
    expected: dict[str, tuple[str, str | None] | None]
    batches: list[str]

    @property
    def count(self) -> int:
        return len(self.sent)


@dataclass(frozen=True)
class Scoring:
    """Suggestions computed from one snapshot, with what they were computed from."""

    generation: int
    suggestions: list[dict]
    rescored: list[dict]  # matches someone decided on, whatever their score
    reviewed: frozenset[str]  # their match ids at the snapshot


def rotate_secrets(store: Store, peer_id: int, *, actor: str, now: int) -> int:
    """Federation.rotate without the node's keys (queued messages are sealed when sent), for
    ``tafuta peers rotate``. Returns the pseudonyms renewed."""
    store.blinding_scalar(peer_id, blinding.new_scalar(), now)  # one to replace
    keep = store.reviewed_local_pseudonyms(peer_id)
    old = [p for p, _ in store.pseudonyms(peer_id).values() if p not in keep]
    messages: list[tuple[str, str, dict]] = [
        (new_message_id(), "retraction", {"pseudonyms": old[i : i + BATCH_RECORDS]})
        for i in range(0, len(old), BATCH_RECORDS)
    ]
    messages.append((new_message_id(), "rekey", {"since": now}))
    store.rotate_peer_secrets(peer_id, blinding.new_scalar(), messages, old, actor=actor, now=now)
    return len(old)


def batched(records: list[blinding.BlindedRecord]) -> list[list[blinding.BlindedRecord]]:
    """Records in messages of at most BATCH_RECORDS records and BATCH_KEYS keys (a record with
    more keys than that still travels alone: a record has at most 256)."""
    chunks: list[list[blinding.BlindedRecord]] = []
    chunk: list[blinding.BlindedRecord] = []
    keys = 0
    for record in records:
        if chunk and (len(chunk) >= BATCH_RECORDS or keys + len(record.keys) > BATCH_KEYS):
            chunks.append(chunk)
            chunk, keys = [], 0
        chunk.append(record)
        keys += len(record.keys)
    if chunk:
        chunks.append(chunk)
    return chunks


def keys_digest(keys: list[tuple[str, str]]) -> str:
    text = json.dumps([KEYSET_VERSION, sorted(set(keys))], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Federation(Inbox):
    """One node's side of linking: needs its store, unlocked keys and matching lexicon."""

    store: Store
    keyring: Keyring
    lexicon: Lexicon
    threshold: float = DEFAULT_THRESHOLD
    clock: Callable[[], int] = field(default=now_seconds)
    workers: int | None = None
    grace_days: int = 30
    rotate_days: int = 90  # a new scalar and pseudonyms per peer this often ([federation])
    # Keys per 30 days for a peer whose coordinator set no budget (trusted before budgets).
    default_key_budget: int = budgets.DEFAULT_KEY_BUDGET
    gazetteer: Gazetteer | None = None  # districts, for statistics shared with peers
    stats_k: int = stats.DEFAULT_K  # smallest count published ([stats] k)
    share_stats: bool = True  # send our published tables to peers ([stats] share)
    # When only we (or our linkage node) evaluate, the peer hears of a suggestion once our
    # caseworker confirms it; before review only if this many fields agree (0: never;
    # [federation] tell_before_review; review/notices.py says why).
    tell_fields: int = 0
    # Our records' key digests, so a round where nothing changed computes no keys (keycache);
    # read from the store on first use, shared with the round's preparing thread (preparing.py).
    _key_digests: KeyDigests = field(default_factory=KeyDigests, repr=False)
    # As a linkage node: when this process first saw each pair waiting to be scored.
    _linkage_dirty_since: dict[int, int] = field(default_factory=dict, repr=False)
    # Per peer, what the statistics were computed from when they were last found sent: the
    # day, changes to records and matches, and the digest the peer holds (prepare_shared).
    _stats_checked: dict[int, tuple] = field(default_factory=dict, repr=False)

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

    def prepare(self, peer: Peer, round_keys: RoundKeys | None = None) -> int:
        """Queue blinded keys for new or changed records and retractions; returns records sent.

        One preparer per peer at a time, across processes and threads (``exchange_lock``): a
        second ``tafuta sync`` started while ``serve`` prepares waits, then finds nothing left
        to send. The plan is checked against the store again when it is queued, so even without
        the lock nothing is sent that the pseudonym table does not record. ``round_keys``: keys
        computed for another peer in the same round, to use again (``KeyDigests.digest``).
        """
        with exchange_lock(self.store, peer.id):
            for _ in range(PREPARE_ATTEMPTS):
                plan = self.plan(peer, round_keys)
                if plan is None:
                    return 0
                if self.commit(peer, plan):
                    return plan.count
        raise FederationBusy(
            f"the records for {peer.name} kept changing while they were prepared; try again"
        )

    def plan(self, peer: Peer, round_keys: RoundKeys | None = None) -> Plan | None:
        """Read what changed since the last exchange and blind it (the slow part); None if
        nothing changed. Writes nothing but the peer's scalar on first use and the digests of
        keys it computed (``record_keys``, for the next process)."""
        digests = self._digests()
        changes = self.store.change_counts()  # before reading: a change meanwhile shows next time
        if digests.quiet.get(peer.id) == changes:
            return None  # no record and no pseudonym changed since we found nothing to send
        try:
            plan = self._plan(peer, digests, round_keys)
        finally:
            self.store.remember_key_digests(digests.take_unsaved())
        if plan is None:
            digests.quiet[peer.id] = changes
        return plan

    def _digests(self) -> KeyDigests:
        """This process's key digests, read from the store on first use."""
        digests = self._key_digests
        if not digests.loaded:
            digests.load(keys_salt(self.lexicon), self.store.record_key_digests())
        return digests

    def _plan(self, peer: Peer, digests: KeyDigests, round_keys: RoundKeys | None) -> Plan | None:
        known = self.store.pseudonyms(peer.id)
        changed: dict[str, list[tuple[str, str]]] = {}
        sent_digests: dict[str, str] = {}
        retracted: list[tuple[str, str, None]] = []
        live = 0

        def unsent(ref: str, digest: str) -> bool:  # the peer was not sent these keys
            return ref not in known or known[ref][1] != digest

        for record in self.store.iter_records(include_retracted=True):
            ref = record["ref"]
            if record["retracted"] or not may_match(record):  # withheld: retracted at peers
                if ref in known and known[ref][1] is not None:
                    retracted.append((ref, known[ref][0], None))
                continue
            live += 1

            keys, digest = digests.digest(record, self._keys_of, round_keys, unsent)
            if unsent(ref, digest):
                assert keys is not None  # digest() computes the keys of a digest not yet sent
                changed[ref] = keys
                sent_digests[ref] = digest
        if not changed and not retracted:
            return None
        scalar = self._scalar(peer)
        # A record keeps its pseudonym for this peer across changes, so the peer replaces its
        # keys instead of seeing a new person; a new record's pseudonym is derived from its ref.
        names = {
            ref: known[ref][0] if ref in known else blinding.pseudonym_for(scalar, ref)
            for ref in changed
        }
        records, refs = blinding.blind_own_keys(
            scalar, KEYSET_VERSION, changed, workers=self.workers, pseudonyms=names
        )
        sent = [(ref, pseudonym, sent_digests[ref]) for pseudonym, ref in refs.items()]
        evaluation = self.store.peer_evaluation(peer.id)  # announced, so the peer can check it
        messages: list[tuple[str, str, dict]] = []
        batches: list[str] = []
        for chunk in batched(records):
            batch = new_message_id()[:16]
            payload = {
                "keyset": KEYSET_VERSION,
                "batch": batch,
                "records": blinding.to_wire(chunk),
                "announced_records": live,
                "evaluation": evaluation,
            }
            messages.append((new_message_id(), "blinded-keys", payload))
            batches.append(batch)
        for start in range(0, len(retracted), BATCH_RECORDS):
            chunk = [p for _, p, _ in retracted[start : start + BATCH_RECORDS]]
            messages.append((new_message_id(), "retraction", {"pseudonyms": chunk}))
        every = sent + retracted
        expected = {ref: known.get(ref) for ref, _, _ in every}
        if evaluation in ("theirs", "linker"):
            batches = []  # none of our keys come back to us: nothing to await
        return Plan(messages, every, expected, batches)

    def _keys_of(self, record: dict) -> tuple[list[tuple[str, str]], str]:
        keys = match_keys(normalise(record, self.lexicon))
        return keys, keys_digest(keys)

    def commit(self, peer: Peer, plan: Plan) -> bool:
        """Queue a plan if the store still is as the plan read it; False if it changed."""
        return self.store.enqueue_outgoing(
            peer.id, plan.messages, plan.sent, self.clock(), plan.expected, plan.batches
        )

    def request_holdings(self, peer: Peer) -> bool:
        """Ask the peer which of our records it holds, to retract those we do not know.

        Repairs the past: a node that once sent a record twice under two pseudonyms (before
        preparing was serialised), or that was restored from an older backup, leaves the peer
        holding records this node no longer accounts for.
        """
        batch = new_message_id()[:16]
        message = (new_message_id(), "holdings-request", {"batch": batch})
        return self.store.enqueue_request(peer.id, message, batch, "holdings", self.clock())

    def prepare_shared(self, peer: Peer) -> int:
        """Queue directory entries the peer lacks and our statistics if they changed."""
        messages = directory.queue_entries(self, peer)
        held = [(m[2]["entry"]["origin"], m[2]["entry"]["version"]) for m in messages]
        digest = None
        checked = None
        if self.share_stats and self.gazetteer is not None:
            # Computing the tables reads every record: at 100k that is most of a second, and
            # serve's rounds come every second while an exchange runs. They only change with
            # the records, the matches or the day (ages).
            checked = (
                datetime.fromtimestamp(self.clock(), UTC).date(),
                self.store.change_counts()[0],
                self.store.matches_changes(),
                self.store.stats_sent_digest(peer.id),
            )
            if self._stats_checked.get(peer.id) != checked:
                tables, digest = stats.queue_published(self, peer, self.gazetteer)
                messages += tables
        queued = (
            self.store.enqueue_shared(peer.id, messages, held, digest, self.clock())
            if messages
            else 0
        )
        if checked is not None and not digest:  # the tables the peer holds are today's
            self._stats_checked[peer.id] = checked
        return queued

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

    # -- rotation ---------------------------------------------------------------------------

    def rotation_due(self, peer: Peer) -> bool:
        """True when our scalar for the peer is older than ``rotate_days`` (0: never)."""
        created = self.store.scalar_created_at(peer.id)
        return (
            bool(self.rotate_days)
            and created is not None
            and (self.clock() - created >= self.rotate_days * 24 * 3600)
        )

    def rotate(self, peer: Peer, *, actor: str) -> int:
        """A new scalar and new pseudonyms for the peer, with a full re-exchange.

        Tokens under the old scalar and the old pseudonyms can no longer be linked to what we
        send from now on, so a record edited, or retracted and added again, cannot be followed
        across a rotation. Records in a match someone reviewed keep their pseudonym (the pair is
        known to both sides already). The peer is told to send its records again (``rekey``);
        the next ``prepare`` sends ours. Returns the pseudonyms renewed.
        """
        renewed = rotate_secrets(self.store, peer.id, actor=actor, now=self.clock())
        log.info("rotated the blinding scalar and %d pseudonyms for %s", renewed, peer.name)
        return renewed

    # -- scoring ----------------------------------------------------------------------------

    def rescore(self, peer: Peer, force: bool = False) -> int:
        """Score every candidate pair with this peer; store those at or above the threshold.

        Returns the number of suggestions, or -1 when nothing changed since the last scoring.
        """
        if not force and not self.store.peer_sync_state(peer.id)["needs_scoring"]:
            return -1
        if self.store.peer_evaluation(peer.id) in ("theirs", "linker"):
            # The peer, or our linkage node, evaluates and sends us match notices.
            self.store.nothing_to_score(peer.id, self.clock())
            return -1
        return self.store_scores(peer, self.score(peer))

    def rescore_when_due(self, peer: Peer) -> int:
        """``rescore`` if ``scoring_due``, unless another process is scoring the peer right now:
        its result is as fresh, and if the keys changed after its snapshot the peer stays
        marked and a later round scores. -1 when nothing was scored."""
        if not self.scoring_due(peer):
            return -1
        with scoring_lock(self.store, peer.id) as ours:
            if not ours or not self.scoring_due(peer):  # the other may have just stored
                return -1
            return self.rescore(peer)

    def scoring_due(self, peer: Peer) -> bool:
        """Whether a sync round should rescore the peer now: something changed and either the
        exchange is quiet (all the records the peer announced are here, and no reply to our keys
        is on its way from a peer we reach) or the peer has said nothing for
        SCORING_DEFER_SECONDS (it stopped halfway, or some of its records have no keys).

        The rule reads only the store, so every process applies it alike: a ``tafuta sync``
        started beside ``serve`` in the middle of an exchange does not score a half."""
        state = self.store.peer_sync_state(peer.id)
        if not state["needs_scoring"]:
            return False
        if self.clock() - (state["last_contact_at"] or 0) >= SCORING_DEFER_SECONDS:
            return True
        # The peer's keys still arriving: its next batch changes the candidates.
        if self.store.records_held(peer.id) < state["announced_records"]:
            return False
        # So do the replies to our own keys that the peer is still blinding; they are waited
        # for only while every message reaches the peer (one that is down would hold our
        # scoring back for SCORING_DEFER_SECONDS).
        return not self.store.replies_in_flight(peer.id)

    def score(self, peer: Peer) -> Scoring:
        """Score from one consistent snapshot of both sides' keys (the slow part; no writes)."""
        generation, own, theirs, refs, reviewed = self.store.scoring_input(peer.id)
        own = {pseudonym: keys for pseudonym, keys in own.items() if pseudonym in refs}
        scored = self._scored(own, theirs, refs, set(reviewed.values()))
        return Scoring(
            generation=generation,
            suggestions=[s for s in scored if s["score"] >= self.threshold],
            rescored=[s for s in scored if s["match_id"] in reviewed],
            reviewed=frozenset(reviewed),
        )

    def store_scores(self, peer: Peer, scoring: Scoring) -> int:
        """Store a scoring. The inbox thread may have stored keys, or a caseworker decided,
        since its snapshot: the generation check and ``reviewed`` keep the peer marked for
        scoring again then, so nothing that changed meanwhile is forgotten. When only we
        evaluate (docs/privacy-design.md), the peer is told of the suggestions it may see."""
        tells = self.store.peer_evaluation(peer.id) == "ours"
        # When we tell the peer, the peer stays marked for scoring until its notices are queued:
        # otherwise a process killed in between would never tell it, and "settled" would show
        # in between with nothing queued.
        generation = self.store.replace_suggestions(
            peer.id,
            scoring.suggestions,
            self.clock(),
            scoring.generation,
            scoring.rescored,
            scoring.reviewed,
            finish=not tells,
        )
        if tells:
            told = telling.notices_to_tell(
                self.store, peer.id, scoring.suggestions, self.tell_fields, self.clock()
            )
            self.store.enqueue_notices(
                peer.id, told, self.clock(), finish=True, generation=generation
            )
        return len(scoring.suggestions)

    def tell_confirmed(self, peer: Peer) -> int:
        """With a linkage node, the peer may not have been told of a suggestion our caseworker
        confirmed (it agrees on fewer than three fields): send it the match's notice, after the
        confirmation itself. Returns notices queued."""
        if self.store.peer_evaluation(peer.id) != "linker":
            return 0
        told = [notice_for(m) for m in self.store.confirmed_matches(peer.id) if m["score"] > 0]
        return self.store.send_notices(peer.id, told, self.clock()) if told else 0

    def score_linkages(self, *, force: bool = False) -> int:
        """As a linkage node, score the pairs of peers whose keys changed, once they are quiet
        (``force``: at once; linkage.py)."""
        return linkage.score_linkages(self, self._linkage_dirty_since, force=force)

    def _scored(
        self, own: dict, theirs: dict, refs: dict[str, str], keep: set[tuple[str, str]]
    ) -> list[dict]:
        """Candidates at or above the threshold, and the pairs in ``keep`` whatever their
        score (matches someone decided on), with their match ids."""
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
            for scored in score_key_candidates(own, theirs, min_score=self.threshold, keep=keep)
        ]
