"""The rules of trust, without storage: which state changes are allowed, and in what words.

    pending ──trust (fingerprint matches)──▶ trusted
       │                                       │
       └───────────revoke (reason)─────────────┴──▶ revoked   (final)

A peer is added as ``pending``; only a coordinator who has compared the safety number over the
phone moves it to ``trusted``; ``revoked`` is final. Only ``trusted`` peers' messages are
accepted. The node's store keeps the states and a history of who changed what, when and why.
"""

from __future__ import annotations

from .errors import BadStateChange, PeerRevoked

PENDING = "pending"
TRUSTED = "trusted"
REVOKED = "revoked"
STATES: tuple[str, ...] = (PENDING, TRUSTED, REVOKED)

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {(PENDING, TRUSTED), (PENDING, REVOKED), (TRUSTED, REVOKED)}
)


def check_transition(name: str, current: str, target: str) -> None:
    """Raise unless ``current`` → ``target`` is allowed, with a message saying why not."""
    if (current, target) in ALLOWED:
        return
    if current == REVOKED:
        raise PeerRevoked(
            f"{name!r} was revoked; revocation is final. If the organisation has made new keys, "
            "add its new invitation"
        )
    if current == target:
        raise BadStateChange(f"{name!r} is already {current}")
    raise BadStateChange(f"{name!r} cannot go from {current} to {target}")
