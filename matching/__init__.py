"""Matching: normalising records, match keys, candidate pairs, Fellegi-Sunter scoring, and
explanations. Pure functions over data (see docs/design.md and docs/matching.md).

What the other packages use::

    lexicon = load_lexicon(admin_name_variants_path, admin_place_variants_path)
    person = normalise(record, lexicon)                 # a canonical record dict -> Person
    keys = match_keys(person)                           # [(key_type, value)], KEY_TYPES
    scored = score_key_candidates(own_keys, peer_keys)  # keys with opaque (blinded) tokens
    scored = plain_links(people_a, people_b)            # raw values; people_b None = dedup
"""

from .candidates import (
    MAX_BLOCK_PAIRS,
    Candidates,
    candidate_arrays,
    candidate_pairs,
    present_types,
)
from .dedup import DEDUP_THRESHOLD, dedup_links
from .errors import KeySetError, LexiconError, MatchingError
from .keys import CANDIDATE_KEY_TYPES, KEY_TYPES, KEYSET_VERSION, match_keys
from .lexicon import Lexicon, load_lexicon
from .normalise import Birth, Person
from .normalise import person as normalise
from .plain import plain_links
from .scoring import (
    DEFAULT_THRESHOLD,
    Agreement,
    KeyScorer,
    Scored,
    fit_key_scorer,
    score_candidates,
    score_key_candidates,
)

__all__ = [
    "CANDIDATE_KEY_TYPES",
    "DEDUP_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "KEYSET_VERSION",
    "KEY_TYPES",
    "MAX_BLOCK_PAIRS",
    "Agreement",
    "Birth",
    "Candidates",
    "KeyScorer",
    "KeySetError",
    "Lexicon",
    "LexiconError",
    "MatchingError",
    "Person",
    "Scored",
    "candidate_arrays",
    "candidate_pairs",
    "dedup_links",
    "fit_key_scorer",
    "load_lexicon",
    "match_keys",
    "normalise",
    "plain_links",
    "present_types",
    "score_candidates",
    "score_key_candidates",
]
