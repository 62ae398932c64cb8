"""Directory entries: an organisation's profile, signed by its node identity key.

An entry travels from node to node unchanged, so any node can check that the profile is exactly
what the origin signed, however many peers relayed it. Wire form::

    {"profile": {…see PROFILE_FIELDS…}, "origin": key id, "version": 3,
     "signed_at": Unix seconds, "sig": base64url(Ed25519 signature)}

The signature covers ``DOMAIN`` followed by the canonical JSON of every field but ``sig``, so a
signature over an entry can never be mistaken for one over an envelope or a node document. The
origin's key is bound to the entry by the origin's self-signed node document, which travels with
it (the ``directory-entry`` message): ``verify_entry`` checks that the document is the origin's
and that the entry verifies under its key. Whether the origin is who it says it is, is decided by
the receiving node (docs/directory.md, "Trust").
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidSignature

from keys import DocumentRefused, Identity, NodeDocument, parse_signed_document, verify_self_signed

from .envelope import b64, canonical_json, unb64
from .errors import BadProfile

DOMAIN = b"tafuta-directory-entry-v1\x00"

ORGANISATION_TYPES = (
    "ngo",
    "shelter",
    "police",
    "prosecutor",
    "court",
    "government-office",
    "legal-aid",
    "health",
    "other",
)
SERVICES = (
    "shelter",
    "psychosocial-counselling",
    "legal-aid",
    "translation",
    "medical-care",
    "family-tracing",
    "return-and-reintegration",
    "hotline",
    "vocational-training",
)
PROFILE_FIELDS = (
    "name",
    "type",
    "services",
    "regions",
    "languages",
    "contact_person",
    "phone",
    "email",
    "hours",
    "last_verified",
)
REQUIRED = ("name", "type", "services", "regions", "languages", "last_verified")
MAX_TEXT = 200
MAX_REGIONS = 20
MAX_DISTRICTS = 100
MAX_LANGUAGES = 20
ENTRY_FIELDS = frozenset({"profile", "origin", "version", "signed_at", "sig"})

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,24}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_DIRECTION_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def slug(value: str) -> str:
    """'Family tracing' and 'family_tracing' both become 'family-tracing'."""
    return "-".join(value.strip().lower().replace("_", " ").replace("-", " ").split())


def _plain_text(value: Any, most: int = MAX_TEXT) -> bool:
    """One line of 1..most characters, without control or text-direction characters."""
    return (
        isinstance(value, str)
        and 0 < len(value.strip()) == len(value) <= most
        and not any(unicodedata.category(c) == "Cc" or c in _DIRECTION_CONTROLS for c in value)
    )


def profile_problems(raw: Any) -> list[str]:
    """Every problem with a profile, each one sentence; empty when the profile is valid."""
    if not isinstance(raw, dict):
        return ["a profile is an object of fields"]
    problems = [f"unknown field {k!r}" for k in sorted(set(raw) - set(PROFILE_FIELDS))]
    problems += [f"{k} is required" for k in REQUIRED if raw.get(k) in (None, "", [])]
    value = raw.get("name")
    if value not in (None, "") and not _plain_text(value):
        problems.append(f"name must be one line of 1 to {MAX_TEXT} characters")
    value = raw.get("type")
    if value not in (None, "") and value not in ORGANISATION_TYPES:
        problems.append(f"type {value!r} is not one of {', '.join(ORGANISATION_TYPES)}")
    value = raw.get("services")
    if value not in (None, []):
        if not isinstance(value, list):
            problems.append("services must be a list")
        else:
            bad = [s for s in value if s not in SERVICES]
            if bad:
                problems.append(f"unknown services {bad!r}; choose from {', '.join(SERVICES)}")
            if len(set(map(str, value))) != len(value):
                problems.append("services lists each service once")
    problems += _region_problems(raw.get("regions"))
    value = raw.get("languages")
    if value not in (None, []):
        if not isinstance(value, list) or len(value) > MAX_LANGUAGES:
            problems.append(f"languages must be a list of at most {MAX_LANGUAGES}")
        elif not all(_plain_text(v, 40) for v in value):
            problems.append("each language is a name of 1 to 40 characters")
        elif len({v.lower() for v in value}) != len(value):
            problems.append("languages lists each language once")
    for name in ("contact_person", "hours"):
        value = raw.get(name)
        if value not in (None, "") and not _plain_text(value):
            problems.append(f"{name} must be one line of 1 to {MAX_TEXT} characters")
    value = raw.get("phone")
    if value not in (None, "") and not (isinstance(value, str) and _PHONE.match(value)):
        problems.append(f"phone {value!r} is not a phone number (digits, spaces, +, -, brackets)")
    value = raw.get("email")
    if value not in (None, "") and not (
        isinstance(value, str) and len(value) <= MAX_TEXT and _EMAIL.match(value)
    ):
        problems.append(f"email {value!r} is not an e-mail address")
    if not raw.get("phone") and not raw.get("email"):
        problems.append("give a phone number or an e-mail address, or both")
    value = raw.get("last_verified")
    if value not in (None, "") and _parse_date(value) is None:
        problems.append(f"last_verified {value!r} is not a date (YYYY-MM-DD)")
    return problems


def _region_problems(value: Any) -> list[str]:
    if value in (None, []):
        return []
    if not isinstance(value, list) or len(value) > MAX_REGIONS:
        return [f"regions must be a list of at most {MAX_REGIONS}"]
    problems = []
    for region in value:
        if not isinstance(region, dict) or set(region) != {"country", "districts"}:
            problems.append("each region has exactly a country and its districts")
            continue
        country, districts = region["country"], region["districts"]
        if not isinstance(country, str) or not _COUNTRY.match(country):
            problems.append(f"country {country!r} is not a two-letter ISO code such as KE")
        if (
            not isinstance(districts, list)
            or not 1 <= len(districts) <= MAX_DISTRICTS
            or not all(_plain_text(d, 80) for d in districts)
        ):
            problems.append(
                f"the districts of {country!r} must be 1 to {MAX_DISTRICTS} names of at most 80 "
                "characters"
            )
    countries = [r.get("country") for r in value if isinstance(r, dict)]
    if len(set(map(str, countries))) != len(countries):
        problems.append("regions lists each country once")
    return problems


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def check_profile(raw: Any) -> dict[str, Any]:
    """The profile with every field present (empty optional ones as ""), or BadProfile."""
    problems = profile_problems(raw)
    if problems:
        raise BadProfile(problems)
    return {name: raw.get(name, "") or "" for name in PROFILE_FIELDS} | {
        "services": list(raw["services"]),
        "regions": [dict(r) for r in raw["regions"]],
        "languages": list(raw["languages"]),
    }


def entry_signed_bytes(entry: dict[str, Any]) -> bytes:
    """What the origin's signature covers."""
    return DOMAIN + canonical_json({k: entry[k] for k in sorted(ENTRY_FIELDS - {"sig"})})


def sign_entry(
    identity: Identity, profile: dict[str, Any], version: int, signed_at: int
) -> dict[str, Any]:
    """A signed entry for this node's profile (checked first: we never sign what we refuse)."""
    entry = {
        "profile": check_profile(profile),
        "origin": identity.key_id,
        "version": int(version),
        "signed_at": int(signed_at),
    }
    entry["sig"] = b64(identity.sign(entry_signed_bytes(entry)))
    return entry


def _canonical_base64(text: str) -> bool:
    """The one base64url encoding of its bytes (a key id has no second spelling)."""
    try:
        unb64(text)
    except ValueError:
        return False
    return True


def check_entry_shape(raw: Any) -> bool:
    """The wire schema of an entry: exact fields, a valid profile; signatures come later."""
    return (
        isinstance(raw, dict)
        and set(raw) == ENTRY_FIELDS
        and isinstance(raw["origin"], str)
        and bool(_KEY_ID.match(raw["origin"]))
        and _canonical_base64(raw["origin"])
        and type(raw["version"]) is int
        and 1 <= raw["version"] < 2**53
        and type(raw["signed_at"]) is int
        and 0 <= raw["signed_at"] < 2**40
        and isinstance(raw["sig"], str)
        and len(raw["sig"]) == 86
        and isinstance(raw["profile"], dict)
        and set(raw["profile"]) == set(PROFILE_FIELDS)
        and not profile_problems(raw["profile"])
    )


def verify_entry(entry: dict[str, Any], document: str, now: int) -> NodeDocument:
    """Check that ``document`` is the origin's valid self-signed node document and that the
    entry verifies under its key; returns the document, or raises BadProfile.

    This proves that whoever holds the origin's key made this entry, unchanged. It does not
    prove which organisation that is: only a fingerprint check by phone does (a trusted peer).
    """
    if not check_entry_shape(entry):
        raise BadProfile(["the directory entry is not well formed"])
    try:
        signed = parse_signed_document(document.encode("utf-8"))
        origin = verify_self_signed(signed, now)
    except DocumentRefused as err:
        raise BadProfile([f"the origin's node document is refused: {err}"]) from err
    if origin.key_id != entry["origin"]:
        raise BadProfile(["the node document is not the entry's origin's"])
    try:
        origin.verify_key().verify(unb64(entry["sig"]), entry_signed_bytes(entry))
    except (InvalidSignature, ValueError) as err:
        raise BadProfile(
            [f"the signature of {origin.name!r} on its directory entry does not verify"]
        ) from err
    return origin


__all__ = [
    "ORGANISATION_TYPES",
    "PROFILE_FIELDS",
    "SERVICES",
    "check_entry_shape",
    "check_profile",
    "entry_signed_bytes",
    "profile_problems",
    "sign_entry",
    "slug",
    "verify_entry",
]
