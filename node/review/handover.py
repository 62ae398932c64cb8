"""The contact handover: when both caseworkers confirmed a match, each node sends the peer its
confirming caseworker's contact, once, unless the person did not consent to it; when the peer's
contact has arrived too, the match is "contact exchanged".

A pure rule over the facts the store reads inside the transaction of a decision or of a peer's
message (``store.review.HandoverFacts``); the store writes what it returns.
"""

from __future__ import annotations

from node.statuses import Status
from node.store.review import HandoverFacts, HandoverStep

CONTACT_FIELD_CHARS = 500


def next_step(facts: HandoverFacts) -> HandoverStep | None:
    """What to do now for one match; None: nothing (not both confirmed, or no one to name)."""
    if facts.status not in (Status.CONFIRMED, Status.CONTACT_EXCHANGED):
        return None
    if facts.peer_decision != "confirm":
        return None
    contact = None
    # Without the person's consent our contact is never handed over (the peer's may still be).
    if not facts.handover_sent and facts.consent_contact != "no":
        if facts.confirmer is None:
            return None
        contact = contact_of(facts.confirmer)
    exchanged = facts.peer_contact_here and facts.status == Status.CONFIRMED
    return HandoverStep(contact=contact, exchanged=exchanged)


def contact_of(user: dict) -> dict:
    """The contact profile a peer's caseworker receives: name, organisation, phone, e-mail."""
    return {
        "name": (user["full_name"] or user["name"])[:CONTACT_FIELD_CHARS],
        "organisation": user["organisation"][:CONTACT_FIELD_CHARS],
        "phone": user["phone"][:CONTACT_FIELD_CHARS],
        "email": user["email"][:CONTACT_FIELD_CHARS],
    }
