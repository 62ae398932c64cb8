"""What arrives from peers: authenticating and opening an envelope, then the handler of its type.

``Federation`` (exchange.py) is an ``Inbox``: ``receive`` checks an envelope with the protocol
(signature, freshness, replay, decryption, schema), finds the sender among trusted peers
(``_Senders``) and hands the message to ``HANDLERS[type]``, which decides what to store and calls
the store's ``apply_*`` method that writes it with the message id in one transaction. HTTP
(server/), bundles (bundle.py), the demo and the tests all arrive here through ``receive``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keys import Keyring
from node.directory import profile as directory
from node.directory import stats
from node.review import handover
from node.review.notices import is_withdrawal, noticed_ref_in
from node.store.budgets import BudgetExceeded
from node.store.db import Store
from node.store.review import HandoverNotAllowed
from node.trust import budgets
from node.trust.peers import Peer, evaluation_mismatch, trusted_peer_for_key
from protocol import blinding
from protocol.envelope import (
    CLOCK_WINDOW_SECONDS,
    Opened,
    authenticate,
    new_message_id,
    open_envelope,
    parse,
)
from protocol.errors import (
    BadPayload,
    BlindingError,
    EnvelopeRefused,
    ReplayedEnvelope,
    UnknownSender,
)
from protocol.messages import MAX_RECORDS_PER_BATCH, validate

from . import linkage

log = logging.getLogger("tafuta.federation")

BATCH_RECORDS = 2000


class HandoverRefused(EnvelopeRefused):
    """A contact handover for a match that we and the peer have not both confirmed."""

    status = 422
    reason = "handover-refused"


class NoticeRefused(EnvelopeRefused):
    """A match notice from a peer that this node does not let evaluate, or for no record of ours."""

    status = 422
    reason = "notice-refused"


class OverBudget(EnvelopeRefused):
    """The peer asked us to blind more distinct keys in 30 days than its budget allows."""

    status = 429
    reason = "over-budget"


@dataclass(frozen=True)
class Received:
    """A message handled now, or one handled before (``replayed``): whose it was, its id, and
    the acknowledgement to return (None for an acknowledgement). A replay changes nothing; its
    answer is the refusal (409) with a fresh acknowledgement, so a sender whose first
    acknowledgement was lost can still clear its outbox."""

    peer_id: int
    ack: bytes | None
    message_id: str = ""
    replayed: ReplayedEnvelope | None = None


class Inbox:
    """The receiving half of ``Federation``; the attributes below are Federation's."""

    if TYPE_CHECKING:
        store: Store
        keyring: Keyring
        clock: Callable[[], int]
        workers: int | None
        grace_days: int
        default_key_budget: int
        stats_k: int

        def ack_for(self, peer: Peer, message_id: str, result: str) -> bytes: ...

        def _scalar(self, peer: Peer) -> bytes: ...

    def authenticate(self, body: bytes, *, window: int = CLOCK_WINDOW_SECONDS) -> str | None:
        """The sender's key id once the envelope's signature verifies; nothing is decrypted or
        stored. None for a message processed before: anyone who saw it can send it again, so
        it must not count against its sender. Raises EnvelopeRefused as ``receive`` does."""
        senders = _Senders(self.store, self.clock(), self.grace_days)
        header = authenticate(
            body, senders=senders, own=self.keyring, now=self.clock(), window=window
        ).header
        if self.store.was_processed(senders.peer_id(header.sender), header.id):
            return None
        return header.sender

    def receive(
        self, body: bytes, *, window: int = CLOCK_WINDOW_SECONDS, via_bundle: bool = False
    ) -> Received:
        """Check and apply one envelope; return its sender's peer id and the acknowledgement.

        Raises EnvelopeRefused (with the HTTP status to answer) and changes nothing when a check
        fails. A message processed before changes nothing either: it returns ``replayed`` with a
        fresh acknowledgement (its stored answer). Acknowledgements get none (ack None).
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
            ack = self.ack_for(peer, header.id, "duplicate")
            return Received(peer.id, ack, header.id, replayed=replay)
        peer = senders.peer(opened.header.sender)
        return Received(peer.id, self._apply(peer, opened, via_bundle), opened.header.id)

    def _apply(self, peer: Peer, opened: Opened, via_bundle: bool) -> bytes | None:
        """Hand the message to the handler of its type (``HANDLERS``); return the
        acknowledgement, or None for an acknowledgement, which clears our outbox."""
        header, now = opened.header, self.clock()
        if header.type == "ack":
            self.store.acknowledge(peer.id, opened.payload["acked"], now)
            return None
        message = Message(peer, header.id, header.type, opened.payload, now, via_bundle)
        HANDLERS.get(header.type, _recorded)(self, message)
        return self.ack_for(peer, header.id, "applied")

    def _holdings(self, peer: Peer, batch: str) -> list[tuple[str, str, dict]]:
        """The answer to a holdings-request: the peer's pseudonyms we hold, in parts."""
        held = self.store.peer_record_pseudonyms(peer.id)
        size = MAX_RECORDS_PER_BATCH
        parts = [held[i : i + size] for i in range(0, len(held), size)] or [[]]
        return [
            (
                new_message_id(),
                "holdings",
                {"batch": batch, "pseudonyms": part, "last": i == len(parts) - 1},
            )
            for i, part in enumerate(parts)
        ]

    def _apply_blinded_keys(
        self, peer: Peer, message_id: str, payload: dict, via_bundle: bool
    ) -> None:
        records = blinding.from_wire(payload["records"])
        now = self.clock()
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        announced = payload["announced_records"]
        # The budget counts distinct keys per rolling 30 days; what the peer announces never
        # changes it, and a record without keys costs nothing (node/trust/budgets.py).
        limit = self.key_budget(peer)
        since = now - budgets.WINDOW_SECONDS
        digests = sorted({budgets.key_digest(key) for r in records for _, key in r.keys})
        used, new = self.store.budget_use(peer.id, digests, since, limit)
        if used + new > limit:
            self._over_budget(peer, used, new, limit, now)
        profile = budgets.profile_of(announced, [r.keys for r in records])
        before = peer_profile(self.store, peer.id)
        for kind, detail in budgets.jumps(before, profile, own_profile(self.store, peer.id), limit):
            if self.store.record_peer_alert(peer.id, kind, detail, now):
                log.warning("alert about %s: %s: %s", peer.name, kind, detail)
        try:
            twice = blinding.blind_peer_keys(self._scalar(peer), records, workers=self.workers)
        except BlindingError as err:
            raise BadPayload(str(err)) from err
        # Who evaluates (docs/privacy-design.md): "ours" keeps the peer's keys and sends none
        # back, so the peer never holds its own doubly blinded keys to compare with ours;
        # "theirs" sends them back and keeps only their pseudonyms; "both" does both.
        # "linker": the keys go on to the pair's linkage node, and only their pseudonyms stay
        # here (a match the peer confirms must name one of them: store/review.py).
        evaluation = self.store.peer_evaluation(peer.id)
        mismatch = evaluation_mismatch(peer.name, evaluation, payload["evaluation"])
        if mismatch and self.store.record_peer_alert(peer.id, "evaluation-mismatch", mismatch, now):
            log.warning("alert about %s: evaluation-mismatch", peer.name)
        reply = None
        forwarded = None
        if evaluation == "linker":
            forwarded = self._to_linker(peer, twice, [])
        elif evaluation != "ours":
            payload_back = {
                "keyset": payload["keyset"],
                "batch": payload["batch"],
                "records": blinding.to_wire(blinding.shuffled(twice)),
            }
            reply = (new_message_id(), "blinded-reply", payload_back)
        # Without comparing ("theirs", "linker") only the pseudonyms stay: they say which of the
        # peer's records we hold (records_held, holdings) and nothing about them.
        kept: list[tuple[str, tuple[tuple[str, bytes], ...]]]
        if evaluation in ("theirs", "linker"):
            kept = [(r.pseudonym, ()) for r in twice]
        else:
            kept = [(r.pseudonym, r.keys) for r in twice]
        try:
            self.store.apply_peer_keys(
                peer.id,
                message_id,
                kept,
                reply,
                announced,
                day,
                now,
                via_bundle,
                budget=(digests, limit, since),
                profile=json.dumps(asdict(budgets.merged(before, profile))),
                forward=forwarded,
            )
        except BudgetExceeded as err:  # another batch of the peer's landed meanwhile
            self._over_budget(peer, err.used, err.new, err.limit, now)

    def _to_linker(
        self, peer: Peer, records: list[blinding.BlindedRecord], retracted: list[str]
    ) -> tuple[int, tuple[str, str, dict]]:
        """The linkage node of our pair with the peer, and the message that carries the peer's
        records (blinded by us too) or withdrawals to it."""
        linker_id = self.store.peer_linker(peer.id)
        if linker_id is None:  # the schema ties "linker" to a linkage node; never reached
            raise BadPayload("no linkage node is set for this peer")
        return linker_id, linkage.forward(peer.document.key_id, records, retracted)

    def _over_budget(self, peer: Peer, used: int, new: int, limit: int, now: int) -> None:
        detail = (
            f"asked to blind {new:,} new keys with {used:,} blinded in the last "
            f"{budgets.WINDOW_DAYS} days; its budget is {limit:,} keys (tafuta peers budget)"
        )
        self.store.record_peer_alert(peer.id, "over-budget", detail, now)
        log.warning("refused blinded keys from %s: over its key budget", peer.name)
        raise OverBudget(f"over the key budget: {detail}")

    def _apply_notices(
        self, peer: Peer, message_id: str, kind: str, notices: list[dict], via_bundle: bool
    ) -> None:
        """Suggestions from a peer that alone evaluates our pair, or, with a linkage node, the
        score and evidence of matches the peer confirmed: applied together with the message,
        or all refused (422) if one is, changing nothing."""
        evaluation = self.store.peer_evaluation(peer.id)
        if evaluation not in ("theirs", "linker"):
            raise NoticeRefused(
                "match notice refused: this node compares keys itself with this peer "
                "(tafuta peers evaluation)"
            )
        refs = self.store.refs_for_pseudonyms(peer.id)
        applied = []
        for notice in notices:
            held = None
            if evaluation == "linker":
                held = self.store.match(notice["match_id"])
                if held is None or held["peer_id"] != peer.id or held["peer_decision"] != "confirm":
                    raise NoticeRefused(
                        "match notice refused: our linkage node tells us of suggestions; the "
                        "peer may only tell us of a match it confirmed"
                    )
            ref = noticed_ref_in(refs, notice)
            if ref is None and is_withdrawal(notice):
                continue
            if ref is None:
                raise NoticeRefused("match notice refused: it names no record we sent to this peer")
            if evaluation == "linker" and held is not None and held["score"] > 0:
                # Our linkage node told us of this match: its score and evidence stand, not the
                # peer's copy (which only fills a match we held from the peer's confirmation).
                continue
            applied.append((notice, ref))
        self.store.apply_notices(peer.id, message_id, kind, applied, self.clock(), via_bundle)

    def key_budget(self, peer: Peer) -> int:
        """Distinct keys we blind for the peer per 30 days, as its coordinator set it."""
        row = self.store.peer_budget(peer.id)
        return row["keys"] if row else self.default_key_budget


def peer_profile(store: Store, peer_id: int) -> budgets.Profile | None:
    """The shape of the peer's batches so far (its largest, its latest announcement)."""
    text = store.peer_profile(peer_id)
    return budgets.Profile(**json.loads(text)) if text else None


def own_profile(store: Store, peer_id: int) -> budgets.Profile | None:
    """The shape of our own records in the exchange with the peer, which an honest peer
    computing the same key types resembles; None before any came back blinded."""
    records, types = store.own_key_profile(peer_id)
    keys = sum(types.values())
    if not keys:
        return None
    return budgets.Profile(0, records, keys, {t: n / keys for t, n in sorted(types.items())})


@dataclass(frozen=True)
class Message:
    """One opened, verified message from a trusted peer, as its handler gets it."""

    peer: Peer
    id: str
    kind: str
    payload: dict
    now: int
    via_bundle: bool


def _blinded_keys(inbox: Inbox, m: Message) -> None:
    inbox._apply_blinded_keys(m.peer, m.id, m.payload, m.via_bundle)


def _blinded_reply(inbox: Inbox, m: Message) -> None:
    if inbox.store.peer_evaluation(m.peer.id) in ("theirs", "linker"):
        # Only the peer evaluates: we keep no doubly blinded keys of our own, so we hold
        # no equality oracle on its records (docs/privacy-design.md).
        inbox.store.apply_simple(m.peer.id, m.id, m.kind, m.now, m.via_bundle)
        return
    # Only records still shared: a reply that crossed our retraction of a record must
    # not bring its keys back, or we would score a record the peer has forgotten.
    replied = blinding.from_wire(m.payload["records"])
    live = inbox.store.live_among(m.peer.id, (r.pseudonym for r in replied))
    records = [(r.pseudonym, r.keys) for r in replied if r.pseudonym in live]
    inbox.store.apply_own_keys(
        m.peer.id, m.id, records, m.now, m.via_bundle, batch=m.payload["batch"]
    )


def _match_notice(inbox: Inbox, m: Message) -> None:
    inbox._apply_notices(m.peer, m.id, m.kind, [m.payload], m.via_bundle)


def _match_notices(inbox: Inbox, m: Message) -> None:
    inbox._apply_notices(m.peer, m.id, m.kind, m.payload["notices"], m.via_bundle)


def _holdings_request(inbox: Inbox, m: Message) -> None:
    held = inbox._holdings(m.peer, m.payload["batch"])
    inbox.store.apply_holdings_request(m.peer.id, m.id, held, m.now, m.via_bundle)


def _holdings(inbox: Inbox, m: Message) -> None:
    live = inbox.store.live_pseudonyms(m.peer.id)
    unknown = sorted(set(m.payload["pseudonyms"]) - live)
    retractions = [
        (new_message_id(), "retraction", {"pseudonyms": unknown[i : i + BATCH_RECORDS]})
        for i in range(0, len(unknown), BATCH_RECORDS)
    ]
    inbox.store.apply_holdings(
        m.peer.id, m.id, m.payload["batch"], m.payload["last"], retractions, m.now, m.via_bundle
    )


def _rekey(inbox: Inbox, m: Message) -> None:
    inbox.store.apply_rekey(m.peer.id, m.id, m.now, m.via_bundle)


def _retraction(inbox: Inbox, m: Message) -> None:
    pseudonyms = m.payload["pseudonyms"]
    forwarded = None
    if inbox.store.peer_evaluation(m.peer.id) == "linker":  # the linkage node forgets them too
        forwarded = inbox._to_linker(m.peer, [], pseudonyms)
    inbox.store.apply_retraction(
        m.peer.id, m.id, pseudonyms, m.now, m.via_bundle, forward=forwarded
    )


def _peer_review(inbox: Inbox, m: Message) -> None:
    try:
        inbox.store.apply_peer_review(
            m.peer.id, m.id, m.kind, m.payload, m.now, m.via_bundle, hand_over=handover.next_step
        )
    except HandoverNotAllowed as err:
        inbox.store.record_peer_alert(m.peer.id, "handover-refused", str(err), m.now)
        log.warning("refused a contact handover from %s: not confirmed by both", m.peer.name)
        raise HandoverRefused(str(err)) from err


def _directory_entry(inbox: Inbox, m: Message) -> None:
    directory.apply_entry(inbox, m.peer, m.id, m.payload, m.via_bundle)


def _stats_table(inbox: Inbox, m: Message) -> None:
    stats.apply_published(inbox, m.peer, m.id, m.payload, m.via_bundle)


def _recorded(inbox: Inbox, m: Message) -> None:
    """node-document (and any other valid type without a handler): recorded as processed."""
    inbox.store.apply_simple(m.peer.id, m.id, m.kind, m.now, m.via_bundle)


# What to do with each type of message once it is opened and verified; every handler writes
# its effects and the message id in one transaction (the store's apply_* methods). An "ack"
# is handled by _apply itself: it clears our outbox and is not acknowledged.
HANDLERS: dict[str, Callable[[Inbox, Message], None]] = {
    "blinded-keys": _blinded_keys,
    "blinded-reply": _blinded_reply,
    "match-notice": _match_notice,
    "match-notices": _match_notices,
    "linkage-keys": linkage.apply_linkage_keys,
    "linkage-notice": linkage.apply_linkage_notice,
    "holdings-request": _holdings_request,
    "holdings": _holdings,
    "rekey": _rekey,
    "retraction": _retraction,
    "review-decision": _peer_review,
    "contact-handover": _peer_review,
    "directory-entry": _directory_entry,
    "stats-table": _stats_table,
    "node-document": _recorded,
}


class _Senders:
    """protocol.envelope.SenderKeys over the trust store: only trusted peers are accepted."""

    def __init__(self, store: Store, now: int, grace_days: int):
        self.store, self.now, self.grace_days = store, now, grace_days
        self._found: dict[str, tuple[int, Peer]] = {}

    def _lookup(self, key_id: str) -> tuple[int, Peer, object]:
        found = trusted_peer_for_key(self.store, key_id, now=self.now, grace_days=self.grace_days)
        if found is None:
            raise UnknownSender("the sender is not a trusted peer of this node")
        peer = found.peer
        self._found[key_id] = (peer.id, peer)
        return peer.id, peer, found.verify_key

    def verify_key(self, key_id: str):
        return self._lookup(key_id)[2]

    def peer_id(self, key_id: str) -> int:
        return self._found[key_id][0] if key_id in self._found else self._lookup(key_id)[0]

    def peer(self, key_id: str) -> Peer:
        return self._found[key_id][1] if key_id in self._found else self._lookup(key_id)[1]
