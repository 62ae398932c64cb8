"""Which suggestions a peer that does not evaluate our pair is told, and when
(docs/privacy-design.md, D3c and D3d).

With an explicit ``ours`` the coordinators chose the rule of ``[federation]
tell_before_review`` (review/notices.py): by default the peer hears of a suggestion only once our
caseworker confirms it. Under the default (trust's "auto", one evaluator by key order) the peer
hears of every suggestion at once, so both sides list the same ones, as when both evaluated;
except while it has set off a guessing alert, when the rule applies again.
"""

from __future__ import annotations

from collections.abc import Sequence

from node.review.notices import notice_for, tell_before_review
from node.store.db import Store
from node.trust import budgets

WITHHELD = (
    "it set off an alert that guessing sets off (see above), so for 30 days from the last one "
    "it is told of a suggestion only once our caseworker confirms it (tafuta peers evaluation; "
    "docs/coordinator-guide.md)"
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
    (the privacy harness: 19 % of a register re-identified within the default key budget). So
    while the peer has set off a guessing alert in the last 30 days it is told by the rule
    too, and the coordinator sees why (a ``suggestions-withheld`` alert)."""
    if not store.peer_evaluation_is_auto(peer_id):
        return False
    if not store.peer_alerted(peer_id, budgets.GUESSING_ALERTS, now - budgets.WINDOW_SECONDS):
        return True
    store.record_peer_alert(peer_id, "suggestions-withheld", WITHHELD, now)
    return False
