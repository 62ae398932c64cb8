"""Key types and comparison levels in words a caseworker understands.

A score alone says nothing a caseworker can check; "family name sounds the same and birth year
within a year; same home district; mother's name differs" tells them what to look at in their own
record. Phrases are built from the parts of a key type's name, so a new key type is described
without new code as long as it is made of known parts.
"""

from __future__ import annotations

from .errors import KeySetError

_NAMES = {
    "fam": ("family name sounds the same", "family name"),
    "nam": ("a name sounds the same", "names"),
    "pair": ("two names sound the same, in any order", "names"),
    "gvn": ("given name sounds the same", "given name"),
}
_PARTS = {
    "yw": ("birth year within a year", "birth year"),
    "yr": ("same birth year", "birth year"),
    "dob": ("same birth date", "birth date"),
    "place": ("same home village", "home village"),
    "dist": ("same home district", "home district"),
    "fp2": ("family name starts alike", "family name"),
    "mother": ("mother's name sounds the same", "mother's name"),
}
_SPECIAL = {
    "phone": (("same phone number", "phone number"),),
    "dob_place": (("same birth date", "birth date"), ("same home village", "home village")),
    "dob_dist": (("same birth date", "birth date"), ("same home district", "home district")),
}


def key_type_facts(key_type: str) -> tuple[tuple[str, str], ...]:
    """What agreement on one key type establishes: (fact in words, the field it is about)."""
    if key_type in _SPECIAL:
        return _SPECIAL[key_type]
    head, _encoder, *rest = [*key_type.split("_"), ""]
    rest = [part for part in rest if part]
    if head not in _NAMES or any(part not in _PARTS for part in rest):
        raise KeySetError(f"no words for match key type {key_type!r}")
    return (_NAMES[head], *(_PARTS[p] for p in rest))


def explain(agreeing: list[str], differing: list[str]) -> str:
    """Caseworker words for a pair: facts of the agreeing key types (strongest first, each
    once), then the fields of the differing key types that no agreeing key vouches for."""
    facts: list[str] = []
    established: set[str] = set()
    for key_type in agreeing:
        for fact, field in key_type_facts(key_type):
            if field not in established:
                facts.append(fact)
                established.add(field)
    for key_type in differing:
        fields = [f for _, f in key_type_facts(key_type) if f not in established]
        if fields:
            text = " or ".join(dict.fromkeys(fields))
            facts.append(f"{text} {'differ' if text.endswith('names') else 'differs'}")
    return "; ".join(dict.fromkeys(facts)) or "no evidence"
