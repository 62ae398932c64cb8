"""Match notices: what a peer that does not evaluate our pair learns of a suggestion, and when.

With ``evaluation = theirs`` the peer keeps no doubly blinded keys of its own, so we tell it of a
suggestion in a ``match-notice``: before review only when at least NOTICE_MIN_FIELDS fields agree,
otherwise once our caseworker confirms (review/rules.py). docs/privacy-design.md has the why.
"""

from __future__ import annotations

from matching.fields import FIELDS, UNDETERMINED

NOTICE_MIN_FIELDS = 3
_AGREEING = frozenset(
    words
    for name, f in FIELDS.items()
    for level, words in enumerate(f.words)
    if level > UNDETERMINED[name] and words and name != "rarity"  # how common, not a field
)


def agreeing_fields(evidence: str) -> int:
    """How many fields a suggestion's evidence says agree (matching.fields' words)."""
    return sum(part.strip() in _AGREEING for part in evidence.split(";"))


def tell_before_review(evidence: str) -> bool:
    return agreeing_fields(evidence) >= NOTICE_MIN_FIELDS


def notice_for(suggestion: dict) -> dict:
    """The match notice telling the peer of one suggestion (its pseudonym is the receiver's)."""
    return {
        "match_id": suggestion["match_id"],
        "score": suggestion["score"],
        "evidence": suggestion["evidence"][:500],
        "receiver_pseudonym": suggestion["peer_pseudonym"],
        "sender_pseudonym": suggestion["local_pseudonym"],
    }
