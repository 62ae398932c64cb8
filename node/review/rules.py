"""The rules of caseworker review: who may decide what on a match, and what follows.

A match moves through these states (``matches.status``):

    suggested ─confirm─▶ confirmed ─(peer confirmed too, contacts sent)─▶ contact exchanged
    suggested ─reject──▶ rejected          contact exchanged ─close─▶ closed (keys retracted)
    suggested ─unsure──▶ unsure            any own decision ─undo (24 h, before handover)─▶ before

Only a confirmation leaves the node (a ``review-decision`` ``confirm``, in the same transaction),
and its withdrawal (``undo``) when the match stops being confirmed; a reject or an unsure stays
here, since telling the peer "not the same person" tells it something about our record. Only
when both sides confirmed does either side send a ``contact-handover`` with the confirming
caseworker's contact profile (review/handover.py); a handover for any other match is
refused (node/federation/inbox.py) and its contact is shown only once the match is "contact
exchanged".
Nothing about the record itself ever crosses. Closing a case withdraws the record, so the next
sync round retracts its keys at every peer.
"""

from __future__ import annotations

import json

from node.errors import MatchNotFound, ReviewRefused
from node.statuses import DECIDABLE, DECISION_STATUSES, STATUS_AFTER, Status
from node.store.db import Store
from protocol.envelope import new_message_id

from . import handover
from .notices import notice_for

DECISIONS = ("confirm", "reject", "unsure")
OUTCOMES = ("reunited", "not-the-person", "referred")
NOTE_REQUIRED = ("confirm", "reject")
UNDO_SECONDS = 24 * 3600
MAX_NOTE_CHARS = 2000
# The statuses our own decisions leave a match in, and those a caseworker may still decide on.


def get_match(store: Store, match_id: str) -> dict:
    match = store.match(match_id) if isinstance(match_id, str) else None
    if match is None:
        raise MatchNotFound(f"no match with id {match_id!r} on this node")
    return match


def _clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewRefused(f"the note is longer than {MAX_NOTE_CHARS} characters")
    return note


def decide(store: Store, match_id: str, decision: str, note: str, user: dict, now: int) -> dict:
    """Record a caseworker's decision and tell the peer; returns the updated match."""
    match = get_match(store, match_id)
    if decision not in DECISIONS:
        raise ReviewRefused(f"unknown decision {decision!r}; choose confirm, reject or unsure")
    note = _clean_note(note)
    if decision in NOTE_REQUIRED and not note:
        raise ReviewRefused(f"a note is required to {decision}: say what you checked")
    if match["status"] not in DECIDABLE:
        raise ReviewRefused(f"this match is {match['status']}; it cannot be decided again")
    messages = to_peer(match, match["status"], STATUS_AFTER[decision], now)
    if messages and decision == "confirm" and store.peer_evaluation(match["peer_id"]) == "ours":
        # The peer learns of a pair it was not told about before (notices.tell_before_review)
        # now that our caseworker confirms it, just before the confirmation itself.
        store.send_notices(match["peer_id"], [notice_for(match)], now)
    store.decide(match, decision, note, user, messages, now, hand_over=handover.next_step)
    return get_match(store, match_id)


def to_peer(match: dict, before: str, after: str, now: int) -> list[tuple[str, str, dict]]:
    """What the peer is told when a match's status goes from ``before`` to ``after``: that we
    confirm it, or that we no longer do; nothing else. The two pseudonyms (both already known
    to the peer) let it hold the match even if its own scoring has not reached it yet."""
    if after == "confirmed" and before != "confirmed":
        decision = "confirm"
    elif before == "confirmed" and after != "confirmed":
        decision = "undo"
    else:
        return []
    message = {
        "match_id": match["match_id"],
        "decision": decision,
        "at": now,
        "receiver_pseudonym": match["peer_pseudonym"],
        "sender_pseudonym": match["local_pseudonym"],
    }
    return [(new_message_id(), "review-decision", message)]


def undoable(store: Store, match: dict, user: dict, now: int) -> dict | None:
    """The user's own latest decision on this match, if it may still be undone."""
    if match["handover_sent"] or match["status"] not in DECISION_STATUSES:
        return None
    for decision in reversed(store.decisions(match["match_id"])):
        if decision["side"] != "local" or decision["undone_at"] is not None:
            continue
        if decision["decision"] not in DECISIONS:
            return None
        if decision["user_id"] == user["id"] and now - decision["at"] <= UNDO_SECONDS:
            return decision
        return None
    return None


def undo(store: Store, match_id: str, user: dict, now: int) -> dict:
    """Undo the user's own latest decision, within 24 hours and before any contact handover."""
    match = get_match(store, match_id)
    decision = undoable(store, match, user, now)
    if decision is None:
        raise ReviewRefused(
            "there is no decision of yours on this match to undo: only your own latest decision, "
            "within 24 hours and before contacts were handed over, can be undone"
        )
    earlier = [
        d for d in store.decisions(match_id)
        if d["side"] == "local" and d["undone_at"] is None and d["id"] != decision["id"]
        and d["decision"] in DECISIONS
    ]  # fmt: skip
    after = STATUS_AFTER[earlier[-1]["decision"]] if earlier else Status.SUGGESTED
    store.undo(match, decision, user, to_peer(match, match["status"], after, now), now)
    return get_match(store, match_id)


def close(store: Store, match_id: str, outcome: str, note: str, user: dict, now: int) -> dict:
    """Close a case once contacts were exchanged; the record's keys are retracted everywhere."""
    match = get_match(store, match_id)
    if not outcome:
        raise ReviewRefused(f"choose the outcome of the case: {', '.join(OUTCOMES)}")
    if outcome not in OUTCOMES:
        raise ReviewRefused(f"unknown outcome {outcome!r}; choose {', '.join(OUTCOMES)}")
    if match["status"] != Status.CONTACT_EXCHANGED:
        raise ReviewRefused(
            "a case can be closed once both sides confirmed and contacts were exchanged"
        )
    store.close_case(match, outcome, _clean_note(note), user, retract=True, now=now)
    return get_match(store, match_id)


def peer_contact(match: dict) -> dict | None:
    """The peer caseworker's contact, only on a match both sides confirmed and exchanged."""
    if match.get("status") != "contact exchanged" or not match.get("peer_contact"):
        return None
    return json.loads(match["peer_contact"])
