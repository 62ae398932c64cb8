"""The SQL of web UI accounts: users, sessions and login failures. The rules live in
node/accounts/ (who may log in, how long a guesser must wait)."""

from __future__ import annotations

from dataclasses import dataclass

from .audit import append_audit
from .parts import StoreParts, inserted_id

USER_COLUMNS = (
    "id, name, role, full_name, organisation, phone, email, language, disabled, created_at"
)


@dataclass(frozen=True)
class Failures:
    """Failed logins in the window: for the name, for the name from this address, and for
    this address over all names; ``*_last`` is when the latest of each happened (0: never)."""

    user: int = 0
    user_last: int = 0
    pair: int = 0
    pair_last: int = 0
    address: int = 0


class AccountTables(StoreParts):
    """Mixed into Store: users, sessions, login failures."""

    # -- users ----------------------------------------------------------------------------

    def insert_user(self, user: dict, password_hash: str, *, actor: str, now: int) -> int:
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO users (name, role, password_hash, full_name, organisation, phone, "
                "email, language, created_at) VALUES (:name, :role, :hash, :full_name, "
                ":organisation, :phone, :email, :language, :now)",
                {**user, "hash": password_hash, "now": now},
            )
            append_audit(conn, actor, "user-added", user["name"], f"role {user['role']}", now)
            return inserted_id(cursor)

    def user_by_name(self, name: str) -> dict | None:
        rows = list(
            self.db.query(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ?", [name])
        )
        return rows[0] if rows else None

    def user_by_id(self, user_id: int) -> dict | None:
        rows = list(self.db.query(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", [user_id]))
        return rows[0] if rows else None

    def list_users(self) -> list[dict]:
        return list(self.db.query(f"SELECT {USER_COLUMNS} FROM users ORDER BY name"))

    def disable_user(self, user_id: int, name: str, *, actor: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (user_id,))
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            append_audit(conn, actor, "user-disabled", name, "", now)

    def set_user_language(self, user_id: int, language: str, *, actor: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))
            append_audit(conn, actor, "language-changed", actor, language, now)

    def set_user_password(self, user_id: int, password_hash: str) -> None:
        """Used only to upgrade a hash whose parameters are outdated, at a successful login."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )

    # -- sessions and login failures --------------------------------------------------------

    def start_session(
        self, id_hash: str, user_id: int, csrf: str, *, replaces: str | None, actor: str, now: int
    ) -> None:
        """A new session at login (the old one, if any, ends), and the login in the audit log."""
        with self.transaction() as conn:
            if replaces:
                conn.execute("DELETE FROM sessions WHERE id_hash = ?", (replaces,))
            conn.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (id_hash, user_id, csrf, now, now),
            )
            append_audit(conn, actor, "login", actor, "", now)

    def session(self, id_hash: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM sessions WHERE id_hash = ?", [id_hash]))
        return rows[0] if rows else None

    def touch_session(self, id_hash: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (now, id_hash))

    def end_session(self, id_hash: str, *, actor: str | None, now: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
            if actor:
                append_audit(conn, actor, "logout", actor, "", now)

    def end_sessions_before(self, idle_since: int, created_since: int) -> int:
        with self.transaction() as conn:
            return conn.execute(
                "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                (idle_since, created_since),
            ).rowcount

    def record_login_failure(self, user_name: str, address: str, reason: str, now: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO login_failures (user_name, address, at) VALUES (?, ?, ?)",
                (user_name.casefold(), address, now),
            )
            append_audit(conn, f"address:{address}", "login-failed", user_name, reason, now)

    def login_failures(self, user_name: str, address: str, since: int) -> Failures:
        """Failures since ``since`` for the name, the name from this address, and the address."""
        user, user_last, pair, pair_last = self.conn.execute(
            "SELECT count(*), coalesce(max(at), 0), count(*) FILTER (WHERE address = ?),"
            " coalesce(max(at) FILTER (WHERE address = ?), 0)"
            " FROM login_failures WHERE user_name = ? AND at >= ?",
            (address, address, user_name.casefold(), since),
        ).fetchone()
        by_address = self.conn.execute(
            "SELECT count(*) FROM login_failures WHERE address = ? AND at >= ?", (address, since)
        ).fetchone()[0]
        return Failures(user, user_last, pair, pair_last, by_address)
