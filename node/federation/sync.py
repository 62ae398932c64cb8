"""Delivering the outbox to peers over HTTP, with retries and exponential backoff.

A message is deleted from the outbox only when the peer's signed acknowledgement for it has been
verified; a lost acknowledgement means the message is sent again, and the peer's replay check
answers it with a fresh acknowledgement instead of applying it twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

import aiohttp

from node.errors import NotSettled
from node.ops.lock import delivery_lock
from node.store.db import Store
from protocol.envelope import CLOCK_WINDOW_SECONDS, open_envelope
from protocol.errors import EnvelopeRefused
from protocol.messages import validate

from .exchange import Federation, Peer
from .preparing import Preparer

log = logging.getLogger("tafuta.sync")

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 6 * 3600
REQUEST_TIMEOUT_SECONDS = 60


@dataclass
class PeerReport:
    """What one round did for one peer, for the CLI and the logs."""

    peer: str
    queued: int = 0
    sent: int = 0
    pending: int = 0
    suggestions: int = -1
    error: str = ""


def backoff_seconds(attempts: int) -> int:
    """Exponential with jitter: 5 s, 10 s, 20 s … up to 6 hours."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempts, 20))
    return base // 2 + secrets.randbelow(base // 2 + 1)


def _open_ack(federation: Federation, peer: Peer, body: bytes) -> str:
    """Verify a peer's acknowledgement and return the message id it acknowledges."""

    class _OnlyThisPeer:
        def verify_key(self, key_id: str):
            from protocol.errors import UnknownSender

            if key_id != peer.document.key_id:
                raise UnknownSender("acknowledgement not signed by the peer's current key")
            return peer.document.verify_key()

    opened = open_envelope(
        body,
        senders=_OnlyThisPeer(),
        own=federation.keyring,
        seen=lambda *_: False,
        validate=validate,
        now=federation.clock(),
        window=CLOCK_WINDOW_SECONDS,
    )
    if opened.header.type != "ack":
        raise EnvelopeRefused("the peer answered with something other than an acknowledgement")
    return opened.payload["acked"]


async def deliver(
    federation: Federation, peer: Peer, session: aiohttp.ClientSession, report: PeerReport
) -> None:
    """Send every due message to the peer in order; stop at the first failure.

    One process delivers to a peer at a time (``delivery_lock``); a process that finds the
    lock held leaves the peer's outbox to the holder, which sends it in order. The holder looks
    again once it has let go, so a message queued by a process that found the lock held is
    not left waiting for the next round."""
    while True:
        with delivery_lock(federation.store, peer.id) as ours:
            if not ours:
                return
            if not await _send_due(federation, peer, session, report):
                return  # postponed: the backoff decides when to try again
        if not federation.store.has_due(peer.id, federation.clock()):
            return


async def _send_due(
    federation: Federation, peer: Peer, session: aiohttp.ClientSession, report: PeerReport
) -> bool:
    """Send due messages in order until none is due (True) or one failed and was postponed
    (False)."""
    url = peer.url.rstrip("/") + "/v1/inbox"
    while True:
        due = federation.store.due_messages(peer.id, federation.clock(), limit=20)
        if not due:
            return True
        for message in due:
            body = federation.seal_for(
                peer, message["message_id"], message["type"], message["payload"]
            )
            try:
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    answer = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                _postpone(federation, peer, message, f"cannot reach {url}: {err}", report)
                return False
            ack_body = _ack_from(status, answer)
            if ack_body is None:
                _postpone(federation, peer, message, f"HTTP {status}: {answer[:200]!r}", report)
                return False
            try:
                acked = _open_ack(federation, peer, ack_body)
            except EnvelopeRefused as refused:
                _postpone(federation, peer, message, f"bad acknowledgement: {refused}", report)
                return False
            if acked != message["message_id"]:
                _postpone(federation, peer, message, "acknowledgement for another message", report)
                return False
            federation.store.acknowledge(peer.id, acked, federation.clock())
            report.sent += 1


def _ack_from(status: int, answer: bytes) -> bytes | None:
    """The acknowledgement in a reply: the body of a 200, or inside a 409 'replayed' answer."""
    if status == 200:
        return answer
    if status == 409:
        try:
            ack = json.loads(answer).get("ack")
        except (ValueError, AttributeError, RecursionError):
            return None
        return ack.encode() if isinstance(ack, str) else None
    return None


def _postpone(
    federation: Federation, peer: Peer, message: dict, error: str, report: PeerReport
) -> None:
    delay = backoff_seconds(message["attempts"])
    federation.store.postpone(peer.id, message["message_id"], federation.clock() + delay, error)
    report.error = error
    log.info("delivery to %s postponed %ss: %s", peer.name, delay, error)


async def sync_round(
    federation: Federation,
    peers: list[Peer] | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
) -> list[PeerReport]:
    """One round for each peer: queue changes, deliver the outbox, score new candidates."""
    peers = federation.trusted_peers() if peers is None else peers
    own_session = session is None
    if own_session:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        session = aiohttp.ClientSession(timeout=timeout)
    reports = [PeerReport(peer.name) for peer in peers]
    try:
        await _queue_and_deliver(federation, peers, reports, session)
        for peer, report in zip(peers, reports, strict=True):
            report.pending = federation.store.outbox_count(peer.id)
            report.suggestions = federation.rescore_when_due(peer)
        if federation.score_linkages():  # as a linkage node: deliver its notices at once
            await _all(
                deliver(federation, peer, session, PeerReport(peer.name))
                for peer in peers
                if peer.url and federation.store.outbox_count(peer.id)
            )
    finally:
        if own_session:
            await session.close()
    return reports


async def _queue_and_deliver(
    federation: Federation,
    peers: list[Peer],
    reports: list[PeerReport],
    session: aiohttp.ClientSession,
) -> None:
    """Queue each peer's changes and deliver its outbox as soon as they are queued, while the
    next peer is prepared on a worker thread (preparing.py). Every peer's delivery runs at
    once: each mostly waits for its peer to blind our keys, so one peer's wait is another's
    sending time (in order within each peer). An error preparing a peer ends the round once
    the deliveries begun have ended."""
    preparer = Preparer(federation, threaded=len(peers) > 1)
    deliveries: list[asyncio.Future[None]] = []
    try:
        for peer, report in zip(peers, reports, strict=True):
            report.queued = await preparer.queue(peer)
            if not peer.url:
                report.error = "the peer has no URL; exchange bundles instead"
                continue
            deliveries.append(asyncio.ensure_future(deliver(federation, peer, session, report)))
    except BaseException:
        await asyncio.gather(*deliveries, return_exceptions=True)
        raise
    finally:
        await preparer.close()
    await _all(deliveries)


async def _all(coroutines: Iterable[Awaitable[None]]) -> None:
    """Run the coroutines together; once all have ended, raise the first error, if any (no
    delivery is left running half-way behind an error)."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def pending_work(federation: Federation, peers: list[Peer] | None = None) -> dict[str, dict]:
    """What each peer's exchange still waits for, by peer name; empty entries are settled.

    Our outbox (messages not yet acknowledged), answers we wait for (the reply to our blinded
    keys, the list of our records the peer holds), and candidates not yet scored again.
    """
    peers = federation.trusted_peers() if peers is None else peers
    return pending_for(federation.store, [(p.id, p.name) for p in peers])


def pending_for(store: Store, peers: list[tuple[int, str]]) -> dict[str, dict]:
    """``pending_work`` for (peer id, name) pairs, from the store alone (no keys needed)."""
    state = store.settle_state([peer_id for peer_id, _ in peers])
    return {name: state[peer_id] for peer_id, name in peers}


def is_settled(pending: dict[str, dict]) -> bool:
    return all(not any(work.values()) for work in pending.values())


def describe_pending(pending: dict[str, dict]) -> str:
    """One line: 'settled', or what waits for which peer."""
    parts = []
    for name, work in pending.items():
        items = []
        if work["outbox"]:
            items.append(f"{work['outbox']} messages to send")
        if work["awaiting_replies"]:
            items.append(f"{work['awaiting_replies']} replies to our keys awaited")
        if work["awaiting_holdings"]:
            items.append("its list of our records awaited")
        if work["needs_scoring"]:
            items.append("candidates to score")
        if items:
            parts.append(f"{name}: {', '.join(items)}")
    return "settled" if not parts else "pending: " + "; ".join(parts)


async def sync_until_settled(
    federation: Federation,
    peers: list[Peer] | None = None,
    *,
    timeout: float,
    interval: float = 1.0,
    clock=time.monotonic,
) -> list[PeerReport]:
    """Sync rounds until nothing waits for any of the peers; NotSettled after ``timeout``.

    A round delivers what it can; answers arrive through our inbox (a running 'serve'), so
    between rounds we only look again. The last round's reports are returned.
    """
    deadline = clock() + timeout
    reports: list[PeerReport] = []
    timeout_cfg = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout_cfg) as session:
        while True:
            for peer in federation.trusted_peers() if peers is None else peers:
                federation.store.retry_now(peer.id, federation.clock())  # asked to wait: no backoff
            reports = await sync_round(federation, peers, session=session)
            pending = pending_work(federation, peers)
            if is_settled(pending):
                return reports
            if clock() >= deadline:
                raise NotSettled(
                    f"not settled after {timeout:g} s; {describe_pending(pending)}. The peers "
                    "must be running 'tafuta serve' for their answers to arrive."
                )
            await asyncio.sleep(interval)
