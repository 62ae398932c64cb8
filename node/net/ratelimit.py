"""Token-bucket rate limits, kept per key (a peer's key id, a client address).

In memory and per server: limits protect a small server from floods, they are not a record of
anything, so losing them on restart is fine. The clock is passed in so tests need not sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    rate: float  # tokens added per second
    burst: float  # bucket size
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[key] = (tokens, now)
        return allowed

    def _forget_full_buckets(self, now: float) -> None:
        """Drop keys whose bucket has refilled: they are indistinguishable from new ones."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[key]
