"""The word lists normalisation relies on: name and place spelling variants, honorifics,
name particles. They are data, not code, so a node admin can extend them without a release.

Bundled lists live in ``matching/data``; an admin's additions (``<home>/name_variants.txt``,
``<home>/place_variants.txt``) are passed in as paths by the node layer. A spelling added by the
admin is folded into an existing group, never renames it: the group keeps its bundled first
spelling, so an addition on one node cannot change the keys of names both nodes already share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import LexiconError
from .text import fold

BUNDLED = ("name_variants", "name_stopwords", "name_particles", "place_variants", "place_stopwords")


@dataclass(frozen=True)
class Lexicon:
    """Immutable look-up tables for normalisation; build one with ``load_lexicon``."""

    name_variants: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    place_variants: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    name_stopwords: frozenset[str] = frozenset()
    name_particles: frozenset[str] = frozenset()
    place_stopwords: tuple[tuple[str, ...], ...] = ()

    def name(self, token: str) -> str:
        return str(self.name_variants.get(token, token))

    def place(self, joined: str) -> str:
        return str(self.place_variants.get(joined, joined))

    def __reduce__(self) -> tuple[Callable[..., Lexicon], tuple[Any, ...]]:
        """Picklable (a mapping proxy is not), so worker processes can normalise in parallel."""
        return (
            _rebuild,
            (
                dict(self.name_variants),
                dict(self.place_variants),
                self.name_stopwords,
                self.name_particles,
                self.place_stopwords,
            ),
        )


def _rebuild(
    name_variants: dict[str, str],
    place_variants: dict[str, str],
    name_stopwords: frozenset[str],
    name_particles: frozenset[str],
    place_stopwords: tuple[tuple[str, ...], ...],
) -> Lexicon:
    return Lexicon(
        MappingProxyType(name_variants),
        MappingProxyType(place_variants),
        name_stopwords,
        name_particles,
        place_stopwords,
    )


def load_lexicon(name_variants: Path | None = None, place_variants: Path | None = None) -> Lexicon:
    """The bundled lists, extended by the admin's variant files when given (and existing)."""
    bundled = {name: _bundled_lines(name) for name in BUNDLED}
    name_groups = _groups(bundled["name_variants"], "name_variants.txt")
    place_groups = _groups(bundled["place_variants"], "place_variants.txt")
    if name_variants is not None and name_variants.exists():
        name_groups += _groups(_file_lines(name_variants), str(name_variants))
    if place_variants is not None and place_variants.exists():
        place_groups += _groups(_file_lines(place_variants), str(place_variants))
    return Lexicon(
        name_variants=MappingProxyType(_canonical_map(name_groups)),
        place_variants=MappingProxyType(_canonical_map(place_groups)),
        name_stopwords=frozenset(fold(w) for _, w in bundled["name_stopwords"]),
        name_particles=frozenset(fold(w) for _, w in bundled["name_particles"]),
        place_stopwords=tuple(  # longest phrase first: "sub county" before "county"
            sorted(
                {tuple(fold(w).split()) for _, w in bundled["place_stopwords"]},
                key=lambda words: (-len(words), words),
            )
        ),
    )


def _bundled_lines(name: str) -> list[tuple[int, str]]:
    try:
        text = resources.files("matching").joinpath("data", f"{name}.txt").read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LexiconError(f"the bundled list {name}.txt cannot be read ({err})") from err
    return _content_lines(text)


def _file_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LexiconError(f"{path} is not UTF-8; save it as UTF-8 text") from err
    except OSError as err:
        raise LexiconError(f"{path} cannot be read ({err.strerror})") from err
    return _content_lines(text)


def _content_lines(text: str) -> list[tuple[int, str]]:
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            lines.append((number, content))
    return lines


def _groups(lines: Iterable[tuple[int, str]], source: str) -> list[list[str]]:
    """Each line's spellings, folded and joined ("Lunga Lunga" -> "lungalunga")."""
    groups = []
    for number, line in lines:
        spellings = [fold(s).replace(" ", "") for s in line.split(",")]
        if any(not s for s in spellings) or len(spellings) < 2:
            raise LexiconError(
                f"{source} line {number}: write two or more spellings separated by commas "
                f"(got {line!r})"
            )
        groups.append(spellings)
    return groups


def _canonical_map(groups: list[list[str]]) -> dict[str, str]:
    """spelling -> the first spelling of the earliest group it belongs to (groups merge)."""
    canonical: dict[str, str] = {}
    rank: dict[str, int] = {}  # canonical spelling -> index of the group that introduced it
    for index, group in enumerate(groups):
        known = {canonical[s] for s in group if s in canonical}
        target = min(known, key=rank.__getitem__) if known else group[0]
        rank.setdefault(target, index)
        merged = known - {target}
        for spelling, current in list(canonical.items()):
            if current in merged:
                canonical[spelling] = target
        for spelling in group:
            canonical[spelling] = target
    return canonical
