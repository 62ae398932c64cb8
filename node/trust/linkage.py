"""Which pairs of our peers this node links as their blind linkage node (docs/privacy-design.md,
D4): an agreement between three coordinators, recorded here and in the audit log."""

from __future__ import annotations

from keys import TRUSTED, UnknownPeer
from node.errors import UserError
from node.store.db import Store

from .identity import now_seconds


class BadLinkagePair(UserError):
    """Two names that cannot be a pair to link: the same peer, or a peer not trusted."""


def _trusted(store: Store, name: str) -> dict:
    row = store.peer_by_name(name)
    if row is None:
        raise UnknownPeer(f"no peer named {name!r}; 'tafuta peers list' shows them")
    if row["state"] != TRUSTED:
        raise BadLinkagePair(
            f"{row['name']!r} is {row['state']}; only trusted peers can be linked; nothing "
            "was changed"
        )
    return row


def _pair(store: Store, first: str, second: str) -> tuple[dict, dict]:
    a, b = _trusted(store, first), _trusted(store, second)
    if a["id"] == b["id"]:
        raise BadLinkagePair(f"a pair is two different peers, not {a['name']!r} twice")
    return a, b


def add_pair(store: Store, first: str, second: str, *, actor: str, now: int | None = None) -> bool:
    """Agree to link FIRST and SECOND; FIRST is shown every suggestion, SECOND only those that
    agree on three fields until FIRST's caseworker confirms one. False if already linked."""
    a, b = _pair(store, first, second)
    return store.add_linkage_pair(a["id"], b["id"], actor=actor, now=now_seconds(now))


def remove_pair(
    store: Store, first: str, second: str, *, actor: str, now: int | None = None
) -> bool:
    """Stop linking the two peers and forget their keys; False if they were not linked."""
    a, b = _pair(store, first, second)
    return store.remove_linkage_pair(a["id"], b["id"], actor=actor, now=now_seconds(now))


def list_pairs(store: Store) -> list[dict]:
    return [
        {
            "first": p["first_name"],
            "second": p["second_name"],
            "first_records": p["first_records"],
            "second_records": p["second_records"],
            "needs_scoring": bool(p["needs_scoring"]),
        }
        for p in store.linkage_pairs()
    ]
