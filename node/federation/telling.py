"""Which suggestions a peer that does not evaluate our pair is told, and when
(docs/privacy-design.md, D3c and D3d).

With an explicit ``ours`` the coordinators chose the rule of ``[federation]
tell_before_review`` (review/notices.py): by default the peer hears of a suggestion only once our
caseworker confirms it. Under the default (trust's "auto", one evaluator by key order) the peer
hears of every suggestion at once, so both sides list the same ones, as when both evaluated;
except while it looks like a guesser (``looks_like_guessing``), when the rule applies again.
"""

from __future__ import annotations

from collections.abc import Sequence

from node.review.notices import notice_for, tell_before_review
from node.store.db import Store
from node.trust import budgets

from .inbox import own_profile, peer_profile

# A peer whose records (its largest batch, or all it has sent) carry fewer keys a record than
# this share of ours sends guesses, not a register: the privacy harness's guesser sends 1.2
# against our 53, and honest registers (a rich missing list, a sparse found register) stay
# within half and twice of each other. What the rule does not catch is in
# docs/privacy-design.md (D3d): guesses carrying a quarter of our keys a record or more, and
# sparse guesses fewer than about three times a register sent first.
# The relative alerts (node/trust/budgets.py jumps) are not used: an honest peer sets them off
# by growing, or by re-importing richer records (a slow test did: 80 keys a record against 39).
SPARSE_SHARE = 0.25
WITHHELD = (
    "{reason}, so it is told of a suggestion only once our caseworker confirms it (for 30 days "
    "after an over-budget alert; tafuta peers evaluation; docs/coordinator-guide.md)"
)


def notices_to_tell(
    store: Store, peer_id: int, suggestions: Sequence[dict], tell_fields: int, now: int
) -> list[dict]:
    """The notices the peer should hold now: the suggestions it may see, and every match our
    caseworkers confirmed, one notice per match."""
    everything = tells_everything(store, peer_id, now)
    told = [
        notice_for(s)
        for s in suggestions
        if everything or tell_before_review(s["evidence"], tell_fields)
    ]
    confirmed = [notice_for(m) for m in store.confirmed_matches(peer_id)]
    return list({n["match_id"]: n for n in told + confirmed}.values())


def tells_everything(store: Store, peer_id: int, now: int) -> bool:
    """Whether the peer hears of every suggestion at once.

    Told every suggestion, a peer whose register is guesses learns each guess that scores high
    (the privacy harness: 19.4 % of a register re-identified within the default key budget).
    So a peer that looks like a guesser is told by the rule too, and the coordinator sees why
    (a ``suggestions-withheld`` alert)."""
    if not store.peer_evaluation_is_auto(peer_id):
        return False
    reason = looks_like_guessing(store, peer_id, now)
    if reason is None:
        return True
    store.record_peer_alert(peer_id, "suggestions-withheld", WITHHELD.format(reason=reason), now)
    return False


def looks_like_guessing(store: Store, peer_id: int, now: int) -> str | None:
    """Why the peer looks like a guesser, or None: it went over its key budget in the last 30
    days, or its records carry far fewer keys than ours (SPARSE_SHARE) — in its largest batch,
    or in all it has sent, so that one batch shaped like a register, sent first, does not hide
    the sparse guesses that follow it."""
    if store.peer_alerted(peer_id, ("over-budget",), now - budgets.WINDOW_SECONDS):
        return "it asked us to blind more keys than its budget"
    ours = own_profile(store, peer_id)
    if ours is None or ours.records < budgets.PROFILE_MIN_RECORDS:
        return None
    largest = peer_profile(store, peer_id)
    shapes = [] if largest is None else [("its largest batch", largest.records, largest.keys)]
    shapes.append(("all its records we hold", *store.peer_keys_held(peer_id)))
    floor = SPARSE_SHARE * ours.keys_per_record
    for where, records, keys in shapes:
        if records >= budgets.PROFILE_MIN_RECORDS and keys / records < floor:
            return (
                f"{where} carry {keys / records:.1f} keys a record against our "
                f"{ours.keys_per_record:.1f}, as guessed records do"
            )
    return None
