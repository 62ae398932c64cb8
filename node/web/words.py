"""What the pages say instead of codes: evidence sentences, agreeing key types, field values.

The matcher writes a match's evidence as English phrases joined by "; " (matching/fields.py,
matching/compare.py); a page translates each phrase. A key type such as ``pair_mph_yw`` is
shown as what agrees ("two names sound alike and birth years within a year"), built from its
components (matching.fields.components). Every phrase here has a Swahili form; tests/web/
test_i18n.py checks that, over every phrase the matcher can write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from matching.assignment import CROWDED
from matching.compare import COMPARISONS
from matching.errors import KeySetError
from matching.fields import FIELDS, components

from .i18n import catalogue

Translate = Callable[..., str]

NO_EVIDENCE = "no evidence"
# One phrase per match-key component; a name component's encoder (after ":") does not matter.
COMPONENT_WORDS = {
    "names2": "two names sound alike",
    "name1": "a name sounds alike",
    "family1": "the family name sounds alike",
    "given1": "a given name sounds alike",
    "near2": "two names alike, one a letter off",
    "year": "birth years within a year",
    "band": "ages in the same six-year band",
    "villagex": "home villages spelled alike",
    "yearx": "the same birth year",
    "date": "the same birth date",
    "village": "the same home village",
    "district": "the same home district",
    "famprefix": "the family name starts alike",
    "mother": "the mother's name sounds alike",
    "phone": "the same phone number",
    "sex": "the same sex",
}
SEX_WORDS = {"F": "female", "M": "male", "X": "other sex"}
# Problems the pages report in fixed words (node/web/app.py); those naming a value (a file, a
# line, a cell) are shown as the node wrote them.
FIXED_MESSAGES = (
    "something went wrong on this node",
    "choose a CSV or XLSX file to upload",
    "that upload is not known; upload the file again",
    "that upload is not known any more; upload the file again",
    "give a reason for retracting the record",
    "wrong user name or password",
)
# Field values that are codes: shown translated.
KIND_FIELDS = ("kind",)


def evidence_phrases() -> set[str]:
    """Every phrase the matcher may put in an evidence sentence."""
    words: Iterable[str] = (
        *(w for f in FIELDS.values() for w in f.words),
        *(w for c in COMPARISONS for w in c.words),
        NO_EVIDENCE,
        CROWDED.removeprefix("; "),
    )
    return {w for w in words if w}


def say_evidence(evidence: str | None, _: Translate) -> str:
    """An evidence sentence in the page's language, phrase by phrase."""
    if not evidence:
        return ""
    return "; ".join(_(phrase.strip()) for phrase in evidence.split(";") if phrase.strip())


def say_key(key_type: str, _: Translate) -> str:
    """What an agreeing key type means, e.g. "two names sound alike and the same home village";
    a key type of another key set (unknown components) is left out rather than shown as code."""
    try:
        parts = components(key_type)
    except KeySetError:  # a key type of another key set: say nothing rather than a code
        return ""
    phrases = [COMPONENT_WORDS.get(part.split(":")[0]) for part in parts]
    if not phrases or None in phrases:
        return ""
    return _(" and ").join(_(p) for p in phrases)


def say_keys(key_types: Iterable[str], _: Translate) -> list[str]:
    """The agreeing key types in words, each once (two key types may say the same)."""
    said = (say_key(k, _) for k in key_types)
    return list(dict.fromkeys(s for s in said if s))


def say_value(field: str, value: str | None, _: Translate) -> str:
    """A record's value as a page shows it: kinds and sex in words, everything else as is."""
    if value is None:
        return ""
    if field in KIND_FIELDS or field in ("consent_match", "consent_contact"):
        return _(value)
    if field == "sex":
        return _(SEX_WORDS.get(value, value))
    return value


def say_label(label: str, _: Translate) -> str:
    """A statistics row label: words (total, unknown, F, a status) translated; data (an age
    band, a year, a district's name) shown as it is. Also a problem's message: the fixed ones
    have Swahili (FIXED_MESSAGES); one naming a value is shown as the node wrote it."""
    return _(label) if label in catalogue("sw") else label


def words_texts() -> set[str]:
    """Every text this module may pass to the translator."""
    return {*evidence_phrases(), *COMPONENT_WORDS.values(), *SEX_WORDS.values(), " and ", "yes",
            "no", *FIXED_MESSAGES}  # fmt: skip
