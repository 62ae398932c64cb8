"""Offline bundles: the messages for one peer in one file, for a USB stick or an e-mail.

A bundle is JSON: ``{"format": "tafuta-bundle", "v": 1, "from": key id, "to": key id,
"created": seconds, "envelopes": [envelope, …]}``. Every envelope in it is sealed and signed
exactly as over HTTP, and importing runs every envelope through the same checks and the same
idempotent processing, so a bundle that is copied, tampered with or imported twice can add
nothing that HTTP could not. Only the clock window is wider: a bundle travels for days.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from node.errors import NodeError
from protocol.envelope import canonical_json, new_message_id
from protocol.errors import EnvelopeRefused

from .exchange import Federation, Peer

FORMAT = "tafuta-bundle"
BUNDLE_WINDOW_SECONDS = 30 * 24 * 3600
MAX_BUNDLE_BYTES = 512 * 1024 * 1024


class BundleError(NodeError):
    """A bundle file cannot be written or read."""

    exit_code = 2


@dataclass
class ImportReport:
    applied: int = 0
    duplicates: int = 0
    acknowledgements: int = 0
    refused: list[str] = field(default_factory=list)


def export_bundle(federation: Federation, peer: Peer, target: Path) -> int:
    """Write every message pending for the peer (and acknowledgements owed to it) to target."""
    federation.prepare(peer)
    federation.prepare_shared(peer)
    store = federation.store
    envelopes = [
        federation.seal_for(peer, m["message_id"], m["type"], m["payload"]).decode("ascii")
        for m in store.pending_messages(peer.id)
    ]
    acks = store.acks_due(peer.id)
    envelopes += [federation.ack_for(peer, mid, "applied").decode("ascii") for mid in acks]
    bundle = {
        "format": FORMAT,
        "v": 1,
        "from": federation.keyring.key_id,
        "to": peer.document.key_id,
        "created": federation.clock(),
        "id": new_message_id(),
        "envelopes": envelopes,
    }
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_bytes(canonical_json(bundle))
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"cannot write {target}: {err.strerror}") from err
    store.clear_acks_due(peer.id, acks)
    return len(envelopes)


def import_bundle(federation: Federation, source: Path) -> ImportReport:
    """Process every envelope in the bundle as if it had arrived over HTTP."""
    envelopes = _read(source)
    report = ImportReport()
    touched: set[int] = set()
    for number, envelope in enumerate(envelopes, start=1):
        body = envelope.encode("utf-8")
        try:
            received = federation.receive(body, window=BUNDLE_WINDOW_SECONDS, via_bundle=True)
        except EnvelopeRefused as refused:
            report.refused.append(f"envelope {number}: {refused.reason}: {refused}")
            continue
        if received.replayed is not None:
            # Seen before: its acknowledgement may have been lost; owe it again.
            report.duplicates += 1
            federation.store.mark_ack_due(received.peer_id, received.message_id)
            continue
        touched.add(received.peer_id)
        if received.ack is None:
            report.acknowledgements += 1
        else:
            report.applied += 1
    for peer in federation.trusted_peers():
        if peer.id in touched:
            federation.rescore(peer)
    return report


def _read(source: Path) -> list[str]:
    try:
        if source.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{source} is larger than {MAX_BUNDLE_BYTES} bytes; not a bundle")
        data = json.loads(source.read_bytes().decode("utf-8"))
    except FileNotFoundError as err:
        raise BundleError(f"{source}: no such file") from err
    except OSError as err:
        raise BundleError(f"cannot read {source}: {err.strerror}") from err
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BundleError(f"{source} is not a Tafuta bundle (not JSON)") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("v") != 1:
        raise BundleError(f"{source} is not a Tafuta bundle (format {FORMAT!r} version 1)")
    envelopes = data.get("envelopes")
    if not isinstance(envelopes, list) or not all(isinstance(e, str) for e in envelopes):
        raise BundleError(f"{source} is damaged: 'envelopes' must be a list of envelopes")
    return envelopes
