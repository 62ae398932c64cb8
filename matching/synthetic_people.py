"""Drawing the people of the synthetic registers (synthetic.py): who they are before any register
writes them down — names by Zipf rank from a naming tradition, sex, birth date, home district
and village, parents and a family phone — and the one-letter typos registers make."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Generic, NamedTuple, TypeVar

from .namebank import NameBank, Tradition

T = TypeVar("T")

# Every date the generator writes is on or before this day, so that runs are reproducible and
# every record passes node.canonical.clean_record on any later day.
REFERENCE_DATE = date(2025, 6, 30)
NEIGHBOUR_LETTERS = "aeiou" * 2 + "bcdfghjklmnprstwy"


def below(rng: random.Random, n: int) -> int:
    """A whole number in [0, n); a third of the cost of rng.randrange in this hot loop."""
    return int(rng.random() * n)


def choice(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


class Picker(Generic[T]):
    """Draws from a list by Zipf rank weights (1/rank^s) or given weights, with one rng.random()."""

    def __init__(
        self, items: Iterable[T], weights: Sequence[float] | None = None, s: float = 0.9
    ) -> None:
        self.items = tuple(items)
        ws = weights or [1.0 / (rank + 1) ** s for rank in range(len(self.items))]
        total, self.cum = 0.0, list[float]()
        for w in ws:
            total += w
            self.cum.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


class Person(NamedTuple):
    tradition: Tradition
    sex: str
    given: tuple[str, ...]
    family: str
    father_given: str
    father_family: str  # the father's own family name (or his father's name)
    mother: tuple[str, str]
    birth: date
    district: str
    village: str
    phone: str  # national number without the leading 0, 9 digits
    languages: str
    missing_since: date


@dataclass
class Draw:
    """The pickers for one bank, built once per run (kept out of module state on purpose)."""

    bank: NameBank
    tradition: Picker[Tradition] = field(init=False)
    names: dict[tuple[str, ...], Picker[str]] = field(init=False)
    villages: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.tradition = Picker(self.bank.traditions, [t.weight for t in self.bank.traditions])
        # Keyed by (tradition or faith, part) tuples: this runs a million times per 100k records.
        self.names = {
            tuple(key.split(".")): Picker(names) for key, names in self.bank.religious.items()
        }
        self.villages = {d: v for t in self.bank.traditions for d, v in t.districts}
        for t in self.bank.traditions:
            for part in ("family", "female", "male"):
                if getattr(t, part):
                    self.names[t.name, part] = Picker(getattr(t, part))
            self.names[t.name, "district"] = Picker([d for d, _ in t.districts], s=0.5)

    def first(self, rng: random.Random, t: Tradition, part: str) -> str:
        """One given name: Muslim or Christian by the tradition's share."""
        return self.names["muslim" if rng.random() < t.muslim else "christian", part](rng)

    def given(self, rng: random.Random, t: Tradition, sex: str) -> tuple[str, ...]:
        """One to three given names: a religious one, then mostly the tradition's own."""
        part = "female" if sex == "F" else "male"
        first = self.first(rng, t, part)
        r = rng.random()
        if r < 0.4:
            return (first,)
        second = self.first(rng, t, part) if t.father_naming else self.names[t.name, part](rng)
        if second == first:
            return (first,)
        if r < 0.9:
            return (first, second)
        third = self.names[t.name, part](rng)
        return (first, second) if third in (first, second) else (first, second, third)

    def family(self, rng: random.Random, t: Tradition) -> str:
        if t.father_naming:
            return (
                self.first(rng, t, "male")
                if rng.random() < 0.5
                else self.names[t.name, "male"](rng)
            )
        return self.names[t.name, "family"](rng)

    def phone(self, rng: random.Random, t: Tradition) -> str:
        lead = "7" if t.phone_code != "255" or rng.random() < 0.6 else "6"
        return f"{lead}{below(rng, 90_000_000) + 10_000_000}"

    def person(self, rng: random.Random) -> Person:
        t = self.tradition(rng)
        sex = "F" if rng.random() < 0.62 else "M"  # most reported victims are women and girls
        given = self.given(rng, t, sex)
        father_given = self.first(rng, t, "male")
        if t.father_naming:
            family, father_family = father_given, self.family(rng, t)
        else:
            family = father_family = self.family(rng, t)
        mother = (self.first(rng, t, "female"), self.family(rng, t))
        district = self.names[t.name, "district"](rng)
        villages = self.villages[district]
        missing_since = REFERENCE_DATE - timedelta(days=below(rng, 10 * 365 - 30) + 30)
        age = max(6, min(45, int(rng.gauss(19, 6))))
        birth = missing_since - timedelta(days=age * 365 + below(rng, 365))
        return Person(t, sex, given, family, father_given, father_family, mother, birth,
                       district, choice(rng, villages), self.phone(rng, t),
                       choice(rng, t.languages), missing_since)  # fmt: skip

    def namesake(self, rng: random.Random, of: Person) -> Person:
        """A different person with the same names and district and a birth year within two."""
        other = self.person(rng)
        t = of.tradition
        birth = date(of.birth.year + rng.randint(-2, 2), rng.randint(1, 12), rng.randint(1, 28))
        since = of.missing_since + timedelta(days=rng.randint(-365, 365))
        since = min(REFERENCE_DATE, max(since, birth + timedelta(days=6 * 365)))
        village = of.village if rng.random() < 0.5 else choice(rng, self.villages[of.district])
        # In father-naming traditions the shared family name is the father's given name.
        father_given = of.father_given if t.father_naming else other.father_given
        father_family = other.father_family if t.father_naming else of.family
        mother = (self.first(rng, t, "female"), self.family(rng, t))
        return Person(t, of.sex, of.given, of.family, father_given, father_family, mother,
                       birth, of.district, village, self.phone(rng, t), other.languages,
                       since)  # fmt: skip

    def sibling(self, rng: random.Random, of: Person) -> Person:
        """A brother or sister: same family, parents, village and family phone."""
        sex = "F" if rng.random() < 0.62 else "M"
        given = self.given(rng, of.tradition, sex)
        while given[0] == of.given[0]:
            given = self.given(rng, of.tradition, sex)
        gap = choice(rng, (-1, 1)) * rng.randint(1, 6) * 365 + rng.randint(-100, 100)
        birth = min(of.birth + timedelta(days=gap), of.missing_since - timedelta(days=6 * 365))
        return Person(of.tradition, sex, given, of.family, of.father_given, of.father_family,
                       of.mother, birth, of.district, of.village, of.phone, of.languages,
                       of.missing_since + timedelta(days=rng.randint(-30, 30)))  # fmt: skip


# --- writing a person into a register ---------------------------------------------------------


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = 1 + below(rng, len(word) - 1)  # registers rarely get the first letter wrong
    kind = rng.random()
    if kind < 0.35:
        return word[:i] + choice(rng, NEIGHBOUR_LETTERS) + word[i + 1 :]
    if kind < 0.6:
        return word[:i] + word[i + 1 :]
    if kind < 0.8:
        return word[:i] + word[i] + word[i:]
    if i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i]
