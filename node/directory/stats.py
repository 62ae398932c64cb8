"""Statistics a node may publish: counts of its records, suppressed so no one is exposed.

Each table crosses one dimension (sex, age band, origin district, year reported, status) with
the kind of record (missing, found), with row and column totals, and goes through
node/directory/suppression.py: no published count lies in 1..k−1 and no hidden count can be worked
out
from the published ones. Nodes send their published tables to trusted peers (``stats-table``);
the network view sums what this node and its peers published. A sum that includes a hidden
count is a lower bound, marked as such; a sum of hidden counts only stays hidden.

``network_stats`` and ``own_stats`` return plain dicts a page can render.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from node.statuses import Status
from node.store.db import Store
from node.trust.peers import Peer
from protocol.envelope import canonical_json, new_message_id

from .context import Linking
from .districts import Gazetteer
from .suppression import DEFAULT_K, suppress

KINDS = ("missing", "found")
SEXES = ("F", "M", "X", "unknown")
AGE_BANDS = ("0-11", "12-17", "18-24", "25-34", "35-49", "50+", "unknown")
STATUSES = ("open", "matched", "reunited")
DIMENSIONS = ("sex", "age_band", "origin_district", "year_reported", "status")

# A record's published status from its matches' (node/statuses.py); a closed case reads
# 'closed-' and its outcome (store.match_statuses). Everything else (suggested, rejected,
# unsure, withdrawn, closed as not the person) leaves a record open.
MATCHED_STATUSES = frozenset({Status.CONFIRMED, Status.CONTACT_EXCHANGED, "closed-referred"})
REUNITED_STATUSES = frozenset({"closed-reunited"})


def record_status(match_statuses: Iterable[str]) -> str:
    """open / matched / reunited for a record, from the statuses of its matches."""
    statuses = {s.strip().lower() for s in match_statuses if s}
    if statuses & REUNITED_STATUSES:
        return "reunited"
    if statuses & MATCHED_STATUSES:
        return "matched"
    return "open"


def age_band(record: dict) -> str:
    """The band of the age when reported: the recorded age, else from the birth year."""
    age = None
    if record.get("age"):
        try:
            age = int(float(record["age"]))
        except ValueError:
            age = None
    if age is None and record.get("birth_date") and record.get("imported_at"):
        try:
            age = int(record["imported_at"][:4]) - int(record["birth_date"][:4])
        except ValueError:
            age = None
    if age is None or not 0 <= age <= 120:
        return "unknown"
    for band, top in zip(AGE_BANDS, (11, 17, 24, 34, 49, 200), strict=False):
        if age <= top:
            return band
    return "unknown"


def year_reported(record: dict) -> str:
    """The year the record says the person went missing or was found (its last_seen_date),
    not the year it was typed into this node; 'unknown' when the record does not say."""
    return (record.get("last_seen_date") or "")[:4] or "unknown"


def district_label(record: dict, gazetteer: Gazetteer) -> str:
    """The gazetteer's spelling of a known district; 'other' for an unknown one, so a rare
    place name never becomes a row of its own; 'unknown' when empty."""
    if not record.get("origin_district"):
        return "unknown"
    found = gazetteer.find(record["origin_district"], record.get("origin_country") or None)
    if not found:
        found = gazetteer.find(record["origin_district"])
    return found[0].name if found else "other"


def categories(records: list[dict], statuses: dict[str, str], gazetteer: Gazetteer) -> list[dict]:
    """Each record reduced to its kind and the five dimensions."""
    return [
        {
            "kind": r["kind"],
            "sex": r["sex"] or "unknown",
            "age_band": age_band(r),
            "origin_district": district_label(r, gazetteer),
            "year_reported": year_reported(r),
            "status": statuses.get(r["ref"], "open"),
        }
        for r in records
    ]


def count_tables(facts: list[dict]) -> dict[str, tuple[list[str], list[list[int]]]]:
    """dimension -> (row labels, counts by row × kind), before suppression."""
    fixed = {"sex": SEXES, "age_band": AGE_BANDS, "status": STATUSES}
    tables = {}
    for dimension in DIMENSIONS:
        counts = Counter((f[dimension], f["kind"]) for f in facts)
        rows = list(fixed.get(dimension) or sorted({f[dimension] for f in facts}) or ["unknown"])
        tables[dimension] = (rows, [[counts[(row, kind)] for kind in KINDS] for row in rows])
    return tables


def publish(facts: list[dict], k: int, computed_at: int) -> dict:
    """The suppressed tables, in the ``stats-table`` wire form (protocol/tables.py)."""
    tables = []
    for name, (rows, cells) in count_tables(facts).items():
        table = suppress(cells, k)
        tables.append(
            {
                "name": name,
                "rows": rows,
                "columns": list(KINDS),
                "cells": table.cells,
                "row_totals": table.row_totals,
                "column_totals": table.column_totals,
                "total": table.total,
            }
        )
    return {"k": k, "computed_at": computed_at, "tables": tables}


def own_stats(store: Store, gazetteer: Gazetteer, *, k: int = DEFAULT_K, now: int) -> dict:
    """This node's published tables, computed from its store now."""
    by_ref: dict[str, list[str]] = {}
    for ref, status in store.match_statuses():
        by_ref.setdefault(ref, []).append(status)
    statuses = {ref: record_status(s) for ref, s in by_ref.items()}
    return publish(categories(store.record_facts(), statuses, gazetteer), k, now)


@dataclass(frozen=True)
class Sum:
    """A network count: ``value`` is exact, or a lower bound when some nodes' parts are hidden;
    when nothing but hidden parts add up to it the count stays hidden."""

    value: int
    hidden: int  # how many nodes' counts were hidden
    parts: int

    def to_dict(self) -> dict:
        kind = "exact" if not self.hidden else "at least" if self.value else "hidden"
        return {"value": None if kind == "hidden" else self.value, "kind": kind}


def sum_published(published: list[dict]) -> dict:
    """Sum several nodes' published tables by table, row and column label."""
    tables: dict[str, dict] = {}
    for pub in published:
        for table in pub["tables"]:
            into = tables.setdefault(table["name"], {"rows": [], "columns": [], "cells": {}})
            for label in table["rows"]:
                if label not in into["rows"]:
                    into["rows"].append(label)
            for label in table["columns"]:
                if label not in into["columns"]:
                    into["columns"].append(label)
            grid = _labelled(table)
            for key, value in grid.items():
                into["cells"].setdefault(key, []).append(value)
    result = {}
    for name, t in tables.items():
        rows, cols = [*t["rows"], "total"], [*t["columns"], "total"]
        n = len(published)

        def total(parts: list[int | None], n: int = n) -> dict:
            known = [p for p in parts if p is not None]
            # A node without that row or column has a count of 0 there, exactly.
            return Sum(sum(known), len(parts) - len(known), n).to_dict()

        result[name] = {
            "rows": rows,
            "columns": cols,
            "cells": [[total(t["cells"].get((r, c), [])) for c in cols] for r in rows],
        }
    return result


def _labelled(table: dict) -> dict[tuple[str, str], int | None]:
    grid = {}
    for r, label in enumerate(table["rows"]):
        for c, column in enumerate(table["columns"]):
            grid[(label, column)] = table["cells"][r][c]
        grid[(label, "total")] = table["row_totals"][r]
    for c, column in enumerate(table["columns"]):
        grid[("total", column)] = table["column_totals"][c]
    grid[("total", "total")] = table["total"]
    return grid


def own_view(published: dict) -> dict:
    """This node's published tables in the same shape as the network view."""
    return {"nodes": ["this node"], "tables": sum_published([published])}


def network_stats(store: Store, gazetteer: Gazetteer, *, k: int = DEFAULT_K, now: int) -> dict:
    """This node's tables plus every trusted peer's latest published ones, summed."""
    peers = store.peer_published_stats()
    published = [own_stats(store, gazetteer, k=k, now=now), *(p["published"] for p in peers)]
    return {
        "nodes": ["this node", *(p["peer"] for p in peers)],
        "tables": sum_published(published),
    }


# -- sharing with peers -------------------------------------------------------------------


def digest(published: dict) -> str:
    """What changed means the tables changed; the time they were computed does not count."""
    return hashlib.sha256(
        canonical_json(published["tables"]) + str(published["k"]).encode()
    ).hexdigest()


def queue_published(
    federation: Linking, peer: Peer, gazetteer: Gazetteer
) -> tuple[list[tuple[str, str, dict]], str | None]:
    """A stats-table message when our tables changed since the last one queued for the peer."""
    published = own_stats(federation.store, gazetteer, k=federation.stats_k, now=federation.clock())
    new = digest(published)
    if federation.store.stats_sent_digest(peer.id) == new:
        return [], None
    return [(new_message_id(), "stats-table", {"published": published})], new


def apply_published(
    federation: Linking, peer: Peer, message_id: str, payload: dict, via_bundle: bool
) -> None:
    federation.store.apply_peer_stats(
        peer.id, message_id, payload["published"], federation.clock(), via_bundle
    )


def render_rows(view: dict) -> Iterable[tuple[str, list[str], list[list[str]]]]:
    """(table name, header, rows of text) for the CLI's table and CSV output."""
    for name, table in view["tables"].items():
        header = [name, *table["columns"]]
        rows = []
        for label, cells in zip(table["rows"], table["cells"], strict=True):
            rows.append([label, *(_cell_text(c) for c in cells)])
        yield name, header, rows


def _cell_text(cell: dict) -> str:
    if cell["kind"] == "hidden":
        return "-"
    if cell["kind"] == "at least":
        return f">={cell['value']}"
    return str(cell["value"])


def json_text(value: dict) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False)


__all__ = [
    "AGE_BANDS",
    "DIMENSIONS",
    "KINDS",
    "STATUSES",
    "Sum",
    "apply_published",
    "count_tables",
    "network_stats",
    "own_stats",
    "own_view",
    "publish",
    "queue_published",
    "record_status",
    "sum_published",
]
