"""A live `tafuta serve` keeps a trusted peer served whatever others send in its name.

Only the per-address limit applies before an envelope's signature is verified; the per-peer
limit counts only envelopes the peer provably sent, and never a replay of one (anyone who saw a
message can send it again).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from node.federation.exchange import Federation
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.testing.processes import PASSPHRASE, pair
from node.trust.identity import now_seconds, unlock
from protocol.envelope import new_message_id

pytestmark = pytest.mark.slow

FLOOD = 1_000
# Every flooding request must reach the signature check, so the address limit is set above
# the flood; the per-peer limit keeps its default (a burst of 200), which the flood exceeds.
ROOMY_ADDRESS_LIMIT = "\n[server]\naddress_rate = 50\naddress_burst = 5000\n"


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/v1/inbox", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"{}")


def seal_retraction(sender_home, recipient_name: str) -> bytes:
    """A genuine envelope from the sender's node, sealed with its real keys."""
    home = open_home(sender_home)
    with Store.open(home.database_path) as store:
        federation = Federation(store, unlock(home, PASSPHRASE), node_lexicon(home))
        federation.clock = now_seconds
        peer = federation.peer_named(recipient_name)
        return federation.seal_for(peer, new_message_id(), "retraction", {"pseudonyms": ["A" * 22]})


def forged(genuine: bytes) -> bytes:
    """The genuine envelope under a new message id: the peer's key id, a signature that fails."""
    outer = json.loads(genuine)
    outer["header"]["id"] = new_message_id()
    return json.dumps(outer).encode()


FLOODS = {
    # (what the flood sends, the answer each flooding request gets)
    "forged envelopes with the peer's key id": (forged, (403, "bad-signature")),
    "replays of one genuine envelope": (lambda genuine: genuine, (409, "replayed")),
}


@pytest.fixture
def pair_with_receiver_serving(network):
    receiver, peer = network("Kwale Rescue"), network("Mombasa Shelter")
    pair(receiver, peer)
    with (receiver.home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(ROOMY_ADDRESS_LIMIT)
    receiver.start(sync_interval=3600)
    return receiver, peer


@pytest.mark.parametrize("flood", list(FLOODS))
def test_a_flood_in_a_peers_name_does_not_lock_out_the_genuine_peer(
    pair_with_receiver_serving, flood
):
    receiver, peer = pair_with_receiver_serving
    make, expected = FLOODS[flood]
    genuine = seal_retraction(peer.home, receiver.name)
    if flood.startswith("replays"):
        assert post(receiver.url, genuine)[0] == 200
    answers = {}
    for _ in range(FLOOD):
        status, answer = post(receiver.url, make(genuine))
        answers[(status, answer.get("error"))] = answers.get((status, answer.get("error")), 0) + 1
    assert answers == {expected: FLOOD}

    started = time.monotonic()
    status, answer = post(receiver.url, seal_retraction(peer.home, receiver.name))
    assert status == 200, answer
    assert answer["header"]["type"] == "ack"
    assert time.monotonic() - started < 5
