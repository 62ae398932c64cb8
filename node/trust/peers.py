"""The trust store's operations: add, fingerprint, trust, revoke, update and list peers.

Each operation checks everything first (token, signatures, validity, state rules from keys/) and
then makes one write through the store, so a refusal changes nothing. ``trusted_peer_for_key``
is the one question the federation code asks: may a message signed with this key be accepted?
"""

from __future__ import annotations

import getpass
import shlex
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from keys import (
    REVOKED,
    TRUSTED,
    MalformedDocument,
    NodeDocument,
    OwnDocument,
    PeerExists,
    PeerRevoked,
    SignedDocument,
    TrustRefused,
    UnknownPeer,
    check_safety_number,
    check_transition,
    common_suite,
    decode_token,
    format_safety_number,
    parse_signed_document,
    safety_number,
    verify_self_signed,
    verify_update,
)
from node.home import Home
from node.store.audit import iso as _iso
from node.store.db import Store
from protocol.messages import EVALUATIONS

from .budgets import (
    DEFAULT_KEY_BUDGET,
    WINDOW_DAYS,
    WINDOW_SECONDS,
    BadBudget,
    offered_budget,
    parse_budget,
)
from .identity import DAY, now_seconds, own_document


@dataclass(frozen=True)
class Peer:
    """A trusted peer as linking needs it: its row id, name and current signed document."""

    id: int
    name: str
    document: NodeDocument

    @property
    def url(self) -> str:
        return self.document.url


@dataclass(frozen=True)
class TrustedPeer(Peer):
    """A trusted peer as found by one of its signing keys: the Peer (whose current document
    replies are encrypted to), and the key that was asked about."""

    key_id: str  # the key id asked about (the current key, or a retired one within grace)
    verify_key: Ed25519PublicKey  # verifies signatures made with that key

    @property
    def peer(self) -> Peer:
        """The plain Peer, as linking keeps it."""
        return Peer(id=self.id, name=self.name, document=self.document)


def default_actor() -> str:
    """Who is making a change, for the history: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def trusted_peer_for_key(
    store: Store, key_id: str, *, now: int | None = None, grace_days: int = 30
) -> TrustedPeer | None:
    """The trusted peer whose signing key this is, or None: accept its messages only if not None.

    None when the key is unknown, the peer is pending or revoked, the key was retired longer
    than ``grace_days`` ago, or the peer's document has expired.
    """
    now = now_seconds(now)
    row = store.peer_for_key_id(key_id)
    if row is None or row["state"] != TRUSTED:
        return None
    if row["retired_at"] is not None and now - row["retired_at"] > grace_days * DAY:
        return None
    if now > row["valid_until"]:
        return None
    document = _stored_document(row).document
    return TrustedPeer(
        id=row["id"],
        name=row["name"],
        key_id=key_id,
        verify_key=Ed25519PublicKey.from_public_bytes(bytes.fromhex(row["signing_key"])),
        document=document,
    )


def add_peer(
    home: Home, store: Store, token: str, *, actor: str, now: int | None = None
) -> NodeDocument:
    """Verify a peer's invitation token and store the peer as pending."""
    now = now_seconds(now)
    signed = decode_token(token)
    document = verify_self_signed(signed, now)
    own = own_document(home).document
    if document.signing_key == own.signing_key or document.key_id in {
        own.key_id,
        own.previous_key_id,
    }:
        raise OwnDocument(
            "this is this node's own token: send it to the peer, and add the token they send you"
        )
    if common_suite(own.suites, document.suites) is None:
        raise MalformedDocument(
            f"{document.name!r} supports none of this node's encryption suites "
            f"({', '.join(own.suites)}); it needs a newer Tafuta"
        )
    for key_id in (document.key_id, document.previous_key_id):
        known = store.peer_for_key_id(key_id) if key_id else None
        if known is None:
            continue
        if known["state"] == REVOKED and key_id == document.previous_key_id:
            continue  # new keys after a revocation: a new peer, to verify by phone again
        if known["state"] == REVOKED:
            raise PeerRevoked(
                f"this key belongs to {known['name']!r}, which was revoked; revocation is final"
            )
        if key_id == document.key_id:
            raise PeerExists(
                f"{known['name']!r} is already in the trust store ({known['state']} since "
                f"{known['state_since']}); nothing was changed"
            )
        raise PeerExists(
            f"this is a newer document of {known['name']!r}, which is already in the trust "
            "store; import it with 'tafuta peers update FILE'"
        )
    _check_name_free(store, document.name)
    store.insert_peer(
        _peer_fields(signed), document.signing_key.hex(), actor=actor, at=_iso(now), reason=""
    )
    return document


def peer_fingerprint(home: Home, store: Store, name: str) -> str:
    """The 60-digit safety number of this node and the peer (no spaces)."""
    row = _peer(store, name)
    ours = own_document(home).document.signing_key
    theirs = _stored_document(row).document.signing_key
    return safety_number(ours, theirs)


def trust_peer(
    home: Home,
    store: Store,
    name: str,
    digits: str,
    *,
    actor: str,
    now: int | None = None,
    budget: int = DEFAULT_KEY_BUDGET,
    evaluation: str = "auto",
) -> None:
    """Trust a pending peer, only if the digits read over the phone match, with the key budget
    its coordinator chose (distinct keys we blind for it per 30 days; node/trust/budgets.py) and who
    compares the two sides' keys (``TRUST_EVALUATIONS``; "auto": ``one_evaluator``)."""
    now = now_seconds(now)
    budget = parse_budget(budget)
    evaluation = check_evaluation(evaluation)
    row = _peer(store, name)
    check_transition(row["name"], row["state"], TRUSTED)
    check_safety_number(peer_fingerprint(home, store, name), digits)
    verify_self_signed(_stored_document(row), now)  # refuses an expired document
    store.set_peer_state(
        row["id"], row["state"], TRUSTED, actor=actor, at=_iso(now), reason="fingerprint verified"
    )
    store.set_peer_budget(row["id"], budget, actor=actor, now=now)
    own_key_id = own_document(home).document.key_id
    set_evaluation(store, name, evaluation, actor=actor, now=now, own_key_id=own_key_id)


def one_evaluator(own_key_id: str, peer_key_id: str) -> str:
    """Who evaluates a pair whose coordinators left it to the default: "ours" on the node whose
    key id sorts first, "theirs" on the other.

    Both nodes compute the same answer from the two key ids their safety number vouches for, with
    no message and nothing either side can change afterwards (it is decided once, at trust
    time). One evaluator protects that node's register from the other entirely (the other never
    holds its own keys blinded by both) and the other exactly as much as "both" did, so the
    default is better than "both" for every pair; which register is the better protected is left
    to chance unless the coordinators choose ("ours" on the side whose register would do the most
    harm if read). A node that made keys until its key id sorted first gains the evaluator's seat,
    which is what "both" gave it anyway."""
    return "ours" if own_key_id < peer_key_id else "theirs"


# Who compares the keys of a pair (docs/privacy-design.md). "ours": only this node; the peer
# gets its keys back from nobody, so it holds no equality oracle on our records, and learns
# suggestions above the threshold from our match notices. "theirs": only the peer (we learn
# from its notices; it holds the oracle on ours). "both": both nodes, each holding the oracle.
# "linker": neither; a third node both trust to stay blind compares (federation/linkage.py).
# (EVALUATIONS, from protocol.messages: the same words travel in every blinded-keys batch.)
# Chosen when trusting a peer ("auto", the default: ``one_evaluator``); a linkage node is
# chosen afterwards (``set_evaluation``).
TRUST_EVALUATIONS = ("auto", "both", "ours", "theirs")
# What a coordinator may set later: the wire's four, and "auto" again.
SETTABLE_EVALUATIONS = ("auto", *EVALUATIONS)
# What the peer's coordinator must have chosen, seen from its side, for the pair to work.
_AGREEING = {"both": "both", "ours": "theirs", "theirs": "ours", "linker": "linker"}
# What goes wrong when the two sides disagree, by (ours, the peer's).
_DISAGREEMENT = {
    ("ours", "ours"): "nobody compares the keys, so neither side gets suggestions",
    ("theirs", "theirs"): "nobody compares the keys, so neither side gets suggestions",
    ("both", "ours"): "the peer compares alone and we refuse its notices, while we still send "
    "its keys back, so it can read our values behind equal keys",
    ("both", "theirs"): "we compare and tell the peer nothing, while it waits for our notices",
    ("ours", "both"): "we compare alone and the peer, expecting its keys back, refuses our notices",
    ("theirs", "both"): "the peer compares and tells us nothing, while we wait for its notices",
}


def evaluation_mismatch(peer: str, ours: str, announced: str) -> str | None:
    """Why the pair is set up wrongly, or None when the peer's announced choice agrees with ours.

    Each coordinator sets who evaluates on its own node (``set_evaluation``); nothing checked
    that the two settings fit, so a pair where both chose "ours" exchanged keys for ever and
    nobody got a suggestion. What the peer announces is only compared, never obeyed: our own
    setting alone decides what we give away."""
    if _AGREEING[ours] == announced:
        return None
    harm = _DISAGREEMENT.get(
        (ours, announced), "no node compares the keys as both expect, so suggestions go missing"
    )
    here = _AGREEING[announced] + (" --via LINKER" if announced == "linker" else "")
    return (
        f"we set evaluation {ours!r} and {peer} announces {announced!r}: {harm}. Agree with its "
        f"coordinator: one side 'ours' and the other 'theirs', both 'both', or both 'linker' "
        f"(here: tafuta peers evaluation {shlex.quote(peer)} {here}, or ask the peer "
        f"to set {_AGREEING[ours]!r})"
    )


def check_evaluation(value: str, choices: tuple[str, ...] = TRUST_EVALUATIONS) -> str:
    if value not in choices:
        raise BadBudget(
            f"who evaluates is one of {', '.join(choices)}, not {value!r}; nothing was changed"
        )
    return value


def set_evaluation(
    store: Store,
    name: str,
    evaluation: str,
    *,
    actor: str,
    now: int | None = None,
    via: str | None = None,
    own_key_id: str | None = None,
) -> str:
    """Change who evaluates; applies to keys exchanged from now on (docs/coordinator-guide.md).
    "linker" needs ``via``, the trusted peer that links the pair (it must agree: ``tafuta
    linkage add`` there); "auto" needs ``own_key_id``, this node's key id (``one_evaluator``)."""
    evaluation = check_evaluation(evaluation, SETTABLE_EVALUATIONS)
    row = _peer(store, name)
    auto = evaluation == "auto"
    if auto:
        if own_key_id is None:  # a caller's mistake, not a user's
            raise ValueError("evaluation 'auto' needs this node's key id")
        evaluation = one_evaluator(own_key_id, _key_id(row))
    linker_id = None
    if evaluation == "linker":
        if not via:
            raise BadBudget(
                "evaluation 'linker' needs the linkage node: --via NAME (a trusted peer that "
                "both nodes trust); nothing was changed"
            )
        linker = _peer(store, via)
        if linker["id"] == row["id"] or linker["state"] != TRUSTED:
            raise BadBudget(
                f"the linkage node must be a trusted peer other than {row['name']!r}, not "
                f"{linker['name']!r} ({linker['state']}); nothing was changed"
            )
        linker_id = linker["id"]
    elif via:
        raise BadBudget(f"--via names a linkage node, for 'linker' only, not {evaluation!r}")
    store.set_peer_evaluation(
        row["id"], evaluation, actor=actor, now=now_seconds(now), linker_id=linker_id, auto=auto
    )
    return evaluation


def linker_name(store: Store, name: str) -> str | None:
    """The linkage node of our pair with the peer, if its evaluation is "linker"."""
    linker_id = store.peer_linker(_peer(store, name)["id"])
    if linker_id is None:
        return None
    return next((p["name"] for p in store.iter_peers() if p["id"] == linker_id), None)


def set_budget(
    store: Store, name: str, budget: object, *, actor: str, now: int | None = None
) -> int:
    """Change a peer's key budget; refuses a bad number or an unknown peer, changing nothing."""
    keys = parse_budget(budget)
    row = _peer(store, name)
    store.set_peer_budget(row["id"], keys, actor=actor, now=now_seconds(now))
    return keys


def default_budget(home: Home, store: Store) -> int:
    """The budget offered at trust time and applied to a peer without one: ``[federation]
    default_key_budget`` in config.toml, else sized to our own register (budgets.offered_budget)."""
    value = home.config.get("federation", {}).get("default_key_budget")
    return offered_budget(None if value is None else parse_budget(value), store.count_records())


def budget_status(store: Store, name: str, default: int = DEFAULT_KEY_BUDGET,
                  now: int | None = None) -> dict:  # fmt: skip
    """A peer's budget, who set it, and the distinct keys blinded for it in the window."""
    row = _peer(store, name)
    budget = store.peer_budget(row["id"])
    used, _ = store.budget_use(row["id"], [], now_seconds(now) - WINDOW_SECONDS)
    return {
        "peer": row["name"],
        "budget": budget["keys"] if budget else default,
        "set_by": budget["set_by"] if budget else "(default)",
        "used": used,
        "window_days": WINDOW_DAYS,
        "evaluation": store.peer_evaluation(row["id"]),
        "auto": store.peer_evaluation_is_auto(row["id"]),
        "linker": linker_name(store, row["name"]),
    }


def revoke_peer(
    store: Store, name: str, reason: str, *, actor: str, now: int | None = None
) -> None:
    """Revoke a peer for good: its messages are refused from now on."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise TrustRefused("give a reason for the revocation (--reason TEXT); nothing was changed")
    row = _peer(store, name)
    check_transition(row["name"], row["state"], REVOKED)
    store.set_peer_state(
        row["id"], row["state"], REVOKED, actor=actor, at=_iso(now_seconds(now)), reason=reason
    )


def update_peer(
    home: Home, store: Store, token: str, *, actor: str, now: int | None = None
) -> tuple[NodeDocument, bool]:
    """Accept a peer's newer document (rotation or renewal); returns it and whether keys changed.

    The peer is found by the key the update follows on from; the update must be signed by that
    key (see keys.verify_update). A pending peer stays pending, a trusted peer stays trusted.
    """
    now = now_seconds(now)
    signed = decode_token(token)
    document = signed.document
    row = store.peer_for_key_id(document.key_id)
    if row is None and document.previous_key_id:
        row = store.peer_for_key_id(document.previous_key_id)
    if row is None:
        raise UnknownPeer(
            f"no peer in the trust store holds the key this document of {document.name!r} "
            "follows on from; if it is a new peer, use 'tafuta peers add'"
        )
    if row["document"] == _peer_fields(signed)["document"] and row["state"] != REVOKED:
        raise PeerExists(
            f"this document of {row['name']!r} (version {document.version}) was already "
            "imported; nothing to do"
        )
    current = _stored_document(row).document
    revoked = set()
    if row["state"] == REVOKED:
        revoked = {k["key_id"] for k in store.peer_keys(row["id"])}
    new = verify_update(current, signed, now, revoked)
    if new.name != row["name"]:
        _check_name_free(store, new.name, except_id=row["id"])
    store.update_peer_document(
        row["id"], _peer_fields(signed), new.signing_key.hex(), actor=actor, at=_iso(now), now=now
    )
    store.prune_retired_peer_keys(now - home.retired_key_grace_days * DAY)
    return new, new.key_id != current.key_id


def list_peers(home: Home, store: Store, now: int | None = None) -> list[dict]:
    """Every peer with its state, fingerprint, key ids and since when, for 'peers list'."""
    now = now_seconds(now)
    grace = home.retired_key_grace_days * DAY
    ours = own_document(home).document.signing_key
    listing = []
    for row in store.iter_peers():
        document = _stored_document(row).document
        key_ids = [
            k["key_id"]
            for k in store.peer_keys(row["id"])
            if k["retired_at"] is None or now - k["retired_at"] <= grace
        ]
        listing.append(
            {
                "name": row["name"],
                "url": row["url"],
                "state": row["state"],
                "since": row["state_since"],
                "fingerprint": format_safety_number(safety_number(ours, document.signing_key)),
                "key_ids": key_ids,
                "version": row["version"],
                "valid_until": _iso(row["valid_until"]),
                "expired": now > row["valid_until"],
                "suites": list(document.suites),
                # How many of the peer's records we hold now (their keys, by pseudonym).
                "records_held": store.records_held(row["id"]),
            }
        )
    return listing


def _peer(store: Store, name: str) -> dict:
    row = store.peer_by_name(name)
    if row is None:
        raise UnknownPeer(f"no peer named {name!r}; 'tafuta peers list' shows them")
    return row


def _check_name_free(store: Store, name: str, except_id: int | None = None) -> None:
    other = store.peer_by_name(name)
    if other is not None and other["state"] != REVOKED and other["id"] != except_id:
        raise PeerExists(
            f"another peer is already named {name!r} ({other['state']}), with different keys; "
            "if that organisation made new keys, ask it for the update from 'tafuta keys rotate'"
        )


def _peer_fields(signed: SignedDocument) -> dict:
    document = signed.document
    return {
        "name": document.name,
        "url": document.url,
        "key_id": document.key_id,
        "document": signed.to_json().decode("utf-8"),
        "version": document.version,
        "valid_until": document.valid_until,
    }


def _key_id(row: dict) -> str:
    return _stored_document(row).document.key_id


def _stored_document(row: dict) -> SignedDocument:
    return parse_signed_document(row["document"].encode("utf-8"))


__all__ = [
    "TrustedPeer",
    "add_peer",
    "default_actor",
    "list_peers",
    "peer_fingerprint",
    "revoke_peer",
    "trust_peer",
    "trusted_peer_for_key",
    "update_peer",
]
