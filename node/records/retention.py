"""Retention: how long a record is kept, and what happens after.

A record expires on its ``retain_until`` date, else ``[retention] days`` after it was last
written (imported, changed, retracted or closed: a closed case counts from its closing). On
expiry it is retracted, so the next sync round withdraws its keys at every peer; ``grace_days``
after expiry (default 30), once every peer that knew it has been sent the retraction, it is
purged: the row and everything it said are deleted from the node. Both steps are audit entries.
A node without ``[retention] days`` keeps records until they are retracted by hand, except those
with their own ``retain_until``.

``tafuta serve`` applies this once per sync round; ``tafuta retention`` shows what is due and
applies it on a node that is not served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from node.errors import HomeError
from node.home import Home
from node.store.db import Store

DEFAULT_GRACE_DAYS = 30


@dataclass(frozen=True)
class RetentionPolicy:
    days: int | None = None  # None: no node-wide period
    grace_days: int = DEFAULT_GRACE_DAYS

    @classmethod
    def of(cls, home: Home) -> RetentionPolicy:
        """``[retention] days`` and ``grace_days`` from config.toml, checked."""
        settings = home.config.get("retention", {})
        days = settings.get("days")
        grace = settings.get("grace_days", DEFAULT_GRACE_DAYS)
        for name, value in (("days", days), ("grace_days", grace)):
            if value is not None and (type(value) is not int or value < 1):
                raise HomeError(
                    f"{home.config_path}: [retention] {name} must be a whole number of days (1 "
                    "or more)"
                )
        return cls(days=days, grace_days=grace)

    def expires_on(self, record: dict) -> date | None:
        """The day the record expires, or None when it is kept."""
        if record.get("retain_until"):
            return date.fromisoformat(record["retain_until"])
        if self.days is None:
            return None
        return date.fromisoformat(record["updated_at"][:10]) + timedelta(days=self.days)


@dataclass
class RetentionReport:
    expired: list[str] = field(default_factory=list)  # due today: retract (if live), mark
    purged: list[str] = field(default_factory=list)  # past the grace period: delete
    waiting: list[str] = field(default_factory=list)  # past it, but a peer still holds keys
    expiring: list[tuple[str, date]] = field(default_factory=list)  # later this month


def review(store: Store, policy: RetentionPolicy, today: date) -> RetentionReport:
    """What retention would do today, without changing anything."""
    report = RetentionReport()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    still_known = store.refs_known_to_peers()
    for record in store.retention_facts():
        if record["expired_at"] is None:
            expires = policy.expires_on(record)
            if expires is not None and expires <= today:
                report.expired.append(record["ref"])
            elif expires is not None and expires <= month_end and not record["retracted"]:
                report.expiring.append((record["ref"], expires))
        elif date.fromisoformat(record["expired_at"]) + timedelta(policy.grace_days) <= today:
            bucket = report.waiting if record["ref"] in still_known else report.purged
            bucket.append(record["ref"])
    return report


def apply(store: Store, policy: RetentionPolicy, today: date, now: int) -> RetentionReport:
    """Expire (retract) what is due and purge what is past the grace period; returns what was
    done. A purge waits until every peer that held the record's keys was sent its retraction
    (the next sync round queues it)."""
    report = review(store, policy, today)
    if report.expired:
        store.expire_records(report.expired, today.isoformat(), actor="retention", now=now,
                             reason=f"retention over ({policy_text(policy)})")  # fmt: skip
    if report.purged:
        store.purge_records(report.purged, actor="retention", now=now)
    return report


def policy_text(policy: RetentionPolicy) -> str:
    period = f"{policy.days} days after the last change" if policy.days else "retain_until only"
    return f"{period}; purged {policy.grace_days} days after expiry"
