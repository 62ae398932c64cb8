"""Thousands of bad requests against a live `tafuta serve` node, by category.

Node B serves; A is a trusted peer, R was trusted and then revoked, S is a stranger (trusted by
A, unknown to B). Every request is bad in one way; the node must answer each with a 4xx (never a
5xx, never a 2xx), log no unhandled exception, and write no row (every table's row count is the
same before and after). Replayed messages are sent once, before the first count.

The web UI's categories (``webrequests.py``: bad CSRF, bad session, refused logins, malformed UI
requests, undecodable bodies, uploads over the limits) run in the same plan against the same
node. After them, hostile connections (``slowclients.py``: clients leaving mid-body, slow heads
and bodies) must be closed in time, every answer's ``Server`` header must be ``Tafuta``, and an
upload preview planted two hours old must be purged once the import page is opened. A 303
counts as refused only when it points at /login. Refused logins add to ``audit_log`` and
``login_failures`` by design, and an expired session is removed the first time it is seen: those
tables are counted separately.

Categories are pluggable: a ``Category`` has a name, a weight, a builder that returns one
``BadRequest`` and the answers (status, Location) it may get.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import random
import secrets
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yarl

from keys import KdfParams, Keyring
from node.federation.exchange import Federation
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.trust.identity import now_seconds, unlock
from node.web.app import SESSION_COOKIE
from protocol.envelope import MAX_ENVELOPE_BYTES, b64, new_message_id, seal

from . import slowclients, webforms, webrequests
from .common import (
    PASSPHRASE,
    BadRequest,
    Category,
    Network,
    crashes_in_log,
    new_network,
    pair,
    plan,
    raise_limits,
    table_counts,
    table_digests,
    write_register,
)
from .killcycles import _people

RETRACTION = {"pseudonyms": ["A" * 22]}
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Sender:
    """Seals envelopes as one node for another, with the node's real keys and a chosen clock."""

    def __init__(self, node, recipient_name: str):
        home = open_home(node.home)
        self.store = Store.open(home.database_path)
        self.keyring = unlock(home, PASSPHRASE)
        self.federation = Federation(self.store, self.keyring, node_lexicon(home))
        self.peer = self.federation.peer_named(recipient_name)

    def seal(self, kind="retraction", payload=RETRACTION, now=None, message_id=None) -> bytes:
        self.federation.clock = (lambda: now) if now is not None else now_seconds
        return self.federation.seal_for(self.peer, message_id or new_message_id(), kind, payload)


@dataclass
class Context:
    url: str
    senders: dict[str, Sender]
    replayable: list[bytes]
    impostor: Keyring
    extra: dict = field(default_factory=dict)


def _post(body: bytes) -> BadRequest:
    return BadRequest("POST", "/v1/inbox", body, {"Content-Type": "application/json"})


def _malformed(ctx: Context, rng: random.Random) -> BadRequest:
    good = json.loads(ctx.senders["a"].seal())
    choice = rng.randrange(10)
    if choice == 0:
        body = rng.randbytes(rng.randrange(0, 2000))
    elif choice == 1:
        body = b"[" * rng.randrange(500, 200_000)
    elif choice == 2:
        body = json.dumps(rng.choice([None, 1, "x", [], {}, {"header": {}}])).encode()
    elif choice == 3:
        del good["header"][rng.choice(sorted(good["header"]))]
        body = json.dumps(good).encode()
    elif choice == 4:
        key = rng.choice(sorted(good["header"]))
        good["header"][key] = rng.choice([None, [], {}, -1, 2**70, "", "x" * 300, 1.5, True])
        body = json.dumps(good).encode()
    elif choice == 5:
        good[rng.choice(["ct", "sig"])] = rng.choice(["***", "", "A", 7, None, ["x"]])
        body = json.dumps(good).encode()
    elif choice == 6:
        good["extra"] = "field"
        body = json.dumps(good).encode()
    elif choice == 7:
        body = b"\xff\xfe" + rng.randbytes(100)
    elif choice == 8:
        body = json.dumps(good).encode()[: rng.randrange(1, 20)] + b"\x00" * 10
    else:
        body = b'{"header": ' + b'"' * rng.randrange(1, 5000)
    return _post(body)


def _oversized(ctx: Context, rng: random.Random) -> BadRequest:
    return _post(b"{" + b" " * (MAX_ENVELOPE_BYTES + rng.randrange(1, 65536)) + b"}")


def _truncated(ctx: Context, rng: random.Random) -> BadRequest:
    body = ctx.senders["a"].seal()
    return _post(body[: rng.randrange(0, len(body))])


def _bit_flipped(ctx: Context, rng: random.Random) -> BadRequest:
    body = bytearray(ctx.senders["a"].seal())
    at = rng.randrange(len(body))
    body[at] ^= 1 << rng.randrange(8)
    return _post(bytes(body))


def _wrong_key(ctx: Context, rng: random.Random) -> BadRequest:
    """Claims to be A but is signed by another key, or is sealed to a key that is not B's."""
    a = ctx.senders["a"]
    document = a.peer.document
    if rng.random() < 0.5:
        signing, recipient_public = ctx.impostor.current.signing, document.hpke_public_key("x25519")
    else:
        other = ctx.impostor.document.document
        signing, recipient_public = a.keyring.current.signing, other.hpke_public_key("x25519")
    body = seal(
        message_type="retraction",
        payload=RETRACTION,
        sender_key_id=a.keyring.key_id,
        signing_key=signing,
        recipient_key_id=document.key_id,
        recipient_public_key=recipient_public,
        suite="x25519",
        now=now_seconds(),
    )
    return _post(body)


def _revoked(ctx: Context, rng: random.Random) -> BadRequest:
    return _post(ctx.senders["revoked"].seal())


def _unknown_sender(ctx: Context, rng: random.Random) -> BadRequest:
    return _post(ctx.senders["stranger"].seal())


def _stale(ctx: Context, rng: random.Random) -> BadRequest:
    offset = rng.choice([-1, 1]) * rng.randrange(301, 10 * 365 * 86400)
    return _post(ctx.senders["a"].seal(now=now_seconds() + offset))


def _replayed(ctx: Context, rng: random.Random) -> BadRequest:
    return _post(rng.choice(ctx.replayable))


def _bad_payload(ctx: Context, rng: random.Random) -> BadRequest:
    """Signed and sealed by the trusted peer, but the payload breaks the message schema."""
    kind, payload = rng.choice(
        [
            ("retraction", {"pseudonyms": "not a list"}),
            ("retraction", {"pseudonyms": ["A" * 22], "extra": 1}),
            ("blinded-keys", {"records": []}),
            ("ack", {"acked": "nonsense"}),
            ("no-such-type", {}),
            ("review-decision", {"match_id": 5, "decision": None}),
        ]
    )
    return _post(ctx.senders["a"].seal(kind=kind, payload=payload))


def _undecodable_body(ctx: Context, rng: random.Random) -> BadRequest:
    """Regression (issue 13's fuzz): a body whose Content-Encoding does not decode was answered
    500, with two tracebacks in the log."""
    encoding = rng.choice(["gzip", "deflate", "br", "zstd", "x-unknown", "gzip, deflate"])
    body = rng.choice([b"abcd", rng.randbytes(rng.randrange(1, 4000)), gzip.compress(b"{")[:-5]])
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    return BadRequest("POST", "/v1/inbox", body, headers)


def _boolean_number(ctx: Context, rng: random.Random) -> BadRequest:
    """Regression (issue 13): a match-notice whose score is ``true`` was accepted (True is an
    int in Python). Signed and sealed by the trusted peer, so only the schema can refuse it."""
    flag = rng.choice([True, False])
    kind, payload = rng.choice(
        [
            ("match-notice", {"match_id": secrets.token_hex(16), "score": flag}),
            ("review-decision", {"match_id": secrets.token_hex(16), "decision": "confirm",
                                 "at": flag}),
            ("blinded-keys", {"keyset": flag, "batch": "b1", "records": [],
                              "announced_records": 1, "evaluation": "both"}),
        ]
    )  # fmt: skip
    return _post(ctx.senders["a"].seal(kind=kind, payload=payload))


def _second_spelling(text: str) -> str:
    """The same bytes in base64url with the lowest unused bit of the last character set."""
    return text[:-1] + _ALPHABET[_ALPHABET.index(text[-1]) | 1]


def _non_canonical_base64(ctx: Context, rng: random.Random) -> BadRequest:
    """Regression (issue 13): a blinded key in non-canonical base64url (unused low bits set)
    was accepted, a second wire form of the same key."""
    pseudonym, key = b64(secrets.token_bytes(16)), b64(secrets.token_bytes(32))
    if rng.random() < 0.5:
        pseudonym = _second_spelling(pseudonym)
    else:
        key = _second_spelling(key)
    kind, payload = rng.choice(
        [
            ("blinded-keys", {"keyset": 1, "batch": "b1", "announced_records": 1,
                              "evaluation": "both",
                              "records": [{"p": pseudonym, "k": [["name_dob", key]]}]}),
            ("blinded-reply", {"keyset": 1, "batch": "b1",
                               "records": [{"p": pseudonym, "k": [["name_dob", key]]}]}),
            ("retraction", {"pseudonyms": [_second_spelling(b64(secrets.token_bytes(16)))]}),
        ]
    )  # fmt: skip
    return _post(ctx.senders["a"].seal(kind=kind, payload=payload))


def _wrong_route(ctx: Context, rng: random.Random) -> BadRequest:
    method, path = rng.choice(
        [("GET", "/v1/inbox"), ("PUT", "/v1/inbox"), ("POST", "/v1/health"),
         ("GET", "/v1/../../etc/passwd"), ("GET", "/nowhere"), ("DELETE", "/v1/inbox")]
    )  # fmt: skip
    return BadRequest(method, path, b"x" if method != "GET" else b"")


CATEGORIES: list[Category] = [
    Category("malformed", 1.0, _malformed),
    Category("oversized", 0.05, _oversized),
    Category("truncated", 1.0, _truncated),
    Category("bit-flipped", 1.0, _bit_flipped),
    Category("wrong key", 1.0, _wrong_key),
    Category("revoked sender", 1.0, _revoked),
    Category("unknown sender", 1.0, _unknown_sender),
    Category("stale", 1.0, _stale),
    Category("replayed", 1.0, _replayed),
    Category("bad payload", 1.0, _bad_payload),
    Category("wrong route", 0.5, _wrong_route),
    Category("undecodable body", 0.5, _undecodable_body),
    Category("boolean for a number", 0.5, _boolean_number),
    Category("non-canonical base64", 0.5, _non_canonical_base64),
]


# Every answer's Server header: it must name no versions (issue 13: it named aiohttp's and
# Python's). Filled by _send; the single event loop of a run is its only writer.
SERVER_HEADERS: Counter = Counter()


async def _send(session, url: str, request: BadRequest) -> tuple[int, str]:
    # aiohttp warns about large bytes bodies; a file-like body is streamed instead
    body = io.BytesIO(request.body) if len(request.body) > 1 << 20 else request.body
    async with session.request(
        request.method,
        yarl.URL(url + request.path, encoded=True),  # bad paths are sent as they are
        data=body,
        headers=request.headers,
        allow_redirects=False,
    ) as response:
        await response.read()
        SERVER_HEADERS[response.headers.get("Server", "")] += 1
        return response.status, response.headers.get("Location", "")


async def _fire(ctx: Context, order: list[Category], rng: random.Random, concurrency: int):
    statuses: dict[str, Counter] = {c.name: Counter() for c in order}
    unexpected: list[tuple[str, int]] = []
    queue = list(enumerate(order))
    timeout = aiohttp.ClientTimeout(total=120)

    async def worker(session):
        while queue:
            _, category = queue.pop()
            request = category.build(ctx, rng)
            location = ""
            try:
                status, location = await _send(session, ctx.url, request)
            except aiohttp.ClientError as err:  # a dropped connection counts as a failure
                status = 599
                unexpected.append((category.name, f"connection: {err}"))
            statuses[category.name][status] += 1
            if not category.allowed(status, location):
                unexpected.append((category.name, status, request.method, request.path[:80],
                                   location))  # fmt: skip

    # no cookie jar: each request carries exactly the cookies its category gives it
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses, unexpected


def setup(root: Path) -> tuple[Network, object, Context]:
    make = new_network(root)
    a, b, revoked, stranger = (make(n) for n in ("Kwale Rescue", "Mombasa Shelter",
                                                 "Revoked NGO", "Stranger"))  # fmt: skip
    pair(a, b)
    pair(revoked, b)
    pair(stranger, a)
    b.tafuta("peers", "revoke", "Revoked NGO", "--reason", "campaign")
    b.tafuta("import", write_register(root / "b-records.csv", _people("B", 40)))
    raise_limits(
        b,
        extra=f"header_timeout = {slowclients.HEADER_TIMEOUT}\n"
        f"body_timeout = {slowclients.BODY_TIMEOUT}\n",
    )
    webrequests.add_web_users(b)
    with (b.home / "config.toml").open("a", encoding="utf-8") as config:  # into its [web]
        config.write(f"max_upload_rows = {webforms.UPLOAD_ROWS}\n")
    b.start(sync_interval=3600)
    senders = {
        "a": Sender(a, b.name),
        "revoked": Sender(revoked, b.name),
        "stranger": Sender(stranger, a.name),
    }
    impostor = Keyring.create(name="Impostor", url="", now=now_seconds(), kdf=KdfParams.cheap())
    return make, b, Context(b.url, senders, [], impostor)


def run(
    root: Path,
    total: int,
    *,
    seed: int = 7,
    concurrency: int = 8,
    categories: list[Category] | None = None,
) -> dict:
    """Send ``total`` bad requests; returns the figures (and the pass/fail verdicts)."""
    rng = random.Random(seed)
    make, b, ctx = setup(root)
    try:
        replayable = [ctx.senders["a"].seal() for _ in range(20)]
        ctx.replayable.extend(_accept_once(ctx, replayable))
        _wait_until_quiet(b.home / "tafuta.db")
        order = plan(total, categories or CATEGORIES + webrequests.categories(), rng)
        expired = sum(c.name == "web: expired session" for c in order)
        ctx.extra["web"] = webrequests.prepare(b, ctx.url, expired)
        before = table_counts(b.home / "tafuta.db")
        unchanging = (*webrequests.LEDGER_TABLES, "sessions")
        contents = table_digests(b.home / "tafuta.db", skip=unchanging)
        live_before = webrequests.live_sessions(b.home / "tafuta.db", ctx.extra["web"])
        stale_preview = _plant_stale_preview(b.home)
        SERVER_HEADERS.clear()
        started = time.monotonic()
        statuses, unexpected = asyncio.run(_fire(ctx, order, rng, concurrency))
        elapsed = time.monotonic() - started
        hostile = {
            "left_mid_body": slowclients.leave_mid_body(b.port, ctx.url),
            **slowclients.slow_clients(b.port),
        }
        asyncio.run(_open_import_page(ctx))
        hostile["stale_preview_purged"] = not stale_preview.exists()
        after = table_counts(b.home / "tafuta.db")
        rewritten = sorted(
            t
            for t, digest in table_digests(b.home / "tafuta.db", skip=unchanging).items()
            if contents.get(t) != digest
        )
        live_after = webrequests.live_sessions(b.home / "tafuta.db", ctx.extra["web"])
        if live_after != live_before:
            rewritten.append("sessions")
        alive = asyncio.run(_health(ctx.url))
    finally:
        for sender in ctx.senders.values():
            sender.store.close()
        make.close()
    ledger = {t: after.get(t, 0) - before.get(t, 0) for t in webrequests.LEDGER_TABLES}
    removed = before.get("sessions", 0) - after.get("sessions", 0)
    changed = {
        t: (before[t], after.get(t))
        for t in before
        if before[t] != after.get(t)
        and t not in webrequests.LEDGER_TABLES
        and not (t == "sessions" and removed == expired)
    }
    server_errors = sum(n for c in statuses.values() for s, n in c.items() if s >= 500)
    return {
        "requests": sum(sum(c.values()) for c in statuses.values()),
        "seconds": round(elapsed, 1),
        "by_category": {
            name: {"requests": sum(c.values()), "statuses": dict(sorted(c.items()))}
            for name, c in sorted(statuses.items())
        },
        "http_5xx": server_errors,
        "unexpected_statuses": len(unexpected),
        "unexpected_examples": unexpected[:10],
        "unhandled_exceptions_in_log": crashes_in_log(b.log),
        "tables_changed": changed,
        "rows_written": sum(abs((a or 0) - x) for x, a in changed.values()),
        "tables_with_changed_contents": rewritten,
        "rows_added_by_refused_logins": ledger,
        "expired_sessions_removed_on_sight": removed,
        "expired_session_requests": expired,
        "healthy_after": alive,
        "server_headers": dict(SERVER_HEADERS),
        "hostile_connections": hostile,
    }


def _wait_until_quiet(database: Path, timeout: float = 60.0) -> None:
    """Let the node finish what the accepted messages started before anything is counted:
    each wakes its sync worker, and a retraction marks the peer for scoring again, so a round
    updates ``peer_sync`` moments later. Quiet: nothing left to score, and the table unchanged
    over a second."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT needs_scoring, * FROM peer_sync ORDER BY peer_id").fetchall()
        finally:
            db.close()
        if rows == previous and not any(row[0] for row in rows):
            return
        previous = rows
        time.sleep(1.0)
    raise AssertionError(f"the node did not settle within {timeout:g} s: {previous}")


def _plant_stale_preview(home: Path) -> Path:
    """An upload preview left two hours ago: the node must purge it (issue 13: 43 were left)."""
    folder = home / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    stale = folder / f"{secrets.token_hex(12)}.csv"
    stale.write_bytes(b"ref,kind\nSTALE-1,found\n")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    return stale


async def _open_import_page(ctx: Context) -> None:
    cookie, _ = ctx.extra["web"].live["caseworker"]
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        await _send(session, ctx.url, BadRequest("GET", "/import", headers=headers))


def _accept_once(ctx: Context, bodies: list[bytes]) -> list[bytes]:
    async def go():
        async with aiohttp.ClientSession() as session:
            for body in bodies:
                status, _ = await _send(session, ctx.url, _post(body))
                assert status == 200, status

    asyncio.run(go())
    return bodies


async def _health(url: str) -> bool:
    async with aiohttp.ClientSession() as session, session.get(url + "/v1/health") as r:
        return r.status == 200


def passed(result: dict) -> bool:
    return (
        result["http_5xx"] == 0
        and result["unexpected_statuses"] == 0
        and result["unhandled_exceptions_in_log"] == 0
        and result["rows_written"] == 0
        and not result.get("tables_with_changed_contents")
        and result["healthy_after"]
        and set(result.get("server_headers", {})) <= {"Tafuta"}
        and slowclients.passed(result["hostile_connections"])
        and result["hostile_connections"]["stale_preview_purged"]
    )


__all__ = ["CATEGORIES", "BadRequest", "Category", "Context", "passed", "run"]
