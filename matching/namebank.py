"""The name and place bank the synthetic registers draw from (matching/data/synthetic_*.txt):
naming traditions with their home districts and villages, Muslim and Christian names, spelling
variants and nicknames. Independent of the matcher's own variant lists (lexicon.py), so that the
generator does not test the matcher against itself."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["NameBank", "Tradition", "load_bank"]


@dataclass(frozen=True)
class Tradition:
    """One naming tradition with its home places (a section of synthetic_groups.txt)."""

    name: str
    weight: float
    country: str
    phone_code: str
    muslim: float
    languages: tuple[str, ...]
    family: tuple[str, ...]  # empty when the family name is the father's given name
    female: tuple[str, ...]
    male: tuple[str, ...]
    districts: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def father_naming(self) -> bool:
        return not self.family


@dataclass(frozen=True)
class NameBank:
    """Everything the generator draws from; loaded once per run by ``load_bank``."""

    traditions: tuple[Tradition, ...]
    religious: dict[str, tuple[str, ...]]  # "muslim.female", "christian.male", ...
    variants: dict[str, tuple[str, ...]]  # spelling -> other spellings of the same name or place
    nicknames: dict[str, tuple[str, ...]]


def _split(value: str, sep: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(sep) if part.strip())


def load_bank() -> NameBank:
    """Read the bank from matching/data (a few KB; cheap enough to read per run)."""
    data = resources.files("matching") / "data"
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in (data / "synthetic_groups.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current[key.strip()] = value.strip()
    religious = {
        f"{faith}.{sex}": _split(sections[faith][sex], ",")
        for faith in ("muslim", "christian")
        for sex in ("female", "male")
    }
    traditions = []
    for name, s in sections.items():
        if name in ("muslim", "christian"):
            continue
        districts = tuple(
            (key.removeprefix("district ").strip(), _split(value, ","))
            for key, value in s.items()
            if key.startswith("district ")
        )
        family = () if s["family"] == "father" else _split(s["family"], ",")
        traditions.append(
            Tradition(
                name=name,
                weight=float(s["weight"]),
                country=s["country"],
                phone_code=s["phone"],
                muslim=float(s["muslim"]),
                languages=_split(s["languages"], "|"),
                family=family,
                female=_split(s["female"], ","),
                male=_split(s["male"], ","),
                districts=districts,
            )
        )
    variants: dict[str, list[str]] = {}
    nicknames: dict[str, tuple[str, ...]] = {}
    for raw in (data / "synthetic_variants.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("nick "):
            name, _, nicks = line.removeprefix("nick ").partition("=")
            nicknames[name.strip()] = _split(nicks, ",")
            continue
        group = _split(line, "|")
        others = variants.setdefault(group[0], [])
        others.extend(g for g in group[1:] if g != group[0] and g not in others)
    return NameBank(
        tuple(traditions), religious, {k: tuple(v) for k, v in variants.items()}, nicknames
    )
