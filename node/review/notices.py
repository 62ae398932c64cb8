"""Match notices: what a peer that does not evaluate our pair learns of a suggestion, and when.

With ``evaluation = theirs`` the peer keeps no doubly blinded keys of its own, so we tell it of a
suggestion in a ``match-notice`` once our caseworker confirms it (review/rules.py), or, if the
admin chose so (``[federation] tell_before_review = N``), before review when at least N fields
agree. By default nothing is told before review: told of every guess right on three fields, a
peer sending guessed people learned names, district and birth year of 18.5 % of a 2,000-record
register within the default budget (docs/privacy-design.md).
"""

from __future__ import annotations

from matching.fields import FIELDS, UNDETERMINED
from node.store.db import Store
from protocol.blinding import match_id_for

# The fewest agreeing fields an admin may let through before review (two are exactly what a
# guessed name pair and district give back); 0 means "only once our caseworker confirms".
MIN_TELL_FIELDS = 3
MAX_TELL_FIELDS = len(FIELDS) - 1  # every field but "rarity"
_AGREEING = frozenset(
    words
    for name, f in FIELDS.items()
    for level, words in enumerate(f.words)
    if level > UNDETERMINED[name] and words and name != "rarity"  # how common, not a field
)


def agreeing_fields(evidence: str) -> int:
    """How many fields a suggestion's evidence says agree (matching.fields' words)."""
    return sum(part.strip() in _AGREEING for part in evidence.split(";"))


def tell_before_review(evidence: str, min_fields: int) -> bool:
    """Whether the peer hears of a suggestion before our caseworker confirms it: only if the admin
    allowed it (``min_fields`` from MIN_TELL_FIELDS up, 0 = never) and that many fields agree."""
    return min_fields >= MIN_TELL_FIELDS and agreeing_fields(evidence) >= min_fields


def notice_for(suggestion: dict) -> dict:
    """The match notice telling the peer of one suggestion (its pseudonym is the receiver's)."""
    return {
        "match_id": suggestion["match_id"],
        "score": suggestion["score"],
        "evidence": suggestion["evidence"][:500],
        "receiver_pseudonym": suggestion["peer_pseudonym"],
        "sender_pseudonym": suggestion["local_pseudonym"],
    }


def noticed_ref(store: Store, peer_id: int, notice: dict) -> str | None:
    """Our record a match notice names, or None: its receiver pseudonym must be one we gave
    the peer, and its match id the one both pseudonyms make."""
    return noticed_ref_in(store.refs_for_pseudonyms(peer_id), notice)


def noticed_ref_in(refs: dict[str, str], notice: dict) -> str | None:
    """``noticed_ref`` with our pseudonyms for the peer (pseudonym -> ref) read once, for a
    batch of notices."""
    ours, theirs = notice["receiver_pseudonym"], notice["sender_pseudonym"]
    ref = refs.get(ours)
    if ref is None or match_id_for(ours, theirs) != notice["match_id"]:
        return None
    return ref


def is_withdrawal(notice: dict) -> bool:
    """A notice that withdraws a suggestion (score 0, no evidence). One about a pseudonym we no
    longer hold (a rotation renewed it, a retraction crossed it) has nothing to withdraw: it is
    recorded and ignored, never refused, or it would block the sender's outbox."""
    return notice["score"] == 0 and not notice["evidence"]
