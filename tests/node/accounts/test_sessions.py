"""Server-side sessions: expiry, and the sweep of expired sessions at every login."""

from __future__ import annotations

from node.accounts import sessions
from node.accounts.users import Profile, add_user, cheap_hasher
from node.store.db import Store

NOW = 1_800_000_000


def make_user(store: Store) -> dict:
    user_id = add_user(store, "amina", "caseworker", "a long password here", Profile(),
                       actor="test", now=NOW, hasher=cheap_hasher())  # fmt: skip
    return store.user_by_id(user_id)


def test_an_idle_session_is_not_resumed(node_home):
    with Store.open(node_home / "tafuta.db") as store:
        user = make_user(store)
        session_id, _ = sessions.start(store, user, replaces=None, now=NOW)
        assert sessions.resume(store, session_id, now=NOW + 60) is not None
        late = NOW + 60 + sessions.IDLE_SECONDS + 1
        assert sessions.resume(store, session_id, now=late) is None


def test_a_login_sweeps_sessions_that_expired_unseen(node_home):
    with Store.open(node_home / "tafuta.db") as store:
        user = make_user(store)
        old, _ = sessions.start(store, user, replaces=None, now=NOW)
        recent, _ = sessions.start(store, user, replaces=None, now=NOW + sessions.IDLE_SECONDS)
        sessions.start(store, user, replaces=None, now=NOW + sessions.IDLE_SECONDS + 120)
        assert store.session(sessions.hash_id(old)) is None
        assert store.session(sessions.hash_id(recent)) is not None
