"""A development benchmark set: East-African missing lists against found registers (issue 11).

Unlike ``matching/synthetic.py`` (a fixture for tests and the demo, where namesakes are identical
in every field), this generator is built so that a careful linker *can* tell people apart, as in
the field: namesakes share names but not parents, phone and exact birth date; siblings share
family, parents, village and phone but not given names and birth year. What makes it hard is the
error model, written down with its rates and sources in docs/benchmarks.md § "The East-African
development set". The rates live in ``MISSING`` and ``FOUND`` below and nowhere else.

* **People.** Names come from matching/data/synthetic_groups.txt (the common head, ranked) with a
  generated long tail of rarer names per tradition, drawn by rank with Zipf weights; a Christian
  or Muslim name beside a traditional one; Somali-style traditions use the father's name as
  family name. Birth dates follow the ages of identified victims (mostly 12–30).
* **Missing lists** (rural, reported by families): full names, an exact birth date, village,
  district, parents, the family's phone. Some people are reported twice (two relatives report),
  which gives duplicates inside the list.
* **Found registers** (urban shelters, police): names as the person gave them, an estimated age
  heaped at multiples of five, often no district, few parents or phones, sparse records.

``generate(n_missing, n_found, seed)`` is a pure function of its arguments.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from matching.synthetic import load_bank

REFERENCE_DATE = date(2025, 6, 30)
FIELDS = (
    "ref", "kind", "given_names", "family_name", "other_names", "sex", "birth_date", "age",
    "age_on", "origin_place", "origin_district", "origin_country", "mother_name", "father_name",
    "last_seen_date", "last_seen_place", "phone", "languages", "notes",
)  # fmt: skip
FOUND_PLACES = ("Nairobi", "Mombasa", "Eastleigh", "Kampala", "Dar es Salaam", "Malindi",
                "Nakuru", "Kisumu", "Thika", "Arusha", "Mtwapa", "Busia", "Namanga")  # fmt: skip
SHELTER_PHONES = ("0722 000 111", "+254 733 200 300", "0709 555 010", "+256 772 100 200")
# Keyboard neighbours (QWERTY) and sound-alike letters: what a clerk types or hears wrongly.
KEYBOARD = {
    "a": "sqz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "r": "et", "s": "ad", "t": "ry", "u": "yi", "w": "qe", "y": "tu", "z": "x",
}  # fmt: skip
SOUNDS = {"l": "r", "r": "l", "i": "e", "e": "i", "o": "u", "u": "o", "k": "c", "c": "k",
          "b": "p", "p": "b", "d": "t", "t": "d", "g": "k", "v": "f", "f": "v",
          "s": "z"}  # fmt: skip
CONSONANTS = ("k", "m", "n", "w", "ng", "ny", "mb", "nd", "ch", "s", "t", "r", "l", "j", "g",
              "b", "d", "h", "y", "sh", "dh", "mw", "nj", "kh")  # fmt: skip
VOWELS = "aaaeiioouu"


@dataclass(frozen=True)
class Errors:
    """How one kind of list writes a person; each number is a probability (docs/benchmarks.md)."""

    typo: float  # per name token: one edit (substitution, transposition, insertion, deletion…)
    variant: float  # per name token with known spellings: another spelling / transliteration
    swap: float  # given and family written the other way round
    drop_given: float  # one of two given names left out
    father_as_family: float  # the father's given name written as family name
    nickname: float  # a nickname instead of a given name
    birth_exact: float  # an exact birth date (else an estimated age, or nothing)
    birth_age: float  # an estimated age on the record's date
    year_off: float  # a written birth year one off (memory of the reporter)
    day_month_swap: float
    village: float  # the village is written
    village_typo: float  # of written villages: misspelt
    district: float  # the district is written
    mother: float
    father: float
    phone: float  # the family's phone is written
    phone_digit: float  # of written phones: one digit wrong
    shelter_phone: float  # the shelter's own phone instead (shared by many records)
    sparse: float  # only names, sex and an age: a record taken in a hurry


MISSING = Errors(typo=0.04, variant=0.15, swap=0.03, drop_given=0.10, father_as_family=0.02,
                 nickname=0.02, birth_exact=0.85, birth_age=0.08, year_off=0.03,
                 day_month_swap=0.03, village=0.95, village_typo=0.04, district=0.95,
                 mother=0.75, father=0.70, phone=0.85, phone_digit=0.02, shelter_phone=0.0,
                 sparse=0.0)  # fmt: skip
FOUND = Errors(typo=0.05, variant=0.20, swap=0.03, drop_given=0.12, father_as_family=0.03,
               nickname=0.03, birth_exact=0.15, birth_age=0.80, year_off=0.0,
               day_month_swap=0.05, village=0.85, village_typo=0.12, district=0.80,
               mother=0.40, father=0.40, phone=0.40, phone_digit=0.05, shelter_phone=0.08,
               sparse=0.02)  # fmt: skip
# Estimated ages: how far off (years) with what probability, then heaping at multiples of five.
AGE_OFF = ((0, 0.50), (1, 0.30), (2, 0.12), (3, 0.05), (4, 0.03))
AGE_HEAPED = 0.25
# Who is on which list.
OVERLAP = 0.40  # share of found people who are on the missing list
DUP_MISSING = 0.04  # people reported twice on the missing lists
DUP_FOUND = 0.015  # people registered twice in the found registers
SIBLINGS = 0.03  # share of people with a brother or sister on the lists too
NAMESAKES = 0.02  # found people planted as namesakes of a missing person
ZIPF = 0.9
TAIL_FAMILY, TAIL_GIVEN, TAIL_VILLAGES = 1500, 400, 12


class _Zipf:
    def __init__(self, items, s: float = ZIPF):
        self.items = tuple(items)
        self.cum, total = [], 0.0
        for rank in range(len(self.items)):
            total += 1.0 / (rank + 1) ** s
            self.cum.append(total)
        self.total = total

    def __call__(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def _made_up(rng: random.Random, syllables: tuple[int, int], prefix: str = "") -> str:
    """A plausible rare name: consonant-vowel syllables, as Bantu and Nilotic names are built."""
    n = rng.randint(*syllables)
    word = prefix + "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(n))
    return word.capitalize()


@dataclass
class _Person:
    tradition: object
    sex: str
    given: tuple[str, ...]  # (religious?, traditional)
    family: str
    father: tuple[str, str]
    mother: tuple[str, str]
    birth: date
    district: str
    village: str
    phone: str
    found_on: date = field(default=REFERENCE_DATE)


class _Bank:
    """Name and place pickers: the bank's names first (common), then a generated rarer tail."""

    def __init__(self, rng: random.Random):
        bank = self.bank = load_bank()
        weights = [t.weight for t in bank.traditions]
        self.traditions = bank.traditions
        self.cum = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.pick: dict[tuple[str, str], _Zipf] = {}
        for faith in ("muslim", "christian"):
            for sex in ("female", "male"):
                self.pick[faith, sex] = _Zipf(bank.religious[f"{faith}.{sex}"])
        self.villages: dict[str, _Zipf] = {}
        for t in bank.traditions:
            lead = {"luo": ("O", "A")}.get(t.name, ("", ""))
            if t.family:
                tail = [_made_up(rng, (2, 3)) for _ in range(TAIL_FAMILY)]
                self.pick[t.name, "family"] = _Zipf(t.family + tuple(tail))
            for sex, first in (("male", lead[0]), ("female", lead[1])):
                tail = [_made_up(rng, (2, 3), first.lower()) for _ in range(TAIL_GIVEN)]
                self.pick[t.name, sex] = _Zipf(getattr(t, sex) + tuple(tail))
            self.pick[t.name, "district"] = _Zipf([d for d, _ in t.districts], s=0.6)
            for district, villages in t.districts:
                tail = [_made_up(rng, (2, 3)) for _ in range(TAIL_VILLAGES)]
                self.villages[district] = _Zipf(villages + tuple(tail), s=0.8)

    def tradition(self, rng):
        return self.traditions[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]

    def given(self, rng, t, sex: str) -> tuple[str, ...]:
        part = "female" if sex == "F" else "male"
        own = self.pick[t.name, part](rng)
        if rng.random() < 0.7:  # a Christian or Muslim name beside the traditional one
            faith = "muslim" if rng.random() < t.muslim else "christian"
            religious = self.pick[faith, part](rng)
            if religious != own:
                return (religious, own)
        return (own,)

    def family(self, rng, t) -> str:
        if t.father_naming:
            return self.pick[t.name, "male"](rng)
        return self.pick[t.name, "family"](rng)

    def person(self, rng: random.Random) -> _Person:
        t = self.tradition(rng)
        sex = "F" if rng.random() < 0.62 else "M"  # most identified victims are women and girls
        father = (self.given(rng, t, "M")[-1], self.family(rng, t))
        family = father[0] if t.father_naming else father[1]
        mother = (self.given(rng, t, "F")[0], self.family(rng, t))
        district = self.pick[t.name, "district"](rng)
        age = min(45, max(6, int(rng.lognormvariate(2.95, 0.3))))
        birth = REFERENCE_DATE - timedelta(days=age * 365 + rng.randrange(365) + 200)
        phone = f"7{rng.randrange(10_000_000, 99_999_999)}"
        return _Person(t, sex, self.given(rng, t, sex), family, father, mother, birth, district,
                       self.villages[district](rng), phone)  # fmt: skip

    def sibling(self, rng, of: _Person) -> _Person:
        """Same family, parents, village and phone; other given names, born 1–8 years apart."""
        p = self.person(rng)
        given = self.given(rng, of.tradition, p.sex)
        while set(given) & set(of.given):  # parents do not give two children one name
            given = self.given(rng, of.tradition, p.sex)
        gap = rng.choice((-1, 1)) * (rng.randint(1, 8) * 365 + rng.randrange(-100, 100))
        birth = of.birth + timedelta(days=gap)
        return _Person(of.tradition, p.sex, given, of.family, of.father, of.mother, birth,
                       of.district, of.village, of.phone)  # fmt: skip

    def namesake(self, rng, of: _Person) -> _Person:
        """Same names; other parents and phone; same district half the time; born 0–8 years
        apart: what tells real namesakes apart."""
        p = self.person(rng)
        district = of.district if rng.random() < 0.5 else p.district
        village = self.villages[district](rng) if district in self.villages else p.village
        birth = of.birth + timedelta(days=rng.randint(-8, 8) * 365 + rng.randrange(-180, 180))
        return _Person(of.tradition, of.sex, of.given, of.family, (of.family, p.father[1])
                       if of.tradition.father_naming else p.father, p.mother, birth, district,
                       village, p.phone)  # fmt: skip


# --- writing a person down --------------------------------------------------------------------


def typo(rng: random.Random, word: str) -> tuple[str, str]:
    """One clerical error in a word, and its kind."""
    if len(word) < 3:
        return word, ""
    i = rng.randrange(len(word))
    c = word[i].lower()
    kind = rng.choices(
        ("substitution", "keyboard", "phonetic", "transposition", "insertion", "deletion",
         "doubled"), (0.15, 0.15, 0.15, 0.15, 0.1, 0.2, 0.1))[0]  # fmt: skip
    if kind == "keyboard" and c in KEYBOARD:
        new = rng.choice(KEYBOARD[c])
    elif kind == "phonetic" and c in SOUNDS:
        new = SOUNDS[c]
    elif kind == "transposition" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :], kind
    elif kind == "insertion":
        return word[:i] + rng.choice("aeioumnkr") + word[i:], kind
    elif kind == "deletion":
        return word[:i] + word[i + 1 :], kind
    elif kind == "doubled":
        return word[:i] + word[i] + word[i:], kind
    else:
        kind, new = "substitution", rng.choice("abcdefghijklmnoprstuwy".replace(c, ""))
    new = new.upper() if word[i].isupper() else new
    return word[:i] + new + word[i + 1 :], kind


class _Writer:
    def __init__(self, bank: _Bank, errors: Errors, kind: str, rng: random.Random):
        self.bank, self.e, self.kind, self.rng = bank, errors, kind, rng

    def word(self, w: str, labels: list[str]) -> str:
        rng, e = self.rng, self.e
        others = self.bank.bank.variants.get(w)
        if others and rng.random() < e.variant:
            w = rng.choice(others)
            labels.append("variant")
        if rng.random() < e.typo:
            w, kind = typo(rng, w)
            labels.append(f"typo:{kind}")
        return w

    def place(self, w: str, labels: list[str], label: str) -> str:
        others = self.bank.bank.variants.get(w)
        if self.rng.random() < self.e.village_typo:
            if others and self.rng.random() < 0.4:
                w = self.rng.choice(others)
            else:
                w = typo(self.rng, w)[0]
            labels.append(label)
        return w

    def write(self, p: _Person, ref: str, labels: list[str]) -> dict:
        rng, e = self.rng, self.e
        given = list(p.given)
        if len(given) > 1 and rng.random() < e.drop_given:
            given.pop(rng.randrange(2))
            labels.append("dropped given name")
        if rng.random() < e.nickname:
            nick = self.bank.bank.nicknames.get(given[0])
            if nick:
                given[0] = rng.choice(nick)
                labels.append("nickname")
        family = p.family
        if not p.tradition.father_naming and rng.random() < e.father_as_family:
            family = p.father[0]
            labels.append("father's name as family name")
        given = [self.word(g, labels) for g in given]
        family = self.word(family, labels)
        if rng.random() < e.swap:
            given, family = [family], " ".join(given)
            labels.append("given/family swapped")
        record = dict.fromkeys(FIELDS, "")
        record.update(ref=ref, kind=self.kind, given_names=" ".join(given), family_name=family,
                      sex=p.sex if rng.random() < 0.97 else "")  # fmt: skip
        self.birth(p, record, labels)
        sparse = rng.random() < e.sparse
        if sparse:
            labels.append("sparse")
            return record
        if rng.random() < e.village:
            record["origin_place"] = self.place(p.village, labels, "misspelt village")
        if rng.random() < e.district:
            record["origin_district"] = p.district
            record["origin_country"] = p.tradition.country
        else:
            labels.append("no district")
        if rng.random() < e.mother:
            record["mother_name"] = " ".join(self.word(w, labels) for w in p.mother)
        if rng.random() < e.father:
            record["father_name"] = " ".join(self.word(w, labels) for w in p.father)
        if rng.random() < e.phone:
            phone = p.phone
            if rng.random() < e.phone_digit:
                i = rng.randrange(1, 9)
                phone = phone[:i] + str(rng.randrange(10)) + phone[i + 1 :]
                labels.append("phone digit wrong")
            code = p.tradition.phone_code
            record["phone"] = f"0{phone}" if rng.random() < 0.6 else f"+{code} {phone}"
        elif rng.random() < e.shelter_phone:
            record["phone"] = rng.choice(SHELTER_PHONES)
        if self.kind == "found":
            record["last_seen_date"] = p.found_on.isoformat()
            record["last_seen_place"] = rng.choice(FOUND_PLACES)
        return record

    def birth(self, p: _Person, record: dict, labels: list[str]) -> None:
        rng, e = self.rng, self.e
        r = rng.random()
        if r < e.birth_exact:
            year, month, day = p.birth.year, p.birth.month, p.birth.day
            if rng.random() < e.year_off:
                year += rng.choice((-1, 1))
                labels.append("birth year off")
            if day <= 12 and rng.random() < e.day_month_swap:
                month, day = day, month
                labels.append("day/month swapped")
            record["birth_date"] = f"{year:04d}-{month:02d}-{day:02d}"
        elif r < e.birth_exact + e.birth_age:
            age = (p.found_on - p.birth).days // 365
            off = rng.choices([o for o, _ in AGE_OFF], [w for _, w in AGE_OFF])[0]
            age += rng.choice((-1, 1)) * off
            if rng.random() < AGE_HEAPED:
                age = 5 * round(age / 5)
                labels.append("age heaped")
            if off:
                labels.append(f"age off by {off}")
            record["age"] = str(max(age, 1))
            record["age_on"] = p.found_on.isoformat()
        else:
            labels.append("no birth")


@dataclass
class Dataset:
    missing: list[dict]
    found: list[dict]
    true_pairs: set[tuple[str, str]]  # (missing ref, found ref)
    duplicates: set[tuple[str, str]]  # within one list, smaller ref first
    messiness: dict[str, list[str]]
    hard_negatives: dict[str, tuple[str, str]]  # found ref -> (namesake or sibling, missing ref)


def generate(n_missing: int, n_found: int, seed: int = 1) -> Dataset:
    """Missing lists of about ``n_missing`` records and found registers of about ``n_found``."""
    rng = random.Random(seed)
    bank = _Bank(random.Random(seed + 1_000_003))
    people: list[_Person] = []
    while len(people) < n_missing / (1 + DUP_MISSING):
        p = bank.person(rng)
        people.append(p)
        if rng.random() < SIBLINGS:
            people.append(bank.sibling(rng, p))
    found_people: list[tuple[_Person, str]] = []
    n_found_people = int(n_found / (1 + DUP_FOUND))
    shared = rng.sample(range(len(people)), min(len(people), int(OVERLAP * n_found_people)))
    found_people = [(people[i], "same", None) for i in shared]
    while len(found_people) < n_found_people:
        r = rng.random()
        of = rng.choice(people)
        if r < NAMESAKES:
            found_people.append((bank.namesake(rng, of), "namesake", of))
        elif r < NAMESAKES + SIBLINGS / 2:
            found_people.append((bank.sibling(rng, of), "sibling", of))
        else:
            found_people.append((bank.person(rng), "other", None))
    rng.shuffle(found_people)
    for p, _, _ in found_people:
        p.found_on = REFERENCE_DATE - timedelta(days=rng.randrange(30, 900))

    messiness: dict[str, list[str]] = {}
    duplicates: set[tuple[str, str]] = set()
    refs_of: dict[int, list[str]] = {}
    missing: list[dict] = []
    writer = _Writer(bank, MISSING, "missing", rng)
    for p in people:
        copies = 2 if rng.random() < DUP_MISSING else 1
        for _ in range(copies):
            ref = f"M{len(missing) + 1:06d}"
            labels = messiness.setdefault(ref, [])
            missing.append(writer.write(p, ref, labels))
            refs_of.setdefault(id(p), []).append(ref)
        if copies == 2:
            duplicates.add(tuple(sorted(refs_of[id(p)][-2:])))
    found: list[dict] = []
    true_pairs: set[tuple[str, str]] = set()
    writer = _Writer(bank, FOUND, "found", rng)
    hard_negatives: dict[str, tuple[str, str]] = {}
    for p, how, of in found_people:
        copies = 2 if rng.random() < DUP_FOUND else 1
        refs = []
        for _ in range(copies):
            ref = f"F{len(found) + 1:06d}"
            labels = messiness.setdefault(ref, [])
            if how != "same":
                labels.append(how)
            if of is not None:
                hard_negatives[ref] = (how, refs_of[id(of)][0])
            found.append(writer.write(p, ref, labels))
            refs.append(ref)
            if how == "same":
                true_pairs.update((m, ref) for m in refs_of[id(p)])
        if copies == 2:
            duplicates.add(tuple(sorted(refs)))
    return Dataset(missing, found, true_pairs, duplicates, messiness, hard_negatives)
