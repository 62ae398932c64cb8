"""Match keys: for each record a set of typed, versioned, deterministic strings such that two
records of the same person very likely share at least one key, and two different people rarely do.

A key is ``(key_type, value)``. Values are built from phonetic codes (jellyfish) of name tokens
and from tolerant forms of the other fields, so the usual errors still leave some keys equal:

* names are token *sets*: given and family swapped, or one given name missing, changes nothing;
  pairs of a given name with the father's name cover "father's name used as family name";
* birth years become two-year windows (``year_windows``): a year off by one shares a window, and
  an age on a date (two possible birth years) shares windows with either;
* day and month of a birth date are compared unordered, so a swap still agrees;
* estimated ages are often 2–4 years off: ``year_bands`` are six-year windows, two per year,
  so that birth years up to three apart always share one;
* one wrong, missing, extra or swapped letter in a name changes its Metaphone code, but not its
  *deletion neighbourhood* (the name with each letter left out in turn, as in SymSpell): two
  spellings one edit apart share a member. ``near`` keys pair each such member of one name with
  the Metaphone code of another name of the same person, and with the district, so the key stays
  as specific as a two-name key;
* a village misspelt in its vowels, doubled letters, h/w/y or l/r, k/g, b/p, d/t keeps its
  consonant ``skeleton``;
* a family phone is written on the records of brothers and sisters as well as on the missing
  person's, so ``phone_sex`` joins the phone with the recorded sex: with ``phone`` agreeing and
  it differing, the two records share a phone but not a sex — a sibling, not the person.

``KEY_TYPES`` is the key set in use, chosen from data (docs/matching.md, with the figures, and
benchmarks/key_selection.py to measure them again); ``CANDIDATE_KEY_TYPES`` are all key types the
measurement compares. Any change to what a key type computes must bump ``KEYSET_VERSION``: both
nodes must compute keys identically or their keys never meet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations

import jellyfish

from .errors import KeySetError
from .normalise import Birth, Person

KEYSET_VERSION = 4

Encoder = Callable[[str], str]
ENCODERS: dict[str, Encoder] = {
    "sdx": jellyfish.soundex,
    "mph": jellyfish.metaphone,
    "nys": jellyfish.nysiis,
    "mrc": jellyfish.match_rating_codex,
}

KeyFunction = Callable[["_Parts"], Iterable[str]]


def year_windows(birth: Birth | None) -> list[str]:
    """Two-year windows holding any possible birth year; years one apart share a window."""
    if birth is None:
        return []
    windows: set[str] = set()
    for year in range(birth.year_lo, birth.year_hi + 1):
        windows.add(f"e{year // 2}")  # {2k, 2k+1}
        windows.add(f"o{(year + 1) // 2}")  # {2k-1, 2k}
    return sorted(windows)


def year_bands(birth: Birth | None) -> list[str]:
    """Six-year windows, two per year (offset by three): years up to three apart always share
    one, years six or more apart never do."""
    if birth is None:
        return []
    bands: set[str] = set()
    for year in range(birth.year_lo, birth.year_hi + 1):
        bands.add(f"a{year // 6}")
        bands.add(f"b{(year + 3) // 6}")
    return sorted(bands)


# Letters registers confuse when writing a sound (l/r, c/k/q/g, b/p, d/t, v/f, z/s, x/k).
_SKELETON_MAP = str.maketrans("clqgpbtdvzx", "krkkbbddfsk")


def skeleton(word: str) -> str:
    """The consonants of a folded word, sound-alike letters merged, h/w/y and repeats dropped:
    "Shimba Hills" and "Shiimba Hils" give the same skeleton."""
    out: list[str] = []
    for ch in word.translate(_SKELETON_MAP):
        if ch in "aeiouhwy " or (out and out[-1] == ch):
            continue
        out.append(ch)
    return "".join(out)


def deletions(word: str) -> list[str]:
    """The word and the word with each one letter left out: two words one substitution,
    insertion, deletion or transposition apart share a member. Words under four letters keep
    only themselves (their neighbours would be two letters, met by chance)."""
    if len(word) < 4:
        return [word]
    return sorted({word} | {word[:i] + word[i + 1 :] for i in range(len(word))})


def years(birth: Birth | None) -> list[str]:
    if birth is None:
        return []
    return [str(y) for y in range(birth.year_lo, birth.year_hi + 1)]


def full_date(birth: Birth | None) -> list[str]:
    """Year with day and month unordered; empty unless the whole date is known."""
    day_month = birth.day_month() if birth is not None else None
    if birth is None or day_month is None:
        return []
    low, high = day_month
    return [f"{birth.year_lo}-{low:02d}-{high:02d}"]


def _codes(tokens: Iterable[str], encode: Callable[[str], str]) -> list[str]:
    return sorted({code for t in tokens if (code := encode(t))})


def _name_pairs(person: Person, encode: Callable[[str], str]) -> list[str]:
    """Unordered pairs of name sounds, plus each given name with each of the father's names;
    the one sound itself when a person has only one."""
    own = _codes(person.names, encode)
    # A person known by one name sound ("Saidi", "Nganga Ng'ang'a") still gets name keys.
    pairs = {f"{a}+{b}" for a, b in combinations(own, 2)} if len(own) > 1 else set(own)
    for g in _codes(person.given + person.other, encode):
        for f in _codes(person.father, encode):
            if g != f:
                pairs.add("+".join(sorted((g, f))))
    return sorted(pairs)


# Names (given, then family, then aliases) whose deletion neighbourhoods make ``near`` keys: a
# name's neighbourhood has one key per letter, so more names would multiply keys per record.
NEAR_NAMES = 3
# The protocol's bound (protocol/messages.py MAX_KEYS_PER_RECORD): a record with many names and
# aliases keeps its keys in KEY_TYPES order up to it, the same on every node.
MAX_KEYS = 256


def _near_pairs(person: Person, encode: Callable[[str], str]) -> list[str]:
    """Each member of one name's deletion neighbourhood with another name's sound: a name one
    letter off still meets when another name sounds the same."""
    tokens = person.names[:NEAR_NAMES]
    out: set[str] = set()
    for a in tokens:
        near = deletions(a)
        for b in tokens:
            code = encode(b) if b != a else ""
            if code:
                out.update(f"{v}~{code}" for v in near)
    return sorted(out)


def _combine(*parts: list[str]) -> list[str]:
    out = [""]
    for part in parts:
        if not part:
            return []
        out = [f"{a}|{b}" if a else b for a in out for b in part]
    return out


def _joined(*parts: Callable[[_Parts], list[str]]) -> KeyFunction:
    """The key function whose keys join one key of each part (``fam_x_yw``: family code and
    year window)."""
    return lambda p: _combine(*(part(p) for part in parts))


def _one(value: str | None) -> list[str]:
    return [value] if value else []


def _family_prefix(person: Person) -> list[str]:
    return sorted({t[:2] for t in person.family})


class _Parts:
    """One record's key parts (name sounds, year windows, …), each computed once however many
    key types use it: 100,000 records × a dozen key types is where key generation spends its
    time otherwise."""

    def __init__(self, person: Person):
        self.person = person
        self._memo: dict[tuple[str, str], list[str]] = {}

    def get(self, part: str, tag: str, compute: Callable[[Person], list[str]]) -> list[str]:
        key = (part, tag)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = compute(self.person)
        return found


def _candidate_functions() -> dict[str, KeyFunction]:
    def windows(p: _Parts) -> list[str]:
        return p.get("yw", "", lambda x: year_windows(x.birth))

    def yrs(p: _Parts) -> list[str]:
        return p.get("yr", "", lambda x: years(x.birth))

    def dob(p: _Parts) -> list[str]:
        return p.get("dob", "", lambda x: full_date(x.birth))

    def bands(p: _Parts) -> list[str]:
        return p.get("y6", "", lambda x: year_bands(x.birth))

    def place(p: _Parts) -> list[str]:
        return _one(p.person.place)

    def village_skeleton(p: _Parts) -> list[str]:
        return _one(skeleton(p.person.place)) if p.person.place else []

    def dist(p: _Parts) -> list[str]:
        return _one(p.person.district)

    def sex(p: _Parts) -> list[str]:
        return _one(p.person.sex)

    def phone(p: _Parts) -> list[str]:
        return _one(p.person.phone)

    functions: dict[str, KeyFunction] = {"phone": phone, "phone_sex": _joined(phone, sex)}
    functions["dob_place"] = _joined(dob, place)
    functions["dob_dist"] = _joined(dob, dist)
    for tag, enc in ENCODERS.items():

        def fam(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("fam", tag, lambda x: _codes(x.family, enc))

        def nam(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("nam", tag, lambda x: _codes(x.names, enc))

        def given(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("gvn", tag, lambda x: _codes(x.given + x.other, enc))

        def pair(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("pair", tag, lambda x: _name_pairs(x, enc))

        def mother(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("mother", tag, lambda x: _codes(x.mother[:1], enc))

        def prefix(p: _Parts) -> list[str]:
            return p.get("fp2", "", _family_prefix)

        functions[f"fam_{tag}_yw"] = _joined(fam, windows)
        functions[f"fam_{tag}_yr"] = _joined(fam, yrs)
        functions[f"nam_{tag}_yw"] = _joined(nam, windows)
        functions[f"nam_{tag}_yr"] = _joined(nam, yrs)
        functions[f"nam_{tag}_dob"] = _joined(nam, dob)
        functions[f"nam_{tag}_place"] = _joined(nam, place)
        functions[f"nam_{tag}_place_yw"] = _joined(nam, place, windows)
        functions[f"pair_{tag}_mother"] = _joined(pair, mother)
        functions[f"pair_{tag}"] = pair
        functions[f"pair_{tag}_yw"] = _joined(pair, windows)
        functions[f"pair_{tag}_dist"] = _joined(pair, dist)
        functions[f"gvn_{tag}_fp2_dist"] = _joined(given, prefix, dist)
        functions[f"gvn_{tag}_mother"] = _joined(given, mother)
        functions[f"pair_{tag}_place"] = _joined(pair, place)
        functions[f"fam_{tag}_dist"] = _joined(fam, dist)

        def near(p: _Parts, tag: str = tag, enc: Encoder = enc) -> list[str]:
            return p.get("near", tag, lambda x: _near_pairs(x, enc))

        functions[f"pair_{tag}_y6"] = _joined(pair, bands)
        functions[f"pair_{tag}_vsk"] = _joined(pair, village_skeleton)
        functions[f"near_{tag}_dist"] = _joined(near, dist)
        functions[f"near_{tag}_place"] = _joined(near, place)
    return functions


KEY_FUNCTIONS: dict[str, KeyFunction] = _candidate_functions()
CANDIDATE_KEY_TYPES: tuple[str, ...] = tuple(sorted(KEY_FUNCTIONS))

# The key set in use (KEYSET_VERSION 4): version 2's, chosen by benchmarks/key_selection.py (see
# docs/matching.md), plus three for the errors of East-African registers (issue 11): name pairs
# with six-year bands (estimated ages), a name one letter off with another name's sound and the
# district, and name pairs with the village's skeleton (version 3); and the phone with the sex,
# which tells a sibling sharing the family phone from the person (version 4). Every name
# component is built on Metaphone, so the scorer can tell from agreeing and differing key types
# which field agrees and which differs (matching/fields.py).
KEY_TYPES: tuple[str, ...] = (
    "pair_mph_yw",
    "pair_mph_y6",
    "near_mph_dist",
    "pair_mph_vsk",
    "pair_mph_dist",
    "pair_mph_place",
    "pair_mph_mother",
    "nam_mph_place",
    "nam_mph_dob",
    "dob_dist",
    "dob_place",
    "phone",
    "phone_sex",
)


def match_keys(person: Person, key_types: Iterable[str] = KEY_TYPES) -> list[tuple[str, str]]:
    """The record's keys as sorted, unique (key_type, value) pairs; at most MAX_KEYS, taken
    in ``key_types`` order."""
    keys: dict[tuple[str, str], None] = {}
    parts = _Parts(person)
    for key_type in key_types:
        function = KEY_FUNCTIONS.get(key_type)
        if function is None:
            raise KeySetError(f"unknown match key type {key_type!r}")
        for value in sorted(set(function(parts))):
            if len(keys) < MAX_KEYS:
                keys[(key_type, value)] = None
    return sorted(keys)
