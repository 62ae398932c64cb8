"""Load: many peer nodes syncing with one hub node for a while; errors and inbox latencies.

Every node is a real `tafuta serve` process. Caseworkers keep adding records to the peers
(a few every few seconds each, through the library call `tafuta import` makes), so the peers
keep sending blinded keys to the hub and the hub keeps answering with blinded replies and
acknowledgements, in both directions, through the real sync loops.

Each node's published URL points at a small recording proxy in this process (like the nginx in
front of a production node), which forwards to the node and times every ``POST /v1/inbox``
from the first byte received to the last byte answered. Figures: requests, statuses, errors
(anything but 200, or a dropped connection), p50/p95/p99 latency, and at the end that every
outbox drained and the hub holds every peer's records.

Meanwhile caseworkers browse the hub's web UI (``browsing.py``: log in, review-queue pages with
filters, match pages, records lists and record pages), timed per page type. The hub holds copies
of some of each peer's people, so its queue has matches to open. Pass also needs every page
answered (0 errors) and the hub's audit chain (it records every match and record viewed)
verifying at the end.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from node.testing.web import PASSWORD, add_users

from .browsing import Browsers, figures
from .common import (
    audit_chain,
    crashes_in_log,
    free_port,
    new_network,
    pair_in_process,
    raise_limits,
)
from .killcycles import _add_records, _column, _people


class RecordingProxy:
    """Forwards each listening port to a node's real port and records inbox timings."""

    def __init__(self, routes: dict[int, tuple[str, int]]):
        self.routes = routes  # listening port -> (node name, real port)
        self.samples: list[tuple[str, int, float]] = []  # (node, status, seconds)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.serve_node())
        self.loop.run_forever()
        self.loop.close()

    async def serve_node(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        self.runners = []
        for port, (name, real) in self.routes.items():
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._forwarder(name, real))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
        self.ready.set()

    def _forwarder(self, name: str, real: int):
        async def forward(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            body = await request.read()
            url = f"http://127.0.0.1:{real}{request.rel_url}"
            try:
                async with self.session.request(
                    request.method, url, data=body, headers={"Content-Type": "application/json"}
                ) as answer:
                    data, status = await answer.read(), answer.status
                    kind = answer.content_type
            except aiohttp.ClientError:
                data, status, kind = b'{"error": "proxy"}', 502, "application/json"
            if request.path == "/v1/inbox":
                self.samples.append((name, status, time.perf_counter() - started))
            return web.Response(body=data, status=status, content_type=kind)

        return forward

    def stop(self) -> None:
        async def close():
            for runner in self.runners:
                await runner.cleanup()
            await self.session.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(
    root: Path,
    peers: int,
    seconds: float,
    *,
    caseworkers: int = 0,
    seed: int = 17,
    every: float = 2.0,
) -> dict:
    rng = random.Random(seed)
    make = new_network(root)
    # the hub also holds a few of each peer's people (its own refs): matches for the queue
    echoes = [
        {**person, "ref": f"HUB-{person['ref']}", "kind": "found"}
        for i in range(peers)
        for person in _people(f"P{i}", 100)[:10]
    ]
    hub = make("Hub Shelter", _people("HUB", 200) + echoes)
    others = [make(f"Peer {i:02d}", _people(f"P{i}", 100)) for i in range(peers)]
    names = [f"cw{i:02d}" for i in range(caseworkers)]
    if names:
        add_users(hub.home, dict.fromkeys(names, "caseworker"))
    routes = {}
    for node in (hub, *others):
        real = free_port()
        routes[node.port] = (node.name, real)  # the published URL's port is the proxy's
        node.port = real
        raise_limits(node)
    for other in others:
        pair_in_process(hub, other)
    proxy = RecordingProxy(routes)
    proxy.start()
    added = 0
    try:
        for node in (hub, *others):
            node.start(sync_interval=1.0)
        # Deliveries to nodes not yet started fail during start-up; they are retried after a
        # backoff, and only what happens once every node is up is measured.
        proxy.samples.clear()
        browsers = Browsers(hub.url, names, PASSWORD)
        browsers.peers = [n.name for n in others]
        browsers.start()
        started = time.monotonic()
        batch = 0
        while time.monotonic() - started < seconds:
            for node in others:
                if rng.random() < 0.7:
                    _add_records(node, f"L{batch}-{node.name[-2:]}", rng.randrange(1, 6))
                    added += 1
            batch += 1
            time.sleep(every)
        elapsed = time.monotonic() - started
        browsers.stop()
        drained = _drain([hub, *others], others, hub)
    finally:
        for node in (hub, *others):
            node.stop()
        proxy.stop()
    latencies = [s for _, _, s in proxy.samples]
    statuses: dict[int, int] = {}
    for _, status, _ in proxy.samples:
        statuses[status] = statuses.get(status, 0) + 1
    errors = sum(n for status, n in statuses.items() if status != 200)
    return {
        "peers": peers,
        "seconds": round(elapsed, 1),
        "imports_during_run": added,
        "inbox_requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0,
        "statuses": dict(sorted(statuses.items())),
        "errors": errors,
        "latency_ms": {
            "p50": round(_percentile(latencies, 50) * 1000, 1),
            "p95": round(_percentile(latencies, 95) * 1000, 1),
            "p99": round(_percentile(latencies, 99) * 1000, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
            "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else 0,
        },
        "drained_and_converged": drained,
        "unhandled_exceptions_in_logs": sum(crashes_in_log(n.log) for n in (hub, *others)),
        "browsing": figures(browsers, _percentile),
        "hub_audit_chain": audit_chain(hub.home / "tafuta.db"),
    }


def _drain(nodes, peers, hub, timeout: float = 180) -> bool:
    """Every outbox empty and the hub holds every record of every peer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        empty = all(_column(n, "SELECT count(*) FROM outbox")[0][0] == 0 for n in nodes)
        expected = sum(_column(p, "SELECT count(*) FROM records")[0][0] for p in peers)
        # peer_records: a node that does not evaluate a pair keeps the pseudonyms, not the keys
        held = _column(hub, "SELECT count(*) FROM peer_records")[0][0]
        if empty and held == expected:
            return True
        time.sleep(1)
    return False


def passed(result: dict) -> bool:
    return (
        result["errors"] == 0
        and result["unhandled_exceptions_in_logs"] == 0
        and result["drained_and_converged"]
        and result["inbox_requests"] > 0
        and result["browsing"]["errors"] == 0
        and (result["browsing"]["caseworkers"] == 0 or result["browsing"]["page_requests"] > 0)
        and result["hub_audit_chain"]["ok"]
    )
