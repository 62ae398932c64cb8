"""The one vocabulary of a match's status, and which statuses each rule speaks of.

``matches.status`` holds one of ``Status``; a ``StrEnum``, so a member is its text in SQL, JSON
and templates. The review rules (review/rules.py), the store (store/), the web UI's filters and
the published statistics (directory/stats.py) all take their statuses from here.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A match's status, in the order the review queue offers them."""

    SUGGESTED = "suggested"  # scored above the threshold; nobody decided yet
    CONFIRMED = "confirmed"  # our caseworker confirmed
    UNSURE = "unsure"
    REJECTED = "rejected"
    CONTACT_EXCHANGED = "contact exchanged"  # both confirmed: the contacts were handed over
    CLOSED = "closed"  # the case is closed with an outcome (review.OUTCOMES)
    WITHDRAWN = "withdrawn"  # a record changed or was withdrawn: no longer a candidate


# What a match's status becomes after our own decision.
STATUS_AFTER: dict[str, Status] = {
    "confirm": Status.CONFIRMED,
    "reject": Status.REJECTED,
    "unsure": Status.UNSURE,
}
DECISION_STATUSES: tuple[Status, ...] = tuple(STATUS_AFTER.values())
# A match our caseworker may decide on (again).
DECIDABLE: tuple[Status, ...] = (Status.SUGGESTED, *DECISION_STATUSES)
# Known to both nodes whatever its score (with a peer decision or a confirmation ever made).
SHARED_STATUSES: tuple[Status, ...] = (Status.CONFIRMED, Status.CONTACT_EXCHANGED, Status.CLOSED)
# Never withdrawn when a record changes: the contacts were handed over already.
HANDED_OVER: tuple[Status, ...] = (Status.CONTACT_EXCHANGED, Status.CLOSED)


def sql_list(statuses: tuple[Status, ...]) -> str:
    """``'a', 'b'`` for an SQL ``IN (…)``: constants of this module only, never input."""
    return ", ".join(f"'{status.value}'" for status in statuses)
