"""How long a login attempt must wait after failed ones, so guessing is slow and no one can
lock everyone out.

Failed logins are counted in the database (a restart does not reset them) over the last 15
minutes, three ways, each with its own purpose:

* **one name from one address** — someone guessing one person's password: after 5 failures
  each further attempt must wait, 30 s, then twice as long after every failure, at most 15
  minutes. Other names from that address, and that name from elsewhere, are not affected, so
  a caseworker who mistypes five times, or an attacker at the same office or behind the same
  reverse proxy, locks out no one else.
* **one name from all addresses** — guessing one password from many addresses: the same delays
  after 20 failures. This can hold back that one user, never anyone else.
* **one address over all names** — one address trying many names: after 20 failures each
  further *failed* attempt is answered only after a pause (1 s, doubling every 10 failures, at
  most 8 s). The right password from that address is answered at once, so people who share
  the address (an office network, a proxy) are not slowed; only the guessing is.

*Limit:* the pause holds back answers, so it slows a guesser that waits for each answer; one
that sends many attempts at once is held only by the per-name waits (each name gets 5 guesses
per address, 20 in all, before it must wait) and by the Argon2 work each attempt costs the
node's few worker threads.

The address is the client's own when ``[server] trusted_proxies`` names the reverse proxy
(node/net/addresses.py); otherwise every request through a proxy shares the proxy's address, which
is why no limit here refuses a whole address.
"""

from __future__ import annotations

from node.store.accounts import Failures

__all__ = ["Failures", "pause_after_failure", "wait_seconds"]

WINDOW_SECONDS = 15 * 60
PAIR_FREE_FAILURES = 5
USER_FREE_FAILURES = 20
ADDRESS_FREE_FAILURES = 20
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
MAX_PAUSE_SECONDS = 8.0


def _delay(failures: int, free: int) -> int:
    if failures < free:
        return 0
    return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** min(failures - free, 16))


def wait_seconds(failures: Failures, now: int) -> int:
    """Seconds until this name may be tried again from this address (0: now)."""
    until = max(
        failures.pair_last + _delay(failures.pair, PAIR_FREE_FAILURES),
        failures.user_last + _delay(failures.user, USER_FREE_FAILURES),
    )
    return max(0, until - now)


def pause_after_failure(failures: Failures) -> float:
    """Seconds to hold back the answer to a failed attempt from this address."""
    over = failures.address + 1 - ADDRESS_FREE_FAILURES
    if over <= 0:
        return 0.0
    return min(MAX_PAUSE_SECONDS, float(2 ** min(over // 10, 8)))
