"""Fixtures for matching tests: the bundled lexicon, a way to normalise a few cells, and the
sample register split into its missing and found sides with the annotated true pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching import Person, load_lexicon, normalise

SAMPLE = Path(__file__).resolve().parents[2] / "node" / "samples" / "sample-register.csv"
GOLDEN = Path(__file__).resolve().parent / "golden_keys.json"

# The sample's true pairs, from its notes column and by reading the rows side by side.
SAMPLE_TRUE_PAIRS = {
    ("KW-2024-0113", "NB-2024-0501"),  # given names in the other order
    ("KW-2024-0114", "NB-2024-0502"),  # Mohamed / Muhammad, father's name in the family name
    ("KW-2024-0115", "NB-2024-0503"),  # Ng'ombeni / Ngombeni, ages on different dates
    ("KW-2024-0116", "NB-2024-0504"),  # Abdul Rahman / Abdulrahman, day and month swapped
    ("KW-2024-0117", "NB-2024-0505"),  # given and family name swapped
    ("KW-2024-0118", "NB-2024-0506"),  # Mwana Isha / Isha, year off by one
    ("KW-2024-0119", "NB-2024-0507"),  # father's name used as family name
    ("KW-2024-0120", "NB-2024-0508"),  # Hélène / Helene
}
# A second Mohammed Ali from the same village: the register alone cannot tell him from 0114,
# so either may be suggested for NB-2024-0502; a caseworker decides.
SAMPLE_AMBIGUOUS = {("KW-2024-0121", "NB-2024-0502")}


@pytest.fixture(scope="session")
def golden_keys() -> Path:
    """The sample register's keys as the current KEYSET_VERSION makes them (make_golden.py)."""
    return GOLDEN


@pytest.fixture(scope="session")
def sample_truth() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The sample's true pairs, and the pairs a suggestion may also be (ambiguous by eye)."""
    return SAMPLE_TRUE_PAIRS, SAMPLE_AMBIGUOUS


@pytest.fixture(scope="session")
def lexicon():
    return load_lexicon()


@pytest.fixture
def person(lexicon):
    """person(given_names="…", family_name="…", …) -> a normalised Person."""

    def make(**cells: str) -> Person:
        return normalise({"ref": "R1", **cells}, lexicon)

    return make


@pytest.fixture(scope="session")
def sample_sides():
    """(missing records, found records) of the sample register, checked like an import."""
    from node.records.linking import read_canonical_records

    records = read_canonical_records(SAMPLE)
    return (
        [r for r in records if r["kind"] == "missing"],
        [r for r in records if r["kind"] == "found"],
    )
