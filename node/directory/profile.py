"""The network directory: this node's signed organisation profile, the entries peers pass on,
and the search a caseworker (or a web page) runs over them.

Trust (docs/directory.md): every entry is checked against its origin's signature before it is
stored, and passed on unchanged. An entry whose origin is a trusted peer of ours (its key checked
by phone) is *verified*; one whose origin we do not know is shown as *relayed via* the peer that
passed it on, *not verified by us directly*: the signature proves it is unchanged since the
origin made it, not who the origin is. Entries of revoked peers are neither shown nor passed on.

Gossip: an entry replaces a stored one of the same origin only when it is newer (version, then
signing time, then signature bytes as a tie-break every node agrees on). A node queues each
version of each entry at most once per peer and never back to a peer that holds it, so every
edit crosses every link once and the flood ends.

Pure functions (``search_entries``, ``export_rows``) take what the store returned, so a page can
call ``directory_search`` and render the result.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from keys import DocumentRefused, Keyring, parse_signed_document, read_document, verify_update
from node.errors import NodeError
from node.records.exporter import guard_cell
from node.store.db import Store
from node.trust.peers import Peer
from protocol.directory import (
    ORGANISATION_TYPES,
    PROFILE_FIELDS,
    SERVICES,
    check_profile,
    profile_problems,
    sign_entry,
    slug,
    verify_entry,
)
from protocol.envelope import canonical_json, new_message_id
from protocol.errors import BadProfile

from .context import Linking
from .districts import Gazetteer, distance_km

STALE_AFTER_DAYS = 183  # six months without re-verification: flagged
CSV_COLUMNS = (*PROFILE_FIELDS, "stale", "trust", "origin")


class DirectoryError(NodeError):
    """A directory command cannot do what was asked; nothing was changed."""

    exit_code = 2


# -- this node's profile ------------------------------------------------------------------


def read_profile_file(path: Path) -> dict:
    """A profile from a TOML or JSON file (by extension), not yet validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DirectoryError(f"cannot read {path}: {err}") from err
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raise DirectoryError(f"{path}: a profile file ends in .toml or .json")
    except ValueError as err:
        raise DirectoryError(f"{path} is not valid {path.suffix[1:].upper()}: {err}") from err
    if not isinstance(raw, dict):
        raise DirectoryError(f"{path}: a profile file holds one table/object of fields")
    return raw


def parse_region(text: str) -> dict:
    """'KE:Kwale,Lunga Lunga' -> {"country": "KE", "districts": ["Kwale", "Lunga Lunga"]}."""
    country, sep, districts = text.partition(":")
    names = [d.strip() for d in districts.split(",") if d.strip()]
    if not sep or not names:
        raise DirectoryError(
            f"region {text!r} is not COUNTRY:DISTRICT[,DISTRICT…], e.g. 'KE:Kwale,Lunga Lunga'"
        )
    return {"country": country.strip().upper(), "districts": names}


def merged_profile(current: dict | None, changes: dict[str, Any]) -> dict:
    """The current profile with the given fields replaced (lists replaced whole); services and
    types are accepted as written ('Family tracing') and stored as slugs ('family-tracing')."""
    profile = dict(current or {})
    for name, value in changes.items():
        if value is None:
            continue
        profile[name] = value
    if isinstance(profile.get("type"), str):
        profile["type"] = slug(profile["type"])
    if isinstance(profile.get("services"), list):
        profile["services"] = [slug(s) if isinstance(s, str) else s for s in profile["services"]]
    return profile


def edit_profile(
    store: Store, keyring: Keyring, changes: dict[str, Any], *, now: int, today: date
) -> dict:
    """Validate the changed profile, sign it as the next version, store it; returns the entry.

    ``last_verified`` defaults to today: editing the profile is re-verifying it. Refuses (and
    changes nothing) on any problem, listing every one.
    """
    current = store.own_directory_entry()
    profile = merged_profile(json.loads(current["entry"])["profile"] if current else None, changes)
    if not changes.get("last_verified"):
        profile["last_verified"] = today.isoformat()
    problems = _profile_problems(profile, today)
    if problems:
        raise BadProfile(problems)
    version = current["version"] + 1 if current else 1
    entry = sign_entry(keyring.current, profile, version, now)
    store.save_own_entry(
        _row(entry, keyring.document.to_json().decode("ascii"), via_peer_id=None, now=now)
    )
    return entry


def _profile_problems(profile: dict, today: date) -> list[str]:
    problems = profile_problems(profile)
    verified = profile.get("last_verified")
    if not problems and date.fromisoformat(str(verified)) > today + timedelta(days=1):
        problems.append(f"last_verified {verified} is in the future")
    return problems


def _row(entry: dict, document: str, via_peer_id: int | None, now: int) -> dict:
    return {
        "origin": entry["origin"],
        "name": entry["profile"]["name"],
        "entry": canonical_json(entry).decode("ascii"),
        "document": document,
        "version": entry["version"],
        "signed_at": entry["signed_at"],
        "via_peer_id": via_peer_id,
        "received_at": now,
    }


# -- entries as a reader sees them ---------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One directory entry with what this node can say about it."""

    profile: dict
    origin: str
    origin_name: str  # the name in the origin's node document
    version: int
    signed_at: int
    signature: str
    trust: str  # own | verified | relayed
    via: str | None  # the peer that passed it on (relayed entries)
    stale: bool

    @property
    def trust_note(self) -> str:
        if self.trust == "own":
            return "this node's own entry"
        if self.trust == "verified":
            return "verified: the origin is a trusted peer of this node"
        return f"relayed via {self.via}, not verified by us directly"

    def to_dict(self) -> dict:
        return {
            **self.profile,
            "stale": self.stale,
            "trust": self.trust,
            "trust_note": self.trust_note,
            "via": self.via,
            "origin": self.origin,
            "origin_name": self.origin_name,
            "version": self.version,
            "signed_at": self.signed_at,
            "signature": self.signature,
        }


def is_stale(last_verified: str, today: date) -> bool:
    return (today - date.fromisoformat(last_verified)).days > STALE_AFTER_DAYS


def own_key_ids(identity_path: Path) -> set[str]:
    """This node's key ids (the current one and the one it rotated from): entries under them
    are its own."""
    document = read_document(identity_path).document
    return {document.key_id, *([document.previous_key_id] if document.previous_key_id else [])}


def listings(store: Store, today: date, own_key_ids: Iterable[str] = ()) -> list[Listing]:
    """Every entry this node holds and shows: revoked origins left out."""
    own = set(own_key_ids)
    peers = {row["id"]: row for row in store.iter_peers()}
    shown = []
    for row in store.directory_entries():
        entry = json.loads(row["entry"])
        origin_peer = store.peer_for_key_id(row["origin"])
        if origin_peer is not None and origin_peer["state"] == "revoked":
            continue
        if row["via_peer_id"] is None or row["origin"] in own:
            trust, via = "own", None
        elif origin_peer is not None and origin_peer["state"] == "trusted":
            trust, via = "verified", None
        else:
            trust, via = "relayed", peers[row["via_peer_id"]]["name"]
        document = parse_signed_document(row["document"].encode("utf-8")).document
        shown.append(
            Listing(
                profile=entry["profile"],
                origin=row["origin"],
                origin_name=document.name,
                version=row["version"],
                signed_at=row["signed_at"],
                signature=entry["sig"],
                trust=trust,
                via=via,
                stale=is_stale(entry["profile"]["last_verified"], today),
            )
        )
    return shown


# -- search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    listing: Listing
    rank: int  # 0: serves the district itself, 1: serves its parent (county), 2: nearby, 3: ?
    distance_km: float | None
    nearest: str | None  # the served district the distance is to

    def to_dict(self) -> dict:
        return {
            **self.listing.to_dict(),
            "match": ("district", "parent", "nearby", "unknown distance")[self.rank],
            "distance_km": None if self.distance_km is None else round(self.distance_km, 1),
            "nearest_district": self.nearest,
        }


def check_service(service: str | None) -> str | None:
    if service is None:
        return None
    if slug(service) not in SERVICES:
        raise DirectoryError(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    return slug(service)


def search_entries(
    entries: Iterable[Listing],
    gazetteer: Gazetteer,
    *,
    service: str | None = None,
    district: str | None = None,
    language: str | None = None,
) -> list[Hit]:
    """Entries offering ``service`` in ``language``, those serving ``district`` first, then
    those serving its county, then the others nearest first (unknown places last).

    ``district`` may name its county after a comma ("Lunga Lunga, Kwale"); the county helps
    where the district itself is not in the gazetteer.
    """
    service = check_service(service)
    lang = language.strip().casefold() if language else None
    parts = [p.strip() for p in (district or "").split(",") if p.strip()]
    wanted = gazetteer.key(parts[0]) if parts else None
    places = gazetteer.find(parts[0]) if parts else ()
    parents = {gazetteer.key(p) for p in parts[1:]} | {gazetteer.key(d.parent) for d in places}
    if not places:  # fall back on the county named after the comma
        places = tuple(d for p in parts[1:] for d in gazetteer.find(p))
    hits = []
    for listing in entries:
        profile = listing.profile
        if service and service not in profile["services"]:
            continue
        if lang and lang not in {x.casefold() for x in profile["languages"]}:
            continue
        if not parts:
            hits.append(Hit(listing, 0, None, None))
            continue
        best: tuple[int, float | None, str | None] = (3, None, None)
        for region in profile["regions"]:
            for name in region["districts"]:
                key = gazetteer.key(name)
                candidate: tuple[int, float | None, str | None]
                if key == wanted:
                    candidate = (0, 0.0, name)
                elif key in parents:
                    candidate = (1, None, name)
                else:
                    served = gazetteer.find(name, region["country"])
                    pairs = [(distance_km(a, b), name) for a in places for b in served]
                    if not pairs:
                        continue
                    km, _ = min(pairs)
                    candidate = (2, km, name)
                best = min(best, candidate, key=_order)
        hits.append(Hit(listing, *best))
    return sorted(
        hits, key=lambda h: (*_order((h.rank, h.distance_km, "")), h.listing.profile["name"])
    )


def _order(candidate: tuple) -> tuple:
    rank, km, _ = candidate
    return (rank, km if km is not None else float("inf"))


def directory_search(
    store: Store,
    gazetteer: Gazetteer,
    *,
    today: date,
    own_key_ids: Iterable[str] = (),
    service: str | None = None,
    district: str | None = None,
    language: str | None = None,
) -> list[dict]:
    """What a page or the CLI shows: the ranked hits as plain dicts (see Hit.to_dict)."""
    found = search_entries(
        listings(store, today, own_key_ids),
        gazetteer,
        service=service,
        district=district,
        language=language,
    )
    return [hit.to_dict() for hit in found]


# -- export for a public website ----------------------------------------------------------


def export_rows(entries: Iterable[Listing], verified_only: bool = False) -> list[dict]:
    return [e.to_dict() for e in entries if not verified_only or e.trust != "relayed"]


def export_text(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        flat["services"] = "; ".join(row["services"])
        flat["languages"] = "; ".join(row["languages"])
        flat["regions"] = "; ".join(
            f"{r['country']}: {', '.join(r['districts'])}" for r in row["regions"]
        )
        flat["stale"] = "yes" if row["stale"] else "no"
        writer.writerow({k: _csv_safe(v) for k, v in flat.items()})
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """No cell a spreadsheet would run as a formula (a phone +254… gets a leading quote)."""
    return guard_cell(value) if isinstance(value, str) else value


# -- gossip between peers -----------------------------------------------------------------


def queue_entries(federation: Linking, peer: Peer) -> list[tuple[str, str, dict]]:
    """directory-entry messages for every entry the peer does not hold at its version yet."""
    store = federation.store
    held = store.directory_sent(peer.id)
    peer_keys = {peer.document.key_id, peer.document.previous_key_id}
    messages = []
    for row in store.directory_entries():
        if row["origin"] in peer_keys or held.get(row["origin"]) == row["version"]:
            continue
        origin_peer = store.peer_for_key_id(row["origin"])
        if origin_peer is not None and origin_peer["state"] == "revoked":
            continue
        payload = {"entry": json.loads(row["entry"]), "document": row["document"]}
        messages.append((new_message_id(), "directory-entry", payload))
    return messages


def apply_entry(
    federation: Linking, peer: Peer, message_id: str, payload: dict, via_bundle: bool
) -> str:
    """Verify and store a peer's directory entry; returns what happened (for logs and tests).

    Raises BadProfile, changing nothing, if the signature or the origin's document is bad.
    """
    store, now = federation.store, federation.clock()
    entry, document = payload["entry"], payload["document"]
    origin = verify_entry(entry, document, now)
    own = {federation.keyring.key_id, *(i.key_id for i, _ in federation.keyring.retired)}
    origin_peer = store.peer_for_key_id(entry["origin"])
    outcome, row, replaces = "applied", None, []
    if entry["origin"] in own:
        outcome = "own entry, ignored"
    elif origin_peer is not None and origin_peer["state"] == "revoked":
        outcome = "revoked origin, ignored"
    else:
        current = store.directory_entry(entry["origin"])
        if current is None and origin.previous_key_id:
            earlier = store.directory_entry(origin.previous_key_id)
            if earlier is not None and _follows_on(earlier["document"], document, now):
                replaces.append(origin.previous_key_id)
        if current is not None and not _newer(entry, json.loads(current["entry"])):
            outcome = "not newer, ignored"
        else:
            row = _row(entry, document, via_peer_id=peer.id, now=now)
    store.apply_directory_entry(peer.id, message_id, now, via_bundle, row, replaces)
    return outcome


def _newer(entry: dict, current: dict) -> bool:
    key = ("version", "signed_at", "sig")
    return tuple(entry[k] for k in key) > tuple(current[k] for k in key)


def _follows_on(earlier_document: str, document: str, now: int) -> bool:
    """True if the new document is a rotation signed by the key the earlier entry was under."""
    try:
        earlier = parse_signed_document(earlier_document.encode("utf-8")).document
        verify_update(earlier, parse_signed_document(document.encode("utf-8")), now)
    except DocumentRefused:
        return False
    return True


def today_utc(now: int) -> date:
    return datetime.fromtimestamp(now, UTC).date()


__all__ = [
    "ORGANISATION_TYPES",
    "PROFILE_FIELDS",
    "SERVICES",
    "STALE_AFTER_DAYS",
    "DirectoryError",
    "Hit",
    "Listing",
    "apply_entry",
    "check_profile",
    "check_service",
    "directory_search",
    "edit_profile",
    "export_rows",
    "export_text",
    "listings",
    "merged_profile",
    "own_key_ids",
    "parse_region",
    "queue_entries",
    "read_profile_file",
    "search_entries",
]
