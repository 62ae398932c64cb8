"""Key values many records of one side hold that are not the person's own: set aside before
scoring.

A found register writes the shelter's or the police station's phone for everyone it took in,
so one phone number stands for dozens of people. Such a phone says nothing about who a record
is: agreeing on it is no evidence, and a missing person's family phone "differing" from it is no
evidence against — yet the scorer would count both (a true pair whose found record has the
shelter's phone looked like one whose phones really differ, which made "phone number differs"
common among matches and weak against namesakes). So a key of ``SHARED_TYPES`` held by
``SHARED_HOLDERS`` or more records of one side is dropped from that side, as if the phone were
not written. Siblings, and a person reported twice, share a family phone on two or three records;
that stays. A key that joins the phone with more (``phone_sex``) goes with it: a record whose
phone is set aside loses those too, however few records share them (four men among a shelter's
forty people would otherwise still "share a phone").

Only key types and token equality within one side are used, which both nodes see for both sides
(a peer's blinded keys arrive with their types), so both drop the same keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

from .candidates import Key

SHARED_TYPES = ("phone",)
SHARED_HOLDERS = 5
# Key types that carry a SHARED_TYPES value joined with another field: set aside with it.
CARRIED_WITH = {"phone": ("phone_sex",)}


def without_shared(
    side: Mapping[str, Collection[Key]],
    types: Collection[str] = SHARED_TYPES,
    holders: int = SHARED_HOLDERS,
) -> Mapping[str, Collection[Key]]:
    """``side`` without the keys of ``types`` that ``holders`` or more of its records hold, and
    without those records' keys of the types carried with them (CARRIED_WITH); the same mapping
    when there are none."""
    counts = Counter(key for keys in side.values() for key in set(keys) if key[0] in types)
    shared = {key for key, n in counts.items() if n >= holders}
    if not shared:
        return side
    out = {}
    for ref, keys in side.items():
        dropped = {key[0] for key in keys if key in shared}
        carried = {t for d in dropped for t in CARRIED_WITH.get(d, ())}
        out[ref] = [key for key in keys if key not in shared and key[0] not in carried]
    return out
