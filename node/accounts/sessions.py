"""Server-side sessions for the web UI.

The browser holds a random session id (256 bits) in an HttpOnly, SameSite=Strict cookie; the
database holds only its SHA-256, so a stolen copy of the database opens no session. A session
ends after 30 idle minutes or 12 hours in all, at logout, or when its user is disabled; a login
always starts a new session id (no fixation). Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from node.store.db import Store

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 3600
# last_seen_at is written at most this often, so browsing does not turn every page into a write.
TOUCH_EVERY_SECONDS = 60


@dataclass(frozen=True)
class Session:
    id_hash: str
    user: dict
    csrf: str


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def start(store: Store, user: dict, *, replaces: str | None, now: int) -> tuple[str, Session]:
    """A fresh session for ``user``; returns the id for the cookie and the session."""
    # Sessions that expired without being seen again would stay forever; a login sweeps them.
    store.end_sessions_before(now - IDLE_SECONDS, now - ABSOLUTE_SECONDS)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    old = hash_id(replaces) if replaces else None
    store.start_session(
        hash_id(session_id), user["id"], csrf, replaces=old, actor=f"user:{user['name']}", now=now
    )
    return session_id, Session(hash_id(session_id), user, csrf)


def resume(
    store: Store,
    session_id: str | None,
    *,
    now: int,
    idle: int = IDLE_SECONDS,
    absolute: int = ABSOLUTE_SECONDS,
) -> Session | None:
    """The live session for this cookie value, or None (missing, unknown, expired, disabled)."""
    if not session_id or len(session_id) > 128:
        return None
    id_hash = hash_id(session_id)
    row = store.session(id_hash)
    if row is None:
        return None
    user = store.user_by_id(row["user_id"])
    expired = now - row["last_seen_at"] > idle or now - row["created_at"] > absolute
    if expired or user is None or user["disabled"]:
        store.end_session(id_hash, actor=None, now=now)
        return None
    if now - row["last_seen_at"] >= TOUCH_EVERY_SECONDS:
        store.touch_session(id_hash, now)
    return Session(id_hash, user, row["csrf_token"])


def end(store: Store, session: Session, *, now: int) -> None:
    store.end_session(session.id_hash, actor=f"user:{session.user['name']}", now=now)
