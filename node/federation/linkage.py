"""Linking a pair of nodes through a blind linkage node (docs/privacy-design.md, D4).

With two nodes A and B that both choose evaluation "linker" via a node L that both trust:

1. A sends its blinded keys to B as always; B blinds them again and, instead of returning them
   to A, sends them to L (``linkage-keys``). B's keys go to A and on to L the same way. Neither A
   nor B ever holds one of its own keys blinded by both, so neither can compare its own values
   with the other's: there is no equality oracle at A or B, curious or malicious.
2. L holds both sides' doubly blinded keys but no plaintext of either and no scalar that made
   them: it sees which key types agree, not what they say. It scores with the same scorer as a
   two-sided pair and tells each node its suggestions (``linkage-notice``): the pair's ``first``
   node every suggestion, the ``second`` none before review (or those agreeing on as many fields
   as L's admin allows, review/notices.py's rule); they reach the second node when the first
   one's caseworker confirms (its confirmation and a match notice go to the peer directly).
3. Review decisions, confirmations and contact handovers travel between A and B as always.

What is left: L learns the pair's candidate structure (counts, key types, agreement patterns)
but no value; L colluding with one node gives that node the two-sided oracle, bounded by the
other node's key budget. A node still learns a suggestion's evidence, as in every design.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from matching import KEYSET_VERSION, score_key_candidates
from node.review.notices import is_withdrawal, notice_for, noticed_ref, tell_before_review
from node.trust.peers import trusted_peer_for_key
from protocol import blinding
from protocol.blinding import match_id_for
from protocol.envelope import new_message_id
from protocol.errors import EnvelopeRefused

if TYPE_CHECKING:
    from .exchange import Federation
    from .inbox import Inbox, Message

log = logging.getLogger("tafuta.federation")


class LinkageRefused(EnvelopeRefused):
    """Keys for a pair this node does not link, or a notice from a node that is not our linker."""

    status = 422
    reason = "linkage-refused"


def forward(
    owner_key_id: str,
    records: list[blinding.BlindedRecord],
    retracted: list[str],
) -> tuple[str, str, dict]:
    """The ``linkage-keys`` message that carries a peer's records, blinded by us too, and its
    withdrawn pseudonyms to our pair's linkage node (records shuffled: their order says
    nothing)."""
    payload = {
        "peer": owner_key_id,
        "keyset": KEYSET_VERSION,
        "records": blinding.to_wire(blinding.shuffled(records)),
        "retracted": retracted,
    }
    return (new_message_id(), "linkage-keys", payload)


def apply_linkage_keys(inbox: Inbox, m: Message) -> None:
    """At the linkage node: keys of one node's records, sent by the other node of the pair."""
    owner = trusted_peer_for_key(inbox.store, m.payload["peer"], now=m.now)
    pair_id = None if owner is None else inbox.store.linkage_pair_id(m.peer.id, owner.id)
    if owner is None or pair_id is None:
        raise LinkageRefused(
            "linkage keys refused: this node does not link the sender with that peer "
            "(tafuta linkage add)"
        )
    records = [(r.pseudonym, r.keys) for r in blinding.from_wire(m.payload["records"])]
    inbox.store.apply_linkage_keys(
        m.peer.id, m.id, pair_id, owner.id, records, m.payload["retracted"], m.now, m.via_bundle
    )


def apply_linkage_notice(inbox: Inbox, m: Message) -> None:
    """At a node of a pair: a suggestion (or its withdrawal) from the pair's linkage node."""
    notice = m.payload
    peer = trusted_peer_for_key(inbox.store, notice["peer"], now=m.now)
    if peer is None or inbox.store.peer_linker(peer.id) != m.peer.id:
        raise LinkageRefused(
            "linkage notice refused: the sender is not the linkage node of our pair with that "
            "peer (tafuta peers evaluation)"
        )
    ref = noticed_ref(inbox.store, peer.id, notice)
    if ref is None and is_withdrawal(notice):
        inbox.store.apply_simple(m.peer.id, m.id, m.kind, m.now, m.via_bundle)
        return
    if ref is None:
        raise LinkageRefused("linkage notice refused: it names no record we sent to that peer")
    fields = {k: v for k, v in notice.items() if k != "peer"}
    inbox.store.apply_notice(peer.id, m.id, fields, ref, m.now, m.via_bundle, sender_id=m.peer.id)


# A pair is scored once neither of its nodes has sent us anything for this long (their keys
# arrive in batches, each batch would make the last scoring stale), and at the latest this long
# after the keys changed: a pair that keeps sending is still scored now and then.
LINKAGE_QUIET_SECONDS = 10
LINKAGE_MAX_WAIT_SECONDS = 120


def linkage_due(federation: Federation, pair: dict, dirty_since: dict[int, int]) -> bool:
    """Whether a sync round should score a pair waiting to be scored now (``dirty_since``:
    when this process first saw it waiting, by pair id)."""
    now = federation.clock()
    since = dirty_since.setdefault(pair["id"], now)
    last = max(
        federation.store.peer_sync_state(peer_id)["last_contact_at"] or 0
        for peer_id in (pair["first_id"], pair["second_id"])
    )
    return now - last >= LINKAGE_QUIET_SECONDS or now - since >= LINKAGE_MAX_WAIT_SECONDS


def score_linkages(
    federation: Federation, dirty_since: dict[int, int] | None = None, *, force: bool = False
) -> int:
    """Score every pair we link whose keys changed (once its nodes are quiet: ``linkage_due``;
    ``force``: at once), and queue the notices that changed; returns the pairs scored. The
    scorer and threshold are a two-sided pair's, so each node of the pair gets the suggestions
    it would have found itself."""
    scored = 0
    dirty_since = {} if dirty_since is None else dirty_since
    waiting = federation.store.linkage_pairs_waiting()
    for pair_id in set(dirty_since) - {pair["id"] for pair in waiting}:
        del dirty_since[pair_id]  # scored by another process meanwhile
    for pair in waiting:
        if not force and not linkage_due(federation, pair, dirty_since):
            continue
        dirty_since.pop(pair["id"], None)
        generation, first, second = federation.store.linkage_input(pair["id"])
        suggestions = []
        if first and second:
            suggestions = score_key_candidates(first, second, min_score=federation.threshold)
        to_first, to_second = [], []
        for s in suggestions:  # all at or above the threshold (min_score), no others kept
            found = {"match_id": match_id_for(s.ref_a, s.ref_b), "score": s.score,
                     "evidence": s.evidence}  # fmt: skip
            to_first.append(
                {"peer": pair["second_key_id"],
                 **notice_for({**found, "peer_pseudonym": s.ref_a, "local_pseudonym": s.ref_b})}
            )  # fmt: skip
            if tell_before_review(s.evidence, federation.tell_fields):
                to_second.append(
                    {"peer": pair["first_key_id"],
                     **notice_for({**found, "peer_pseudonym": s.ref_b, "local_pseudonym": s.ref_a})}
                )  # fmt: skip
        notices = {pair["first_id"]: to_first, pair["second_id"]: to_second}
        queued = federation.store.store_linkage_notices(
            pair["id"], generation, notices, federation.clock()
        )
        log.info(
            "linked %s and %s: %d suggestions, %d notices queued",
            pair["first_name"], pair["second_name"], len(to_first), queued,
        )  # fmt: skip
        scored += 1
    return scored
