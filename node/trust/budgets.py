"""Budgets and alerts for what a peer may ask this node to blind (issue 12, item 3).

Every blinded key a peer obtains from us is one guess it can test against our records, so how
many it may ask for is a decision for people: the coordinator sets a budget of **distinct keys
per rolling 30 days** when trusting the peer (``DEFAULT_KEY_BUDGET`` is offered) and may change
it later. Nothing the peer says (the records it announces) changes it. A key sent again in the
window costs nothing; a record without keys costs nothing and buys nothing.

Beyond the budget a batch is refused whole (HTTP 429) and nothing of it is kept. Besides that,
a batch whose shape departs from what the peer sent before raises an alert (but is processed):
its announced record count, its volume, or its key profile (keys per record, mix of key types)
jumps. These rules are pure functions here; node/federation/exchange.py applies them and the store
keeps
the events (and the audit log the same).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from node.errors import UserError

WINDOW_DAYS = 30
WINDOW_SECONDS = WINDOW_DAYS * 24 * 3600
# About 2,500 records of key set 3's ~57 distinct keys once (docs/matching.md). A rotation sends
# them all again, once per 90 days by default, so after the 30-day window.
DEFAULT_KEY_BUDGET = 150_000
# Distinct keys a record costs, with room: key set 3 averages ~57 on East-African registers.
KEYS_PER_RECORD = 80
MAX_KEY_BUDGET = 100_000_000
# Alerts: a factor and a floor, so that small registers growing from 10 to 40 records stay quiet.
JUMP_FACTOR = 2.0
ANNOUNCED_FLOOR = 200
VOLUME_FLOOR = 2_000
PROFILE_SHARE_CHANGE = 0.3  # absolute change in one key type's share of keys
PROFILE_MIN_RECORDS = 50  # fewer records than this say nothing about a profile
ALERT_KINDS = (
    "over-budget",
    "announced-jump",
    "volume-jump",
    "profile-jump",
    "handover-refused",
    "evaluation-mismatch",  # the two coordinators set who evaluates in ways that do not fit
    "suggestions-withheld",  # a peer that looks like a guesser is told confirmed ones only
)


def budget_for(records: int) -> int:
    """A budget for a peer whose register holds about ``records`` records (the coordinators
    know each other's register size), never below the default."""
    return max(DEFAULT_KEY_BUDGET, KEYS_PER_RECORD * records)


def offered_budget(configured: int | None, own_records: int) -> int:
    """The budget offered when a coordinator trusts a peer (and used for a peer that has none):
    ``[federation] default_key_budget`` if the admin set one, else ``budget_for`` our own
    register. Partners in one network keep registers of similar size, so our own size is a fair
    first guess that a real register fits (6,000 records at ~57 keys are 340,000 keys, which a
    fixed 150,000 refused, so the exchange never settled); the peer's announced size is never
    used, since a malicious peer would announce whatever buys it more guesses."""
    return configured if configured is not None else budget_for(own_records)


class BadBudget(UserError):
    """A budget that is not a whole number from 0 to MAX_KEY_BUDGET."""


def parse_budget(value: object) -> int:
    """A budget from the CLI or the web form; refuses anything but 0…MAX_KEY_BUDGET."""
    text = str(value).strip().replace("_", "").replace(",", "")
    if not text.isdigit() or int(text) > MAX_KEY_BUDGET:
        raise BadBudget(
            f"a key budget is a whole number from 0 to {MAX_KEY_BUDGET:,}, not {str(value)!r}; "
            "nothing was changed"
        )
    return int(text)


def key_digest(token: bytes) -> bytes:
    """What the budget remembers of a key the peer asked us to blind (not the key itself)."""
    return hashlib.sha256(b"tafuta-budget-v1\x00" + token).digest()[:16]


@dataclass(frozen=True)
class Profile:
    """The shape of one batch of a peer's blinded keys."""

    announced: int
    records: int  # records with at least one key
    keys: int
    type_shares: dict[str, float]

    @property
    def keys_per_record(self) -> float:
        return self.keys / self.records if self.records else 0.0


def profile_of(announced: int, records: Iterable[Sequence[tuple[str, bytes]]]) -> Profile:
    types: Counter[str] = Counter()
    with_keys = keys = 0
    for record in records:
        if record:
            with_keys += 1
            keys += len(record)
            types.update(t for t, _ in record)
    shares = {t: n / keys for t, n in sorted(types.items())} if keys else {}
    return Profile(announced, with_keys, keys, shares)


def jumps(
    before: Profile | None, now: Profile, reference: Profile | None, budget: int
) -> list[tuple[str, str]]:
    """(alert kind, detail) for each way a batch departs from what is expected of the peer.

    ``before``: the peer's own earlier batches (None for its first); ``reference``: our own
    register's profile, which an honest peer computing the same key types resembles.
    """
    out: list[tuple[str, str]] = []
    previous = before.announced if before else 0
    per_record = reference.keys_per_record if reference and reference.records else 1.0
    if before is None:
        if now.announced * per_record > budget:
            out.append((
                "announced-jump",
                f"announced {now.announced:,} records; at {per_record:.0f} keys each that is "
                f"more than its budget of {budget:,} keys",
            ))  # fmt: skip
    elif now.announced > max(JUMP_FACTOR * previous, previous + ANNOUNCED_FLOOR):
        out.append(("announced-jump", f"announced {now.announced:,} records, before {previous:,}"))
    if (
        before is not None
        and before.keys
        and now.keys > max(JUMP_FACTOR * before.keys, VOLUME_FLOOR)
    ):
        out.append(
            ("volume-jump", f"{now.keys:,} keys in one batch, before at most {before.keys:,}")
        )
    base = reference if reference and reference.records >= PROFILE_MIN_RECORDS else before
    if base is None or base.records < PROFILE_MIN_RECORDS or now.records < PROFILE_MIN_RECORDS:
        return out
    ratio = now.keys_per_record / base.keys_per_record if base.keys_per_record else 0.0
    moved = max(
        (abs(now.type_shares.get(t, 0) - base.type_shares.get(t, 0))
         for t in {*now.type_shares, *base.type_shares}),
        default=0.0,
    )  # fmt: skip
    if not 1 / JUMP_FACTOR <= ratio <= JUMP_FACTOR or moved > PROFILE_SHARE_CHANGE:
        out.append((
            "profile-jump",
            f"{now.keys_per_record:.1f} keys per record (expected about "
            f"{base.keys_per_record:.1f}); one key type's share differs by {moved:.0%}",
        ))  # fmt: skip
    return out


def merged(before: Profile | None, now: Profile) -> Profile:
    """What the next batch is compared with: the largest batch so far, the latest announcement."""
    if before is None:
        return now
    if before.keys >= now.keys:
        return Profile(now.announced, before.records, before.keys, before.type_shares)
    return now
