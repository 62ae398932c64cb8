"""Caseworkers browsing the hub's web UI during the load part, timed per page type.

Each caseworker is one browser (its own cookies, no redirects followed): it logs in through the
login form (GET /login, POST /login with the form's token), then keeps opening pages with a
pause of 1-3 s between them, as a person reading them would: the review queue with filters
(status, kind, peer, score range, page), a match page picked from the queue, the records list
(search, kind, page), and a record page picked from the list. Every page must answer 200 (the
login 303); anything else, or a dropped connection, is an error. It runs in its own thread and
event loop, alongside the peers' sync.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time

import aiohttp

PAGE_TYPES = ("login", "queue", "match", "records", "record")
MATCH_LINK = re.compile(r'href="/matches/([0-9a-f]{32})"')
RECORD_LINK = re.compile(r'href="(/records/[^"?/]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browsers:
    """``names`` caseworkers browsing ``url`` until ``stop()``; samples per page type."""

    def __init__(self, url: str, names: list[str], password: str, seed: int = 23):
        self.url, self.names, self.password = url, names, password
        self.rng = random.Random(seed)
        self.samples: dict[str, list[float]] = {t: [] for t in PAGE_TYPES}
        self.errors: list[tuple[str, str]] = []
        self.peers: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(120)

    async def _run(self) -> None:
        await asyncio.gather(*(self._browse(name) for name in self.names))

    async def _timed(self, session, kind: str, method: str, path: str, expect: int, **kw):
        started = time.perf_counter()
        try:
            async with session.request(
                method, self.url + path, allow_redirects=False, **kw
            ) as answer:
                body = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as err:
            self.errors.append((kind, f"{path}: {type(err).__name__}"))
            return None
        self.samples[kind].append(time.perf_counter() - started)
        if status != expect:
            self.errors.append((kind, f"{path}: {status}"))
            return None
        return body

    async def _browse(self, name: str) -> None:
        rng = random.Random(self.rng.random())
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as s:
            await asyncio.sleep(rng.uniform(0, 3))  # not all at the same second
            if not await self._login(s, name):
                return
            matches: list[str] = []
            records: list[str] = []
            while not self._stop.is_set():
                kind = rng.choice(["queue", "queue", "match", "records", "record"])
                if kind == "queue" or (kind == "match" and not matches):
                    body = await self._timed(s, "queue", "GET", self._queue_path(rng), 200)
                    if body:
                        matches = MATCH_LINK.findall(body) or matches
                elif kind == "match":
                    await self._timed(s, "match", "GET", f"/matches/{rng.choice(matches)}", 200)
                elif kind == "records" or not records:
                    body = await self._timed(s, "records", "GET", self._records_path(rng), 200)
                    if body:
                        records = RECORD_LINK.findall(body) or records
                else:
                    await self._timed(s, "record", "GET", rng.choice(records), 200)
                await asyncio.sleep(rng.uniform(1, 3))

    async def _login(self, session, name: str) -> bool:
        page = await self._timed(session, "login", "GET", "/login", 200)
        token = CSRF.search(page or "")
        if not token:
            return False
        form = {"csrf": token.group(1), "name": name, "password": self.password, "next": "/queue"}
        answer = await self._timed(
            session, "login", "POST", "/login", 303, data=form, headers={"Origin": self.url}
        )
        return answer is not None

    def _queue_path(self, rng: random.Random) -> str:
        query = {"status": rng.choice(["suggested", "all", "suggested", "confirmed"])}
        if rng.random() < 0.3:
            query["kind"] = rng.choice(["missing", "found"])
        if rng.random() < 0.3 and self.peers:
            query["peer"] = rng.choice(self.peers)
        if rng.random() < 0.3:
            query["min"] = rng.choice(["0.5", "0.7", "0.9"])
        if rng.random() < 0.2:
            query["page"] = rng.choice(["1", "2"])
        return "/queue?" + "&".join(f"{k}={v.replace(' ', '+')}" for k, v in query.items())

    def _records_path(self, rng: random.Random) -> str:
        query = []
        if rng.random() < 0.4:
            query.append("q=" + rng.choice(["amani", "otieno1", "kwale", "HUB"]))
        if rng.random() < 0.3:
            query.append("kind=" + rng.choice(["missing", "found"]))
        if rng.random() < 0.3:
            query.append(f"page={rng.randrange(1, 6)}")
        return "/records" + ("?" + "&".join(query) if query else "")


def figures(browsers: Browsers, percentile) -> dict:
    """Requests, errors and p50/p95/p99/max latency (ms) per page type."""
    pages = {}
    for kind, values in browsers.samples.items():
        pages[kind] = {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "max_ms": round(max(values, default=0) * 1000, 1),
        }
    return {
        "caseworkers": len(browsers.names),
        "page_requests": sum(len(v) for v in browsers.samples.values()),
        "errors": len(browsers.errors),
        "error_examples": browsers.errors[:10],
        "pages": pages,
    }
