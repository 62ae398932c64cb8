"""The bad-request categories of the caseworker web UI (served by `tafuta serve` at /).

They join the peer API's categories in ``badrequests.run``. Node B gets a caseworker, a
coordinator and an admin; before the count the campaign opens their sessions in B's database
(the library calls a login makes): live sessions, a session that is logged out again, and one
expired session for every expired-session request (a session is removed the first time it is
seen expired, so each such request needs its own).

* bad CSRF — with a live session: no token, a wrong token, the token of another session, a
  foreign Origin, no Origin and no Sec-Fetch-Site (with the right token); also on the login form.
  Answer: 403.
* bad session — no cookie, a garbage cookie, an expired session, a logged-out session, an
  oversized cookie (past the 128-character limit, or past aiohttp's 8 KiB header limit), each
  on the unsafe routes (with a same-site Origin) and on the protected pages. Answer: a 303 to
  /login (or 400 for a header too large).
* refused login — a wrong password with a valid login-form token: 401, or 429 once that
  name must wait (node/accounts/login_throttle.py). These add rows to ``audit_log`` and
  ``login_failures`` by design; the campaign counts them separately.
* malformed UI requests, with a live session and a valid token: bad multipart bodies, huge
  form fields, bad match ids and record refs, unknown paths. Answer: a 4xx.

Every answer must be a 4xx or a 303 to /login; no 5xx, no unhandled exception, no row written.
"""

from __future__ import annotations

import random
import secrets
import sqlite3
import time

from node.accounts import sessions
from node.home import open_home
from node.store.db import Store
from node.testing.web import USERS, add_users
from node.web.app import LOGIN_COOKIE, SESSION_COOKIE

from .common import BadRequest, Category
from .webforms import (
    WebState,
    _bad_multipart,
    _cookie,
    _fill,
    _form,
    _huge_fields,
    _live,
    _undecodable_body,
    _upload_over_limits,
    _valid,
)

# Tables that refused logins add to by design (the failure and its audit row).
LEDGER_TABLES = ("audit_log", "login_failures")

UNSAFE = [
    "/matches/{match}/decide",
    "/matches/{match}/undo",
    "/matches/{match}/close",
    "/records/new",
    "/records/{ref}/edit",
    "/records/{ref}/retract",
    "/language",
    "/logout",
    "/import",
    "/import/confirm",
    "/peers/add",
    "/peers/trust",
    "/peers/revoke",
    "/audit/verify",
    "/directory/edit",
]
PAGES = [
    "/queue",
    "/queue?status=all&kind=found&min=0.5",
    "/matches/{match}",
    "/records",
    "/records?q=amani&kind=missing&page=2",
    "/records/new",
    "/records/{ref}",
    "/records/{ref}/edit",
    "/import",
    "/duplicates",
    "/peers",
    "/peers?invite=1",
    "/audit",
    "/directory",
    "/directory/edit",
    "/directory/export.json",
    "/stats",
    "/",
]


def add_web_users(node) -> None:
    """B's users, with cheap password hashing (before the node starts)."""
    add_users(node.home)


def prepare(node, url: str, expired_requests: int) -> WebState:
    """Open B's sessions in its database, as logins would (audited, before the count)."""
    home = open_home(node.home)
    now = int(time.time())
    state = WebState(url)
    with Store.open(home.database_path) as store:
        users = {role: store.user_by_name(name) for name, role in USERS.items()}
        for role, user in users.items():
            cookie, session = sessions.start(store, user, replaces=None, now=now)
            state.live[role] = (cookie, session.csrf)
        cookie, session = sessions.start(store, users["caseworker"], replaces=None, now=now)
        state.other = (cookie, session.csrf)
        cookie, session = sessions.start(store, users["caseworker"], replaces=None, now=now)
        sessions.end(store, session, now=now)
        state.logged_out = cookie
        stale = now - sessions.IDLE_SECONDS - 60
        for _ in range(expired_requests):
            cookie, _session = sessions.start(store, users["caseworker"], replaces=None, now=stale)
            state.expired.append(cookie)
        state.refs = [r["ref"] for r in store.search_records("", None, 20, 0)[0]]
    return state


def live_sessions(database, state: WebState) -> set[tuple]:
    """The sessions that are not expired ones, without last_seen_at (a live session's use may
    touch it): these must come out of the bad requests exactly as they went in."""
    expired = {sessions.hash_id(cookie) for cookie in state.expired}
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT id_hash, user_id, csrf_token, created_at FROM sessions")
        return {row for row in rows if row[0] not in expired}
    finally:
        db.close()


def _unsafe(
    ctx,
    rng,
    *,
    cookie: str | None,
    csrf: str | None,
    origin: str | None,
    fetch_site: str | None = None,
    path: str | None = None,
):

    state: WebState = ctx.extra["web"]
    path = path or _fill(rng.choice(UNSAFE), rng, state.refs)
    fields = {"decision": "confirm", "note": "checked", "language": "sw", "reason": "x"}
    if csrf is not None:
        fields["csrf"] = csrf
    body, headers = _form(fields)
    if cookie is not None:
        headers["Cookie"] = cookie
    if origin is not None:
        headers["Origin"] = origin
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    return BadRequest("POST", path, body, headers)


# -- bad CSRF: a live session, but the request does not prove it comes from our page ------


def _csrf_request(ctx, rng, mode: str):
    state: WebState = ctx.extra["web"]
    path = _fill(rng.choice(UNSAFE), rng, state.refs)
    cookie, token = _live(ctx, path)
    session = _cookie(**{SESSION_COOKIE: cookie})
    if mode == "missing":
        return _unsafe(ctx, rng, cookie=session, csrf=None, origin=state.url, path=path)
    if mode == "wrong":
        wrong = rng.choice([secrets.token_urlsafe(32), token[:-1], token + "x", "", token.upper()])
        if wrong == token:
            wrong = token + "x"
        return _unsafe(ctx, rng, cookie=session, csrf=wrong, origin=state.url, path=path)
    if mode == "other session":  # this session's cookie, another live session's token
        return _unsafe(ctx, rng, cookie=session, csrf=state.other[1], origin=state.url, path=path)
    if mode == "foreign origin":
        origin = rng.choice(
            [
                "https://evil.example",
                "http://127.0.0.1:1",
                "http://localhost",
                state.url.replace("http:", "https:"),
                "null-ish://x",
                "file://",
            ]
        )
        site = rng.choice([None, "same-origin", "cross-site"])
        return _unsafe(
            ctx, rng, cookie=session, csrf=token, origin=origin, fetch_site=site, path=path
        )
    # no Origin and no Sec-Fetch-Site (or Origin: null without it): the right token is not enough
    origin = rng.choice([None, "null"])
    site = rng.choice([None, None, "cross-site", "same-site", "none"])
    return _unsafe(ctx, rng, cookie=session, csrf=token, origin=origin, fetch_site=site, path=path)


def _login_csrf(ctx, rng):
    """The login form without its double-submit token (or with a different one)."""

    state: WebState = ctx.extra["web"]
    fields = {"name": "amina", "password": "a long caseworker password", "next": "/queue"}
    headers = {"Origin": state.url}
    choice = rng.randrange(3)
    if choice == 1:
        fields["csrf"] = secrets.token_urlsafe(32)
        headers["Cookie"] = _cookie(**{LOGIN_COOKIE: secrets.token_urlsafe(32)})
    elif choice == 2:
        fields["csrf"] = token = secrets.token_urlsafe(32)
        headers["Cookie"] = _cookie(**{LOGIN_COOKIE: token})
        headers["Origin"] = "https://evil.example"
    body, form_headers = _form(fields)
    return BadRequest("POST", "/login", body, {**form_headers, **headers})


# -- bad session: no live session at all ------------------------------------------------------


def _session_request(ctx, rng, cookie: str | None):
    """An unsafe route (same-site, with some token) or a protected page, with this cookie."""

    state: WebState = ctx.extra["web"]
    header = None if cookie is None else _cookie(**{SESSION_COOKIE: cookie})
    if rng.random() < 0.5:
        csrf = rng.choice([None, secrets.token_urlsafe(32), state.live["caseworker"][1]])
        return _unsafe(ctx, rng, cookie=header, csrf=csrf, origin=state.url)
    headers = {} if header is None else {"Cookie": header}
    return BadRequest("GET", _fill(rng.choice(PAGES), rng, state.refs), b"", headers)


def _garbage_cookie(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!*'()%"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 128)))


def _oversized_cookie(ctx, rng):
    size = rng.choice([129, 500, 4000, 7000, 9000, 20_000, 70_000])
    return _session_request(ctx, rng, "A" * size)


def _expired(ctx, rng):
    state: WebState = ctx.extra["web"]
    return _session_request(ctx, rng, state.expired.pop())


def _refused_login(ctx, rng):

    state: WebState = ctx.extra["web"]
    token = secrets.token_urlsafe(32)
    name = rng.choice([*USERS, "nobody", "", "x" * 200, "amina\x00", "ａｍｉｎａ"])
    password = rng.choice(["wrong", "", "a long caseworker passwor", "p" * 5000])
    body, headers = _form({"csrf": token, "name": name, "password": password, "next": "/queue"})
    headers |= {"Origin": state.url, "Cookie": _cookie(**{LOGIN_COOKIE: token})}
    return BadRequest("POST", "/login", body, headers)


# -- malformed UI requests, from a live session with a valid token -----------------------------


BAD_IDS = [
    "xyz",
    "0" * 31,
    "0" * 33,
    "G" * 32,
    "%00",
    "..%2f..%2fetc%2fpasswd",
    "-1",
    "9" * 500,
    "%ff%fe",
    "a" * 32 + "%0d%0aSet-Cookie:x=1",
]
BAD_REFS = [
    "NO-SUCH",
    "%00",
    "..%2F..",
    "%ff%fe%fd",
    "x" * 5000,
    "%2e%2e",
    "a%0d%0ab",
    "%E2%80%AE",
    "%3Cscript%3E",
    "%25%25%25",
]


def _bad_ids(ctx, rng):
    """Match ids and record refs that name nothing (or are not ids at all)."""

    if rng.random() < 0.5:
        match = rng.choice([*BAD_IDS, secrets.token_hex(16)])
        path = f"/matches/{match}" + rng.choice(["", "/decide", "/undo", "/close"])
    else:
        ref = rng.choice(BAD_REFS)
        path = f"/records/{ref}" + rng.choice(["", "/edit", "/retract"])
    if path.endswith(("/decide", "/undo", "/close", "/edit", "/retract")) and rng.random() < 0.7:
        _, token = _live(ctx, path)
        body, headers = _form(
            {
                "csrf": token,
                "decision": rng.choice(["confirm", "bogus", ""]),
                "note": "checked",
                "outcome": "reunited",
                "reason": "x",
                "ref": "",
                "kind": "missing",
            }
        )
        return BadRequest("POST", path, body, {**_valid(ctx, path), **headers})
    return BadRequest("GET", path, b"", {"Cookie": _valid(ctx, path)["Cookie"]})


def _unknown_paths(ctx, rng):

    path = rng.choice(
        [
            "/nowhere",
            "/queue/x",
            "/records/",
            "/static/../../etc/passwd",
            "/static/%2e%2e/%2e%2e/etc/passwd",
            "/admin",
            "/.env",
            "/login/x",
            "/peers/delete",
            "/peers/",
            "/matches",
            "/matches/",
            "/import/x",
            "//evil.example",
            "/%00",
            "/records/new/edit",
        ]
    )
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"])
    headers = _valid(ctx, path if not path.startswith("/peers") else "/peers")
    body = b""
    if method != "GET":
        _, token = _live(ctx, "/peers" if path.startswith("/peers") else path)
        body, form = _form({"csrf": token, "name": "x", "reason": "x", "token": "x"})
        headers |= form
    return BadRequest(method, path, body, headers)


def _bad_form_values(ctx, rng):
    """Valid session and token; values the forms refuse (unknown language, bad record...)."""

    path, fields = rng.choice(
        [
            ("/language", {"language": rng.choice(["xx", "", "en\x00", "sw" * 3])}),
            ("/records/new", {"ref": "", "kind": "missing", "given_names": "A"}),
            ("/records/new", {"ref": "R1", "kind": "bogus", "given_names": "A"}),
            ("/records/new", {"ref": "R1", "kind": "missing", "birth_date": "1990-13-45"}),
            ("/peers/add", {"token": rng.choice(["", "tafuta1.xxx", "x" * 3000])}),
            ("/peers/trust", {"name": "Nobody", "fingerprint": "1234"}),
            ("/peers/revoke", {"name": "Nobody", "reason": ""}),
            (
                "/import/confirm",
                {"upload": rng.choice(["", "../tafuta.db", ".x.csv", "a" * 24 + ".csv"])},
            ),
        ]
    )
    _, token = _live(ctx, path)
    body, headers = _form({"csrf": token, **fields})
    return BadRequest("POST", path, body, {**_valid(ctx, path), **headers})


def _to_login(status: int, location: str) -> bool:
    return 400 <= status < 500 or (status == 303 and location.startswith("/login"))


def categories():
    """The web UI's categories, for ``badrequests.run``."""

    session = _to_login
    four = lambda status, location: 400 <= status < 500  # noqa: E731
    return [
        Category("web: CSRF token missing", 0.5, lambda c, r: _csrf_request(c, r, "missing"), four),
        Category("web: CSRF token wrong", 0.5, lambda c, r: _csrf_request(c, r, "wrong"), four),
        Category(
            "web: CSRF token of another session",
            0.5,
            lambda c, r: _csrf_request(c, r, "other session"),
            four,
        ),
        Category(
            "web: foreign Origin", 0.5, lambda c, r: _csrf_request(c, r, "foreign origin"), four
        ),
        Category(
            "web: no Origin, no Sec-Fetch-Site",
            0.5,
            lambda c, r: _csrf_request(c, r, "no origin"),
            four,
        ),
        Category("web: login form without its token", 0.3, _login_csrf, four),
        Category("web: no session cookie", 0.5, lambda c, r: _session_request(c, r, None), session),
        Category(
            "web: garbage session cookie",
            0.5,
            lambda c, r: _session_request(c, r, _garbage_cookie(r)),
            session,
        ),
        Category("web: expired session", 0.5, _expired, session),
        Category(
            "web: logged-out session",
            0.5,
            lambda c, r: _session_request(c, r, c.extra["web"].logged_out),
            session,
        ),
        Category("web: oversized cookie", 0.3, _oversized_cookie, session),
        Category("web: refused login", 0.3, _refused_login, four),
        Category("web: bad multipart", 0.5, _bad_multipart, four),
        Category("web: huge form fields", 0.1, _huge_fields, four),
        Category("web: bad match ids and refs", 0.5, _bad_ids, four),
        Category("web: bad form values", 0.5, _bad_form_values, four),
        Category("web: unknown paths", 0.3, _unknown_paths, four),
        Category("web: undecodable body", 0.3, _undecodable_body, four),
        Category("web: upload over the limits", 0.1, _upload_over_limits, four),
    ]
