"""Where districts are: the gazetteer behind "nearest district first" in directory search.

The data is node/data/districts.csv (extendable with <home>/districts.csv; the file says how).
Names are compared after matching's place normalisation, so "Lunga-Lunga" finds "Lunga Lunga".
Distances are great-circle distances between centroids: rough, but enough to put Msambweni
before Nairobi for someone in Lunga Lunga.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from matching import Lexicon
from matching.normalise import place_name
from node.errors import NodeError

HOME_FILE = "districts.csv"
COLUMNS = ["country", "district", "parent", "lat", "lon"]


class GazetteerError(NodeError):
    """The districts file cannot be read."""

    exit_code = 2


@dataclass(frozen=True)
class District:
    country: str
    name: str
    parent: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Gazetteer:
    """Districts by normalised name; one name may be a district in several countries."""

    lexicon: Lexicon
    by_key: dict[str, tuple[District, ...]]
    # The normalised form of each name looked up so far. Every sync round computes the
    # statistics shared with each peer, looking up every record's district: normalising the
    # same few hundred names again was 0.5 s a round per peer at 6,000 records.
    _keys: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def key(self, name: str | None) -> str | None:
        """The normalised form two spellings of one place share."""
        if not name:
            return None
        if name not in self._keys:
            self._keys[name] = place_name(name, self.lexicon)
        return self._keys[name]

    def find(self, name: str | None, country: str | None = None) -> tuple[District, ...]:
        found = self.by_key.get(self.key(name) or "", ())
        return tuple(d for d in found if country is None or d.country == country)


def distance_km(a: District, b: District) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _parse(text: str, source: str) -> list[District]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if reader.fieldnames != COLUMNS:
        raise GazetteerError(f"{source}: the header must be {','.join(COLUMNS)}")
    districts = []
    for number, row in enumerate(reader, start=2):
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
        except (TypeError, ValueError) as err:
            raise GazetteerError(f"{source}, row {number}: lat and lon must be numbers") from err
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not row["district"]:
            raise GazetteerError(f"{source}, row {number}: needs a district and valid lat/lon")
        country = (row["country"] or "").strip().upper()
        districts.append(
            District(country, row["district"].strip(), (row["parent"] or "").strip(), lat, lon)
        )
    return districts


def load_gazetteer(lexicon: Lexicon, home_file: Path | None = None) -> Gazetteer:
    """The bundled districts, extended (and overridden per country and district) by the
    admin's file when it exists."""
    text = resources.files("node").joinpath("data", HOME_FILE).read_text(encoding="utf-8")
    districts = _parse(text, "node/data/districts.csv")
    if home_file is not None and home_file.exists():
        try:
            extra = home_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise GazetteerError(f"cannot read {home_file}: {err}") from err
        districts += _parse(extra, str(home_file))
    by_country_name: dict[tuple[str, str], District] = {}
    for d in districts:
        by_country_name[(d.country, place_name(d.name, lexicon) or "")] = d
    by_key: dict[str, list[District]] = {}
    for (_, key), d in by_country_name.items():
        by_key.setdefault(key, []).append(d)
    return Gazetteer(lexicon, {k: tuple(v) for k, v in by_key.items()})
