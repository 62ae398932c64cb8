"""The peer API of a live `tafuta serve`: every bad envelope gets a clear 4xx and stores nothing."""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from node.federation.exchange import Federation
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.testing.processes import PASSPHRASE, Network, pair
from node.trust.identity import now_seconds, unlock
from protocol.envelope import MAX_ENVELOPE_BYTES, b64, new_message_id, unb64

pytestmark = pytest.mark.slow

TABLES = ("processed", "peer_blinded", "own_blinded", "outbox", "matches", "peer_events")
RETRACTION = {"pseudonyms": ["A" * 22]}


def snapshot(node) -> dict[str, int]:
    db = sqlite3.connect(node.home / "tafuta.db")
    try:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        db.close()


def post(node, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{node.url}/v1/inbox", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


class Sender:
    """Seals envelopes as one node for another, with the node's real keys and a chosen clock."""

    def __init__(self, sender, recipient_name: str):
        home = open_home(sender.home)
        self.store = Store.open(home.database_path)
        self.federation = Federation(self.store, unlock(home, PASSPHRASE), node_lexicon(home))
        self.peer = self.federation.peer_named(recipient_name)

    def seal(self, kind: str = "retraction", payload: dict = RETRACTION, now: int | None = None):
        self.federation.clock = (lambda: now) if now is not None else now_seconds
        return self.federation.seal_for(self.peer, new_message_id(), kind, payload)


def _flip(body: bytes, field: str) -> bytes:
    """One bit changed in the middle of a base64url field."""
    outer = json.loads(body)
    raw = unb64(outer[field])
    outer[field] = b64(raw[:5] + bytes([raw[5] ^ 0x10]) + raw[6:])
    return json.dumps(outer).encode()


def _second_encoding_of_sig(body: bytes) -> bytes:
    """The same 64 signature bytes with another last base64 character: 86 characters carry 516
    bits, so the lowest bits of the last one are unused, and flipping one keeps the bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    outer = json.loads(body)
    sig = outer["sig"]
    outer["sig"] = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]
    assert base64.urlsafe_b64decode(outer["sig"] + "==") == unb64(sig)
    return json.dumps(outer).encode()


def _with_header(body: bytes, **changes) -> bytes:
    outer = json.loads(body)
    outer["header"].update(changes)
    return json.dumps(outer).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """B serving; A trusted by B; C trusted then revoked; D never added."""
    make = Network(tmp_path_factory.mktemp("inbox"))
    a, b, revoked, stranger = (make(n) for n in ("Kwale Rescue", "Mombasa Shelter",
                                                 "Revoked NGO", "Stranger"))  # fmt: skip
    pair(a, b)
    pair(revoked, b)
    pair(stranger, a)
    b.tafuta("peers", "revoke", "Revoked NGO", "--reason", "test")
    b.start()
    senders = {
        "a": Sender(a, b.name),
        "revoked": Sender(revoked, b.name),
        "stranger_to_a": Sender(stranger, a.name),
    }
    yield b, senders
    for sender in senders.values():
        sender.store.close()
    make.close()


def _replayed(senders, b):
    body = senders["a"].seal()
    status, _ = post(b, body)
    assert status == 200
    return body


CASES = {
    "truncated": (lambda s, b: s["a"].seal()[:-30], 400, "malformed"),
    "bit-flipped ciphertext": (lambda s, b: _flip(s["a"].seal(), "ct"), 403, "bad-signature"),
    "bit-flipped signature": (lambda s, b: _flip(s["a"].seal(), "sig"), 403, "bad-signature"),
    "wrong recipient": (
        lambda s, b: _with_header(s["a"].seal(), recipient="nobody-here-000001"),
        403,
        "wrong-recipient",
    ),
    "unknown sender": (lambda s, b: s["stranger_to_a"].seal(), 403, "unknown-sender"),
    "revoked sender": (lambda s, b: s["revoked"].seal(), 403, "unknown-sender"),
    "stale": (lambda s, b: s["a"].seal(now=1_600_000_000), 400, "stale"),
    "replayed": (lambda s, b: _replayed(s, b), 409, "replayed"),
    "oversized": (lambda s, b: b"{" + b" " * (MAX_ENVELOPE_BYTES + 10) + b"}", 413, "too-large"),
    "malformed JSON": (lambda s, b: b'{"header": {"v": 1', 400, "malformed"),
    "not JSON at all": (lambda s, b: b"\x00\xff" * 50, 400, "malformed"),
    "empty body": (lambda s, b: b"", 400, "malformed"),
    # Regression (reliability campaign): json.loads' RecursionError escaped as an HTTP 500.
    "deeply nested JSON": (lambda s, b: b"[" * 100_000, 400, "malformed"),
    # Regression (campaign fuzzing): an unhashable suite ([]) raised TypeError, an HTTP 500.
    "list as suite": (lambda s, b: _with_header(s["a"].seal(), suite=[]), 400, "malformed"),
    # Regression (campaign): a bit flip in the unused bits of the signature's last base64
    # character decoded to the same bytes, and the envelope was accepted with HTTP 200.
    "second encoding of the signature": (
        lambda s, b: _second_encoding_of_sig(s["a"].seal()),
        400,
        "malformed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_envelope_gets_a_clear_4xx_and_stores_nothing(live, case):
    b, senders = live
    build, status, reason = CASES[case]
    body = build(senders, b)
    before = snapshot(b)
    got, answer = post(b, body)
    assert (got, answer.get("error")) == (status, reason), answer
    assert answer.get("message")
    assert snapshot(b) == before


def test_a_good_envelope_is_acknowledged(live):
    b, senders = live
    status, answer = post(b, senders["a"].seal())
    assert status == 200
    assert answer["header"]["type"] == "ack"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/inbox", 405), ("POST", "/v1/health", 405), ("GET", "/v1/nowhere", 404),
])  # fmt: skip
def test_wrong_peer_api_routes_get_json_4xx(live, method, path, status):
    b, _ = live
    request = urllib.request.Request(f"{b.url}{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    with err.value:
        assert err.value.code == status
        assert "error" in json.loads(err.value.read())


def test_a_wrong_page_outside_the_peer_api_gets_the_uis_404_page(live):
    """Paths outside /v1/ belong to the web UI, which answers people with a page, not JSON."""
    b, _ = live
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{b.url}/nowhere", timeout=10)
    with err.value:
        assert err.value.code == 404
        assert err.value.headers["Content-Type"].startswith("text/html")
