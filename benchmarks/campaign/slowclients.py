"""Hostile connections that are not bad requests: clients that leave mid-body and clients that
dribble bytes (slow-loris). Part of the bad-request campaign (``badrequests.run``), against the
same live node, before its log is checked for tracebacks.

Regressions (issue 13's fuzz): a client leaving mid-body left a traceback in the log; six
slow-loris connections were held 76 s, with no header or body timeout at all.
"""

from __future__ import annotations

import socket
import threading
import time

# The campaign's node closes a connection whose head or body is this slow ([server]).
HEADER_TIMEOUT = 3
BODY_TIMEOUT = 3
# The timeout, aiohttp's rounding up to whole seconds, and at most 2 s of draining.
GRACE = 5

DISCONNECT_PATHS = ("/v1/inbox", "/login", "/records/new", "/import")


def leave_mid_body(port: int, origin: str, rounds: int = 5) -> int:
    """Send a head that promises 1,000 bytes, a few of them, and hang up; returns how many."""
    sent = 0
    for _ in range(rounds):
        for path in DISCONNECT_PATHS:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 1000\r\n\r\nname=a&pa".encode()
                )
            sent += 1
    return sent


def _held(port: int, opening: bytes, drip: bytes, give_up: float) -> float:
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=give_up) as conn:
            conn.sendall(opening)
            while time.monotonic() - started < give_up:
                conn.sendall(drip)
                time.sleep(0.2)
    except OSError:
        pass
    return time.monotonic() - started


def slow_clients(port: int, each: int = 3) -> dict:
    """``each`` slow heads and ``each`` slow bodies at once; the longest each was held."""
    give_up = max(HEADER_TIMEOUT, BODY_TIMEOUT) + GRACE + 10
    kinds = {
        "head": (b"GET /v1/health HTTP/1.1\r\n", b"X-a: b\r\n"),
        "body": (b"POST /v1/inbox HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", b"x"),
    }
    held: dict[str, list[float]] = {kind: [] for kind in kinds}

    def one(kind: str) -> None:
        held[kind].append(_held(port, *kinds[kind], give_up))

    threads = [threading.Thread(target=one, args=(k,)) for k in kinds for _ in range(each)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "slow_heads": len(held["head"]),
        "slow_head_held_max_s": round(max(held["head"]), 1),
        "slow_bodies": len(held["body"]),
        "slow_body_held_max_s": round(max(held["body"]), 1),
    }


def passed(result: dict) -> bool:
    return (
        result["slow_head_held_max_s"] < HEADER_TIMEOUT + GRACE
        and result["slow_body_held_max_s"] < BODY_TIMEOUT + GRACE
    )
