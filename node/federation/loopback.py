"""Carrying envelopes between two nodes in one process, with no network: what `tafuta demo` and
the in-process test networks do instead of HTTP (sync.py) or a bundle file (bundle.py).

The receiver opens each envelope exactly as the peer API would (`Federation.receive`, the same
message-type handlers), and its acknowledgement goes back to the sender the same way, so the
outbox empties as it does between real nodes.
"""

from __future__ import annotations

from node.trust.peers import Peer

from .exchange import Federation


def carry(sender: Federation, peer: Peer, receiver: Federation) -> list[bytes]:
    """Seal the sender's outbox for ``peer`` (the receiver, as the sender knows it), deliver each
    envelope to ``receiver`` and hand the acknowledgements back; returns the envelopes sent."""
    envelopes = []
    for message in sender.store.pending_messages(peer.id):
        body = sender.seal_for(peer, message["message_id"], message["type"], message["payload"])
        envelopes.append(body)
        ack = receiver.receive(body).ack
        if ack is not None:
            sender.receive(ack)
    return envelopes
