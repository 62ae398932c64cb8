"""People who use the web UI: adding, disabling, and checking a login.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory setting); a
login with a hash made under older parameters re-hashes it. Failed logins slow further attempts
per user name, per (name, address) and per address, never for everyone
(node/accounts/login_throttle.py).
A wrong name, a wrong password and a disabled account give the same message, so the login page
does not tell an attacker which names exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from node.accounts import login_throttle
from node.errors import LoginFailed, LoginThrottled, UserError
from node.store.db import Store

ROLES = ("caseworker", "coordinator", "admin")
LANGUAGES = ("en", "sw")
MIN_PASSWORD_CHARS = 12
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What each role may open, in addition to what the roles below it may.
RANK = {"caseworker": 1, "coordinator": 2, "admin": 3}


@dataclass(frozen=True)
class Profile:
    """How a peer's caseworker reaches this user once both sides confirm a match."""

    full_name: str = ""
    organisation: str = ""
    phone: str = ""
    email: str = ""


def default_hasher() -> PasswordHasher:
    return PasswordHasher()


def hasher_from_config(config: dict) -> PasswordHasher:
    """The node's hasher: argon2-cffi's defaults unless ``[web] argon2_*`` in config.toml says
    otherwise (a small server may need less memory; tests and the demo use tiny settings)."""
    web = config.get("web", {})
    default = PasswordHasher()
    return PasswordHasher(
        time_cost=int(web.get("argon2_time_cost", default.time_cost)),
        memory_cost=int(web.get("argon2_memory_kib", default.memory_cost)),
        parallelism=int(web.get("argon2_parallelism", default.parallelism)),
    )


def cheap_hasher() -> PasswordHasher:
    """For tests and the demo only: fast to compute, not for production passwords."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(
            f"the password must have at least {MIN_PASSWORD_CHARS} characters; "
            "a few words make a good one"
        )
    if len(password) > 1024:
        raise UserError("the password is longer than 1024 characters")
    return password


def check_profile(profile: Profile) -> Profile:
    for field, value in vars(profile).items():
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise UserError(f"{field.replace('_', ' ')} is too long or holds control characters")
    if profile.email and not EMAIL.match(profile.email):
        raise UserError(f"{profile.email!r} is not an e-mail address")
    return profile


def add_user(
    store: Store,
    name: str,
    role: str,
    password: str,
    profile: Profile,
    *,
    language: str = "en",
    actor: str,
    now: int,
    hasher: PasswordHasher | None = None,
) -> int:
    """Add a user; refuses a taken or malformed name, an unknown role, a short password."""
    if not NAME.match(name or ""):
        raise UserError(
            f"{name!r} is not a usable user name: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 64 characters"
        )
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if language not in LANGUAGES:
        raise UserError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    check_password(password)
    check_profile(profile)
    if store.user_by_name(name) is not None:
        raise UserError(f"a user named {name!r} exists already; nothing was changed")
    password_hash = (hasher or default_hasher()).hash(password)
    user = {"name": name, "role": role, "language": language, **vars(profile)}
    return store.insert_user(user, password_hash, actor=actor, now=now)


def disable_user(store: Store, name: str, *, actor: str, now: int) -> None:
    user = store.user_by_name(name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    if user["disabled"]:
        raise UserError(f"{name!r} is disabled already; nothing was changed")
    store.disable_user(user["id"], user["name"], actor=actor, now=now)


def authenticate(
    store: Store,
    name: str,
    password: str,
    address: str,
    *,
    now: int,
    hasher: PasswordHasher | None = None,
) -> dict:
    """The user if name and password are right; LoginThrottled or LoginFailed otherwise.

    The throttle (node/accounts/login_throttle.py) is checked first: while this name must wait after
    failures from this address (or from everywhere), even the right password is refused, so
    guessing cannot continue in the background. A failure from an address that failed often
    carries a pause for the web UI to hold back its answer.
    """
    hasher = hasher or default_hasher()
    failures = store.login_failures(name, address, now - login_throttle.WINDOW_SECONDS)
    wait = login_throttle.wait_seconds(failures, now)
    if wait > 0:
        raise LoginThrottled(
            f"too many failed logins for this name; wait {_duration(wait)} and try again, "
            "or ask your admin",
            retry_after=wait,
        )
    user = store.user_by_name(name) if name else None
    verified = False
    if user is None:
        hasher.hash(password)  # the same Argon2 work as a real check, so timing tells nothing
    else:
        try:
            verified = hasher.verify(user["password_hash"], password)
        except (VerificationError, InvalidHashError):
            verified = False
    if user is None or not verified or user["disabled"]:
        reason = "disabled" if verified else "wrong name or password"
        store.record_login_failure(name[:64], address, reason, now)
        raise LoginFailed(
            "wrong user name or password", pause=login_throttle.pause_after_failure(failures)
        )
    if hasher.check_needs_rehash(user["password_hash"]):
        store.set_user_password(user["id"], hasher.hash(password))
    return {k: v for k, v in user.items() if k != "password_hash"}


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{-(-seconds // 60)} minutes"


def may(user: dict, role: str) -> bool:
    """Whether the user's role reaches ``role`` (an admin may do what a coordinator may)."""
    return RANK.get(user["role"], 0) >= RANK[role]
